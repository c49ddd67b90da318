"""The booklet's Table 1 recomputed from the catalogue, beside the figures the booklet prints.

Only booklet rows count (kind ``sub-service``); where a figure differs, the discrepancies the
data records on that office's entries say why.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ostan_kit.catalogue.entries import Organisation

COLUMNS = ("services", "exclusive", "general", "shared", "with_clients")
_EXPLAINING = {"contradiction", "missing-rows", "scrambled-table", "shifted-flags", "ambiguous"}


def _count(entries: list[dict[str, Any]]) -> dict[str, int]:
    scopes = Counter(entry.get("scope", "unknown") for entry in entries)
    return {
        "services": len(entries),
        "exclusive": scopes["exclusive"],
        "general": scopes["general"],
        "shared": scopes["shared"],
        "with_clients": sum(1 for entry in entries if entry.get("has_clients") is True),
        "clients_unknown": sum(1 for entry in entries if entry.get("has_clients") is None),
        "scope_unknown": scopes["unknown"],
    }


def _row(unit: Any, entries: list[dict[str, Any]], explain: bool) -> dict[str, Any]:
    computed = _count(entries)
    booklet = unit.table1.model_dump()
    row: dict[str, Any] = {
        "slug": unit.slug,
        "title_fa": unit.title_fa,
        "title_en": unit.title_en,
        "computed": computed,
        "booklet": booklet,
        "differs": [column for column in COLUMNS if computed[column] != booklet[column]],
        "booklet_source": unit.source.model_dump(),
    }
    if unit.hosting_service:
        row["hosting_service"] = unit.hosting_service
    if explain:
        row["explanations"] = [
            {"entry": entry["slug"], "kind": d["kind"], "field": d.get("field", ""), "description": d["description"]}
            for entry in entries
            for d in entry.get("discrepancies", [])
            if d["kind"] in _EXPLAINING and d.get("field") in ("office", "scope", "has_clients")
        ]
    return row


def table1(organisation: Organisation, entries: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [entry for entry in entries if entry["kind"] == "sub-service"]
    by_office: dict[str, list[dict[str, Any]]] = {office.slug: [] for office in organisation.offices}
    for entry in rows:
        by_office.setdefault(entry["office"], []).append(entry)
    offices = [_row(office, by_office[office.slug], explain=True) for office in organisation.offices]
    deputies = [
        _row(
            deputy,
            [e for office in organisation.offices if office.deputy == deputy.slug for e in by_office[office.slug]],
            explain=False,
        )
        for deputy in organisation.deputies
    ]
    total = _count(rows)
    booklet_total = {column: sum(d.table1.model_dump()[column] for d in organisation.deputies) for column in COLUMNS}
    return {
        "offices": offices,
        "deputies": deputies,
        "total": {"computed": total, "booklet": booklet_total},
        "booklet_source": organisation.source.model_dump(),
    }
