"""Case documents, kept by the SHA-256 of their content: the same file is stored once, and a
file written for a transaction that then failed is harmless (nothing points at it)."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from pathlib import Path

import puremagic

from ostan.common.v1 import case_pb2
from ostan_kit.processes.definitions import Action, ProcessDefinition
from ostan_kit.runtime.errors import FieldViolation, InvalidArgument, OutOfRange


class LocalDocumentStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, content: bytes) -> str:
        sha256 = hashlib.sha256(content).hexdigest()
        target = self.path(sha256)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            with os.fdopen(handle, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        return sha256

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()


MAX_FILENAME = 200
# Format characters a name may keep: the zero-width non-joiner and joiner Persian words need.
_JOINERS = {"\u200c", "\u200d"}


def safe_filename(name: str, fallback: str) -> str:
    """The name a document is kept under: its last path part, without control or direction
    characters, at most ``MAX_FILENAME`` characters (the extension kept); ``fallback`` when
    nothing is left."""
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(
        char for char in name if unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Co", "Cn") or char in _JOINERS
    )
    name = " ".join(name.split()).strip(" .")
    if len(name) > MAX_FILENAME:
        stem, dot, extension = name.rpartition(".")
        extension = extension[:20] if dot and stem else ""
        name = name[: MAX_FILENAME - len(extension) - 1].rstrip(" .") + "." + extension if extension else name[:MAX_FILENAME]
    return name or fallback


def sniffed_types(content: bytes) -> list[str]:
    """The media types the content's own bytes say it may be, most likely first."""
    try:
        matches = puremagic.magic_string(content)
    except (puremagic.PureError, ValueError):
        return []
    return list(dict.fromkeys(match.mime_type for match in matches if match.mime_type))


def check_document(definition: ProcessDefinition, process: str, kind: str, content_type: str, content: bytes) -> None:
    """A document's kind, type and size, checked before anything is kept. The type is the one its
    bytes show: a declared type its content does not bear out is refused."""
    rule = definition.documents.get(kind)
    if rule is None:
        raise InvalidArgument(
            f"{process} takes no document {kind!r}",
            [FieldViolation("kind", f"one of {sorted(definition.documents)}")],
        )
    if content_type not in rule.types:
        raise InvalidArgument(
            f"{kind} must be one of {rule.types}, not {content_type!r}",
            [FieldViolation("content_type", f"one of {rule.types}")],
            reason="DOCUMENT_TYPE_NOT_ALLOWED",
        )
    if len(content) > rule.max_bytes:
        raise OutOfRange(
            f"{kind} may be at most {rule.max_bytes} bytes; this one has {len(content)}",
            [FieldViolation("content", f"at most {rule.max_bytes} bytes")],
            reason="DOCUMENT_TOO_LARGE",
        )
    if not content:
        raise InvalidArgument("the document is empty", [FieldViolation("content", "is empty")])
    found = sniffed_types(content)
    if content_type not in found:
        seen = f"its content looks like {found[0]}" if found else "its content is of no type recognised"
        raise InvalidArgument(
            f"{kind} was sent as {content_type}, but {seen}",
            [FieldViolation("content", f"is not {content_type}")],
            reason="DOCUMENT_TYPE_NOT_ALLOWED",
        )


def require_documents(documents: list[case_pb2.CaseDocument], action: Action) -> None:
    """The documents an action needs are among the case's ``documents``."""
    if not action.requires_documents:
        return
    present = {document.kind for document in documents}
    missing = [kind for kind in action.requires_documents if kind not in present]
    if missing:
        raise InvalidArgument(
            f"{action.name} needs the documents {missing}",
            [FieldViolation(f"documents.{kind}", "is required before this action") for kind in missing],
        )
