"""What a granted case issues: a permit, licence, card or certificate, kept as a record the
issuing service signs with its Ed25519 key (by configuration: ``OSTAN_<SERVICE>_ISSUING_KEY[_FILE]``;
a local run makes one in its state folder). The signature covers the canonical JSON of the
record, so a changed row no longer verifies; revocation is kept beside the record, not in it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from google.protobuf.descriptor import FieldDescriptor

from ostan.common.v1 import issued_pb2, options_pb2
from ostan_kit.persistence.models import CaseRow, IssuedDocumentRow
from ostan_kit.processes.definitions import ProcessDefinition
from ostan_kit.text.persian import TEHRAN, format_jalali_date, parse_jalali_date, to_jalali

ISSUING_KEY_FILE = "{service}-issuing-key.pem"


def _public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class Issuer:
    """Signs and checks the records of what a service issues."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self.private_key = private_key
        self.public_key = private_key.public_key()
        self.key_id = hashlib.sha256(_public_raw(self.public_key)).hexdigest()[:16]

    @classmethod
    def from_pem(cls, pem: bytes) -> Issuer:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as error:
            raise ValueError(f"the issuing key is not a PEM private key: {error}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the issuing key must be an Ed25519 key")
        return cls(key)

    @classmethod
    def configured(cls, value: str = "", path: Path | None = None) -> Issuer | None:
        if value and path:
            raise ValueError("give the issuing key as a value or as a file, not both")
        if path:
            return cls.from_pem(Path(path).read_bytes())
        return cls.from_pem(value.encode()) if value else None

    def sign(self, record: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(self.private_key.sign(canonical(record))).decode().rstrip("=")

    def verifies(self, record: dict[str, Any], key_id: str, signature: str) -> bool:
        if key_id != self.key_id:
            return False
        try:
            self.public_key.verify(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)), canonical(record))
        except (InvalidSignature, ValueError):
            return False
        return True

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def ensure_issuing_key(folder: Path, service: str) -> Path:
    """The local run's issuing key of ``service`` under ``folder``, made on first use."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ISSUING_KEY_FILE.format(service=service)
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.touch(mode=0o600)
        path.write_bytes(pem)
    return path


def canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _labels(definition: ProcessDefinition) -> dict[str, tuple[str, FieldDescriptor | None]]:
    """Each field's Persian label: the form's from its proto, an action's from its rule."""
    labels: dict[str, tuple[str, FieldDescriptor | None]] = {}
    for action in definition.actions:
        for name, rule in action.fields.items():
            labels[name] = (rule.title_fa or name, None)
    for field in definition.form_class().DESCRIPTOR.fields:
        labels[field.name] = (field.GetOptions().Extensions[options_pb2.label_fa] or field.name, field)
    return labels


def _shown(value: Any, field: FieldDescriptor | None) -> str:
    if field is not None and field.type == FieldDescriptor.TYPE_ENUM and isinstance(value, str):
        enum_value = field.enum_type.values_by_name.get(value)
        if enum_value is not None:
            return enum_value.GetOptions().Extensions[options_pb2.value_label_fa] or value
    if isinstance(value, list):
        return "، ".join(str(item) for item in value)
    return "" if value is None else str(value)


def build_record(
    service: str, case: CaseRow, definition: ProcessDefinition, office_title: str, now: datetime
) -> dict[str, Any]:
    """The record to sign: everything the document shows, as shown."""
    issues = definition.issues
    assert issues is not None
    labels = _labels(definition)
    fields = []
    for name in issues.fields:
        label, descriptor = labels.get(name, (name, None))
        fields.append({"name": name, "label_fa": label, "value": _shown(case.data.get(name), descriptor)})
    valid_until = str(case.data.get(issues.valid_until) or "") if issues.valid_until else ""
    if valid_until:
        day = parse_jalali_date(valid_until)
        valid_until = format_jalali_date(day)
    return {
        "code": case.code,
        "service": service,
        "process": case.process,
        "kind": issues.kind,
        "title_fa": issues.title_fa,
        "title_en": issues.title_en,
        "office": case.office,
        "office_title_fa": office_title,
        "applicant_name": case.applicant_name,
        "fields": fields,
        "issued_at": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "issued_at_jalali": to_jalali(now),
        "valid_until_jalali": valid_until,
    }


def status_of(row: IssuedDocumentRow, issuer: Issuer | None, now: datetime) -> issued_pb2.IssuedStatus:
    authentic = issuer is not None and issuer.verifies(row.record, row.key_id, row.signature)
    if not authentic:
        return issued_pb2.IssuedStatus(authentic=False, current=False, state="not-authentic")
    if row.revoked_at is not None:
        return issued_pb2.IssuedStatus(authentic=True, current=False, state="revoked")
    until = row.record.get("valid_until_jalali")
    if until:
        if parse_jalali_date(until) < now.astimezone(TEHRAN).date():
            return issued_pb2.IssuedStatus(authentic=True, current=False, state="expired")
    return issued_pb2.IssuedStatus(authentic=True, current=True, state="valid")


def issued_message(row: IssuedDocumentRow) -> issued_pb2.IssuedDocument:
    record = row.record
    message = issued_pb2.IssuedDocument(
        code=record["code"],
        service=record["service"],
        process=record["process"],
        kind=record["kind"],
        title_fa=record["title_fa"],
        title_en=record.get("title_en", ""),
        office=record["office"],
        office_title_fa=record.get("office_title_fa", ""),
        applicant_name=record.get("applicant_name", ""),
        fields=[issued_pb2.IssuedField(**field) for field in record["fields"]],
        issued_at_jalali=record["issued_at_jalali"],
        valid_until_jalali=record.get("valid_until_jalali", ""),
        key_id=row.key_id,
        signature=row.signature,
        revoked_reason=row.revoked_reason,
        signed_record_json=canonical(record).decode(),
    )
    message.issued_at.FromDatetime(row.issued_at.astimezone(UTC) if row.issued_at.tzinfo else row.issued_at)
    if row.revoked_at is not None:
        message.revoked_at.FromDatetime(row.revoked_at)
    return message
