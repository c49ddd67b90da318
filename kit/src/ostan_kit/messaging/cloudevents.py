"""CloudEvents 1.0 in binary mode over NATS: every attribute a ``ce-`` header, the data the payload.

Header values are percent-encoded as the NATS protocol binding asks (space, double quote, percent
and anything outside printable ASCII), so Persian text survives any header transport.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote, unquote

SPEC_VERSION = "1.0"
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')


def encode(value: str) -> str:
    return quote(value, safe=_SAFE)


def decode(value: str) -> str:
    return unquote(value)


def binary_headers(
    *,
    event_id: str,
    source: str,
    event_type: str,
    subject: str,
    time: datetime,
    content_type: str = "application/json",
    data_schema: str = "",
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The headers of one event; ``Nats-Msg-Id`` is the event id, so JetStream drops a republish."""
    attributes = {
        "ce-specversion": SPEC_VERSION,
        "ce-id": event_id,
        "ce-source": source,
        "ce-type": event_type,
        "ce-subject": subject,
        "ce-time": time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    if data_schema:
        attributes["ce-dataschema"] = data_schema
    headers = {name: encode(value) for name, value in attributes.items()}
    headers["content-type"] = content_type
    headers["Nats-Msg-Id"] = event_id
    headers.update(extra or {})
    return headers


def attributes(headers: dict[str, str]) -> dict[str, str]:
    """The CloudEvent attributes of a received message, decoded, without the ``ce-`` prefix."""
    found = {
        name[3:].lower(): decode(value)
        for name, value in headers.items()
        if name.lower().startswith("ce-")
    }
    if "content-type" in headers:
        found["datacontenttype"] = headers["content-type"]
    return found
