"""The catalogue through the gateway: filters, pages, search, statistics, JSON-LD, bad input."""

from __future__ import annotations

import json

import pytest

from ostan_kit.runtime.registry import SERVICES
from tests.cpsv_ap import READINGS, as_graph, undefined_profile_terms, violations
from tests.e2e.conftest import all_pages

pytestmark = pytest.mark.e2e
PROBLEM = "application/problem+json"


def test_filters_and_pages_cover_every_entry_once(client):
    total = client.get("/v1/catalogue").json()["count"]
    per_service = {name: all_pages(client, "/v1/catalogue", service=name, limit=37) for name in SERVICES}
    assert sum(len(items) for items in per_service.values()) == total
    for name, items in per_service.items():
        assert {item["hosting_service"] for item in items} == {name}


@pytest.mark.parametrize(
    ("params", "check"),
    [
        ({"deputy": "civil-affairs"}, lambda e: e["deputy"] == "civil-affairs"),
        ({"office": "foreign-nationals"}, lambda e: e["office"] == "foreign-nationals"),
        ({"type": "general"}, lambda e: e["scope"] == "general"),
        ({"kind": "procedure"}, lambda e: e["kind"] == "procedure"),
        ({"has_clients": "false"}, lambda e: e["has_clients"] is False),
        ({"electronic": "start"}, lambda e: any(s["stage"] == "start" and s["electronic"] for s in e["electronic"])),
        ({"agency": "ناجا"}, lambda e: any("ناجا" in a["agency"] for a in e["agencies"])),
    ],
)
def test_each_filter(client, params, check):
    items = all_pages(client, "/v1/catalogue", limit=200, **params)
    assert items, params
    assert all(check(item) for item in items)


def test_sorting(client):
    ids = [i["service_id"] for i in all_pages(client, "/v1/catalogue", sort="-service_id", limit=200) if i["service_id"]]
    assert ids == sorted(ids, reverse=True)


def test_an_entry_by_id_in_persian_digits_or_by_slug(client):
    by_id = client.get("/v1/catalogue/۱۲۰۱۲۱۵۴۱۱۴")
    assert by_id.status_code == 200
    assert by_id.json()["slug"] == "foreign-nationals-15"
    assert client.get("/v1/catalogue/foreign-nationals-15").json() == by_id.json()


@pytest.mark.parametrize("path", ["/v1/catalogue/no-such-entry", "/v1/catalogue/99999999999"])
def test_an_unknown_entry_is_a_404_problem(client, path):
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"deputy": "nobody"}, "query.deputy"),
        ({"office": "x"}, "query.office"),
        ({"service": "mars"}, "query.service"),
        ({"type": "secret"}, "query.type"),
        ({"has_clients": "perhaps"}, "query.has_clients"),
        ({"electronic": "always"}, "query.electronic"),
        ({"sort": "price"}, "query.sort"),
        ({"limit": "0"}, "query.limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_a_malformed_filter_or_cursor_is_a_422_naming_it(client, params, field):
    answer = client.get("/v1/catalogue", params=params)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM
    assert field in {error["field"] for error in answer.json()["errors"]}


def test_a_cursor_of_another_query_is_refused(client):
    cursor = client.get("/v1/catalogue", params={"service": "urban", "limit": 5}).json()["next_cursor"]
    answer = client.get("/v1/catalogue", params={"service": "social", "cursor": cursor})
    assert answer.status_code == 422


def test_search_is_persian_aware_and_ranked(client):
    answer = client.get("/v1/catalogue/search", params={"q": "برگه خروج"}).json()
    assert answer["items"][0]["slug"] == "foreign-nationals-15"
    scores = [item["score"] for item in answer["items"]]
    assert scores == sorted(scores, reverse=True)
    variant = client.get("/v1/catalogue/search", params={"q": "برگه خروج"[::1].replace("ه", "ه\u0640")}).json()
    assert [i["slug"] for i in variant["items"]] == [i["slug"] for i in answer["items"]]
    english = client.get("/v1/catalogue/search", params={"q": "exit sheet"}).json()
    assert "foreign-nationals-15" in [item["slug"] for item in english["items"]]


@pytest.mark.parametrize(
    "q",
    ["", "\u200f\u200f", "\x01\x02", "a" * 2000, "مدارک residence ۱۲ ١٢ 12 \u202e", "' OR 1=1 --", "🙂"],
)
def test_odd_queries_get_a_clean_answer(client, q):
    answer = client.get("/v1/catalogue/search", params={"q": q})
    assert answer.status_code == 200, answer.text
    assert isinstance(answer.json()["items"], list)


def test_a_query_over_2000_characters_is_a_422(client):
    answer = client.get("/v1/catalogue/search", params={"q": "ا" * 2001})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "query.q"


def test_stats_put_table_1_beside_the_recomputed_figures(client):
    stats = client.get("/v1/catalogue/stats").json()
    assert len(stats["offices"]) == 17 and len(stats["deputies"]) == 5
    assert stats["total"]["booklet"]["services"] == 332
    foreign = next(office for office in stats["offices"] if office["slug"] == "foreign-nationals")
    assert foreign["computed"]["services"] == foreign["booklet"]["services"] == 47
    for office in stats["offices"]:
        assert not office["differs"] or office["explanations"], office["slug"]


def test_the_catalogue_as_cpsv_ap_json_ld(client):
    answer = client.get("/v1/catalogue.jsonld")
    assert answer.headers["content-type"] == "application/ld+json"
    document = json.loads(answer.content)
    assert document["@context"]["cpsv"] == "http://purl.org/vocab/cpsv#"
    services = {node["@id"] for node in document["@graph"] if node["@type"] == "cpsv:PublicService"}
    entries = all_pages(client, "/v1/catalogue", limit=200)
    assert {f"urn:ostan:service:{entry['slug']}" for entry in entries} <= services


@pytest.mark.parametrize("reading", READINGS)
def test_the_served_json_ld_conforms_to_the_official_cpsv_ap_shapes(client, reading):
    graph = as_graph(client.get("/v1/catalogue.jsonld").content)
    assert violations(graph, reading) == []
    assert undefined_profile_terms(graph) == set()


def test_the_schema_is_served(client):
    schema = client.get("/v1/catalogue/schema").json()
    assert "CatalogueEntry" in schema["$defs"]


def test_how_each_entry_runs_and_why_a_record_does_not(client):
    counts = {kind: client.get("/v1/catalogue", params={"runs_as": kind}).json()["count"]
              for kind in ("own", "generic", "record")}
    assert counts == {"own": 116, "generic": 101, "record": 174}  # the README's figures
    records = all_pages(client, "/v1/catalogue", runs_as="record", limit=200)
    assert all(item["why_record"] for item in records)
    pyrotechnics = client.get("/v1/catalogue/security-law-enforcement-09").json()
    assert (pyrotechnics["runs_as"], pyrotechnics["process"]) == ("own", "pyrotechnics-permit")
    assert "why_record" not in pyrotechnics
