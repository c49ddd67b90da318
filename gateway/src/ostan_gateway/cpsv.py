"""The catalogue in the EU's Core Public Service Vocabulary (CPSV-AP 3.2.0) as JSON-LD, for
catalogue harvesters. It conforms to the profile's official SHACL shapes (tests/data/cpsv-ap/).

The catalogue is a ``dcat:Dataset`` published by the governorate; each entry is a
``cpsv:PublicService`` in it (``dct:isPartOf``, the profile's use of that term). The booklet's
parent services, which are not entries of their own, appear as public services too. A service
names the one it belongs to, or the booklet entry a card describes, with ``cv:relatedService``;
a parent lists its parts with ``dct:hasPart``. What CPSV-AP has no term for (the booklet flags,
identity-card fields) stays in the JSON API. Provenance travels as ``dct:source`` IRIs naming the
seed file with an RFC 5147 line fragment (``#line=633,634`` is lines 634-634)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ostan_kit.catalogue.entries import Organisation
from ostan_kit.text.persian import parse_jalali_date

BASE = "urn:ostan:"
CATALOGUE = f"{BASE}catalogue"
GOVERNORATE = f"{BASE}governorate"
CONTEXT = {
    "cpsv": "http://purl.org/vocab/cpsv#",
    "cv": "http://data.europa.eu/m8g/",
    "dct": "http://purl.org/dc/terms/",
    "eli": "http://data.europa.eu/eli/ontology#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dcat": "http://www.w3.org/ns/dcat#",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "org": "http://www.w3.org/ns/org#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
# (entry field, CPSV-AP property, class, property holding the item's text)
PARTS = [
    ("documents", "cpsv:hasInput", "cv:Evidence", "dct:title"),
    ("outputs", "cpsv:produces", "cv:Output", "dct:title"),
    ("access_channels", "cv:hasChannel", "cv:Channel", "dct:description"),
]


def _text(value: str, language: str = "fa") -> dict[str, str]:
    return {"@value": value, "@language": language}


def _ref(iri: str) -> dict[str, str]:
    return {"@id": iri}


def service_iri(key: str) -> str:
    """A service's IRI: an entry's slug, or a parent service's booklet ID."""
    return f"{BASE}service:{key}"


def _legal_resource(law: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"@type": "eli:LegalResource", "dct:title": _text(law["title"])}
    if law.get("number"):
        node["eli:id_local"] = law["number"]
    try:  # ELI wants an xsd:date; a date printed otherwise stays in the JSON API only
        node["eli:date_document"] = {"@value": parse_jalali_date(law["date_jalali"]).isoformat(), "@type": "xsd:date"}
    except ValueError:
        pass
    return node


def _sources(entry: dict[str, Any]) -> list[dict[str, str]]:
    sources = {(p["seed"], p["line_start"], p["line_end"]) for p in entry.get("provenance", {}).values()}
    return [_ref(f"{BASE}seed:{seed}#line={start - 1},{end}") for seed, start, end in sorted(sources)]


def _service(entry: dict[str, Any], parts: list[str]) -> dict[str, Any]:
    slug = entry["slug"]
    node: dict[str, Any] = {
        "@id": service_iri(slug),
        "@type": "cpsv:PublicService",
        "dct:identifier": entry.get("service_id") or slug,
        "dct:title": [_text(entry["title_fa"]), _text(entry["title_en"], "en")],
        "dct:description": [_text(entry.get("goal") or entry.get("description") or entry["title_fa"])],
        "cv:hasCompetentAuthority": _ref(f"{BASE}office:{entry['office']}"),
        "dct:isPartOf": _ref(CATALOGUE),
    }
    for field, prop, kind, text_prop in PARTS:
        if entry.get(field):
            node[prop] = [
                {
                    "@id": f"{service_iri(slug)}/{field}/{n}",
                    "@type": kind,
                    "dct:identifier": f"{slug}/{field}/{n}",
                    text_prop: _text(item["text"]),
                }
                for n, item in enumerate(entry[field], start=1)
            ]
    if entry.get("laws"):
        node["cv:hasLegalResource"] = [_legal_resource(law) for law in entry["laws"]]
    related = [entry[tie]["slug"] for tie in ("part_of", "describes") if entry.get(tie)]
    if entry.get("parent_id"):
        related.append(entry["parent_id"])
    if related:
        node["cv:relatedService"] = [_ref(service_iri(key)) for key in related]
    if parts:
        node["dct:hasPart"] = [_ref(service_iri(key)) for key in parts]
    node["dct:source"] = _sources(entry)
    return node


