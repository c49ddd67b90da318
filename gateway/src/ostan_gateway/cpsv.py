"""The catalogue in the EU's Core Public Service Vocabulary (CPSV-AP 3.2) as JSON-LD, for
catalogue harvesters. What CPSV-AP has no term for (the booklet flags, identity-card fields)
stays in the JSON API; provenance travels as ``dct:source`` on each service."""

from __future__ import annotations

from typing import Any

from ostan_kit.catalogue.entries import Organisation

BASE = "urn:ostan:"
CONTEXT = {
    "cpsv": "http://purl.org/vocab/cpsv#",
    "cv": "http://data.europa.eu/m8g/",
    "dct": "http://purl.org/dc/terms/",
    "eli": "http://data.europa.eu/eli/ontology#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dcat": "http://www.w3.org/ns/dcat#",
}


def _text(value: str, language: str = "fa") -> dict[str, str]:
    return {"@value": value, "@language": language}


def _service(entry: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@id": f"{BASE}service:{entry['slug']}",
        "@type": "cpsv:PublicService",
        "dct:identifier": entry.get("service_id") or entry["slug"],
        "dct:title": [_text(entry["title_fa"]), _text(entry["title_en"], "en")],
        "dct:description": [_text(entry.get("goal") or entry.get("description") or entry["title_fa"])],
        "cv:hasCompetentAuthority": {"@id": f"{BASE}office:{entry['office']}"},
    }
    if entry.get("documents"):
        node["cv:hasInput"] = [
            {"@type": "cv:Evidence", "dct:title": _text(document["text"])} for document in entry["documents"]
        ]
    if entry.get("outputs"):
        node["cv:produces"] = [{"@type": "cv:Output", "dct:title": _text(output["text"])} for output in entry["outputs"]]
    if entry.get("laws"):
        node["cv:hasLegalResource"] = [
            {
                "@type": "eli:LegalResource",
                "dct:title": _text(law["title"]),
                **({"eli:id_local": law["number"]} if law.get("number") else {}),
                **({"eli:date_document": law["date_jalali"]} if law.get("date_jalali") else {}),
            }
            for law in entry["laws"]
        ]
    if entry.get("access_channels"):
        node["cv:hasChannel"] = [
            {"@type": "cv:Channel", "dct:description": _text(channel["text"])} for channel in entry["access_channels"]
        ]
    if entry.get("describes"):
        node["dct:relation"] = {"@id": f"{BASE}service:{entry['describes']['slug']}"}
    if entry.get("part_of"):
        node["dct:isPartOf"] = {"@id": f"{BASE}service:{entry['part_of']['slug']}"}
    if entry.get("parent_id"):
        node["dct:isPartOf"] = {"dct:identifier": entry["parent_id"], "dct:title": _text(entry["parent_title_fa"])}
    sources = {(p["seed"], p["line_start"], p["line_end"]) for p in entry.get("provenance", {}).values()}
    node["dct:source"] = [f"seed:{seed}#L{start}-L{end}" for seed, start, end in sorted(sources)]
    return node


def catalogue_jsonld(organisation: Organisation, entries: list[dict[str, Any]]) -> dict[str, Any]:
    offices = [
        {
            "@id": f"{BASE}office:{office.slug}",
            "@type": "cv:PublicOrganisation",
            "skos:prefLabel": [_text(office.title_fa), _text(office.title_en, "en")],
        }
        for office in organisation.offices
    ]
    catalogue = {
        "@id": f"{BASE}catalogue",
        "@type": "dcat:Catalog",
        "dct:title": [_text("خدمات استانداری"), _text("Governorate services", "en")],
        "dct:hasPart": [{"@id": f"{BASE}service:{entry['slug']}"} for entry in entries],
    }
    return {"@context": CONTEXT, "@graph": [catalogue, *offices, *(_service(entry) for entry in entries)]}
