"""The service's hash-chained audit log: append in the change's transaction, verify from the command
line (``python -m ostan_kit.audit verify --database-url …``)."""

from ostan_kit.audit.chain import AuditChain, Broken, append, record_hash, verify

__all__ = ["AuditChain", "Broken", "append", "record_hash", "verify"]
