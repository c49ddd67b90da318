"""Filtering, sorting and cursor pagination of catalogue entries."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from ostan_gateway.problems import Problem
from ostan_kit.text.persian import search_key

Scope = Literal["exclusive", "general", "shared", "unknown"]
Kind = Literal["service", "sub-service", "process", "procedure", "service-card"]
Stage = Literal["inform", "start", "process", "deliver"]
RunsAs = Literal["own", "generic", "record"]
SortKey = Literal["slug", "-slug", "title", "-title", "service_id", "-service_id", "office", "-office"]

T = TypeVar("T")

_SORT_FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "slug": lambda entry: entry["slug"],
    "title": lambda entry: (search_key(entry["title_fa"]), entry["slug"]),
    # Entries without a booklet ID sort last, in slug order.
    "service_id": lambda entry: (entry.get("service_id") or "~", entry["slug"]),
    "office": lambda entry: (entry["office"], entry.get("booklet_row") or 0, entry["slug"]),
}


@dataclass(frozen=True)
class Filters:
    deputy: str | None = None
    office: str | None = None
    service: str | None = None
    type: Scope | None = None
    kind: Kind | None = None
    has_clients: bool | None = None
    electronic: Stage | None = None
    agency: str | None = None
    runs_as: RunsAs | None = None

    def as_query(self) -> dict[str, Any]:
        """The filters by name, for a cursor's query (``dataclasses.asdict`` deep-copies each value)."""
        return dict(vars(self))

    def matches(self, entry: dict[str, Any]) -> bool:
        if self.deputy and entry["deputy"] != self.deputy:
            return False
        if self.office and entry["office"] != self.office:
            return False
        if self.service and entry["hosting_service"] != self.service:
            return False
        if self.type and entry.get("scope", "unknown") != self.type:
            return False
        if self.kind and entry["kind"] != self.kind:
            return False
        if self.has_clients is not None and entry.get("has_clients") is not self.has_clients:
            return False
        if self.electronic and not any(
            stage["stage"] == self.electronic and stage.get("electronic") for stage in entry.get("electronic", [])
        ):
            return False
        if self.runs_as and entry.get("runs_as") != self.runs_as:
            return False
        if self.agency:
            wanted = search_key(self.agency)
            if not any(wanted in search_key(agency["agency"]) for agency in entry.get("agencies", [])):
                return False
        return True


NO_FILTERS = Filters()


def sort_entries(entries: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    descending = sort.startswith("-")
    return sorted(entries, key=_SORT_FIELDS[sort.lstrip("-")], reverse=descending)


def _fingerprint(query: dict[str, Any]) -> str:
    canonical = json.dumps(query, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def encode_cursor(offset: int, query: dict[str, Any]) -> str:
    raw = json.dumps({"o": offset, "q": _fingerprint(query)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, query: dict[str, Any]) -> int:
    """The offset a cursor carries; a malformed cursor or one of another query is a 422."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw)
        offset, fingerprint = decoded["o"], decoded["q"]
        if not isinstance(offset, int) or offset < 0:
            raise ValueError(offset)
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise invalid("cursor", "is not a cursor this API gave out") from None
    if fingerprint != _fingerprint(query):
        raise invalid("cursor", "belongs to another query: keep the filters of the page it came from")
    return offset


def invalid(field: str, message: str) -> Problem:
    return Problem(422, f"{field} {message}", slug="invalid-request", errors=[{"field": field, "message": message}])


def page(entries: list[T], *, offset: int, limit: int, query: dict[str, Any]) -> tuple[list[T], str | None]:
    end = offset + limit
    return entries[offset:end], (encode_cursor(end, query) if end < len(entries) else None)