def _parent_services(entries: list[dict[str, Any]], parts: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The booklet's parent services. One ID can head rows of several offices, and the booklet
    then prints its title more than once, not always alike: the first is the title, the others
    ``dct:alternative``."""
    children: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        if entry.get("parent_id"):
            children[entry["parent_id"]].append(entry)
    nodes = []
    for parent_id, rows in children.items():
        titles = {
            language: list(
                dict.fromkeys(row[f"parent_title_{language}"] for row in rows if row[f"parent_title_{language}"])
            )
            for language in ("fa", "en")
        }
        node: dict[str, Any] = {
            "@id": service_iri(parent_id),
            "@type": "cpsv:PublicService",
            "dct:identifier": parent_id,
            "dct:title": [_text(titles[language][0], language) for language in ("fa", "en") if titles[language]],
            "dct:description": [_text(titles["fa"][0])],
            "cv:hasCompetentAuthority": [
                _ref(f"{BASE}office:{office}") for office in sorted({row["office"] for row in rows})
            ],
            "dct:isPartOf": _ref(CATALOGUE),
            "dct:hasPart": [_ref(service_iri(key)) for key in parts[parent_id]],
        }
        alternatives = [_text(title, language) for language in ("fa", "en") for title in titles[language][1:]]
        if alternatives:
            node["dct:alternative"] = alternatives
        nodes.append(node)
    return nodes


def catalogue_jsonld(organisation: Organisation, entries: list[dict[str, Any]]) -> dict[str, Any]:
    governorate = organisation.governorate
    province = governorate.province
    location = f"{BASE}location:{province.iso_3166_2}"
    parts: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        if entry.get("part_of"):
            parts[entry["part_of"]["slug"]].append(entry["slug"])
        if entry.get("parent_id"):
            parts[entry["parent_id"]].append(entry["slug"])
    services = [_service(entry, parts.get(entry["slug"], [])) for entry in entries]
    services += _parent_services(entries, parts)

    def organisation_node(iri: str, slug: str, title_fa: str, title_en: str) -> dict[str, Any]:
        # foaf:Agent is what the profile's vocabulary makes every cv:PublicOrganisation; said
        # outright for consumers that do not infer it
        titles = [_text(title_fa), _text(title_en, "en")]
        return {
            "@id": iri,
            "@type": ["cv:PublicOrganisation", "foaf:Agent"],
            "dct:identifier": slug,
            "dct:title": titles,
            "skos:prefLabel": titles,
            "dct:spatial": _ref(location),
        }

    offices = [
        {
            **organisation_node(f"{BASE}office:{office.slug}", office.slug, office.title_fa, office.title_en),
            "org:subOrganizationOf": _ref(GOVERNORATE),
        }
        for office in organisation.offices
    ]
    publisher = organisation_node(GOVERNORATE, governorate.slug, governorate.title_fa, governorate.title_en)
    province_node = {
        "@id": location,
        "@type": "dct:Location",
        "dct:identifier": province.iso_3166_2,
        "skos:prefLabel": [_text(province.title_fa), _text(province.title_en, "en")],
    }
    catalogue = {
        "@id": CATALOGUE,
        "@type": "dcat:Dataset",
        "dct:title": [_text(f"خدمات {governorate.title_fa}"), _text(f"Services of the {governorate.title_en}", "en")],
        "dct:description": [
            _text(f"خدمات و فرایندهای {governorate.title_fa}، برگرفته از کتابچه خدمات و شناسنامه‌های فرایند دفاتر آن"),
            _text(
                f"The services and processes of the {governorate.title_en}, from its booklet of services "
                "and the process identity cards of its offices",
                "en",
            ),
        ],
        "dct:publisher": _ref(GOVERNORATE),
        "dct:spatial": _ref(location),
        "dct:hasPart": [_ref(node["@id"]) for node in services],
    }
    return {"@context": CONTEXT, "@graph": [catalogue, publisher, province_node, *offices, *services]}
