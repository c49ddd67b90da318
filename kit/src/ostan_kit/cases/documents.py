"""Case documents, kept by the SHA-256 of their content: the same file is stored once, and a
file written for a transaction that then failed is harmless (nothing points at it)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ostan_kit.persistence.models import CaseDocumentRow, CaseRow
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


def check_document(definition: ProcessDefinition, process: str, kind: str, content_type: str, content: bytes) -> None:
    """A document's kind, type and size, checked before anything is kept."""
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


async def require_documents(session: AsyncSession, case: CaseRow, action: Action) -> None:
    """The documents an action needs are attached to the case."""
    if not action.requires_documents:
        return
    present = set(await session.scalars(select(CaseDocumentRow.kind).where(CaseDocumentRow.case_id == case.id)))
    missing = [kind for kind in action.requires_documents if kind not in present]
    if missing:
        raise InvalidArgument(
            f"{action.name} needs the documents {missing}",
            [FieldViolation(f"documents.{kind}", "is required before this action") for kind in missing],
        )
