"""Case documents, kept by the SHA-256 of their content: the same file is stored once, and a
file written for a transaction that then failed is harmless (nothing points at it)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


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
