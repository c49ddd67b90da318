"""Search, listing and statistics over the real catalogue data, without servers."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ostan_gateway.listing import Filters, decode_cursor, encode_cursor, sort_entries
from ostan_gateway.problems import Problem
from ostan_gateway.search import SearchIndex, query_terms
from ostan_gateway.stats import COLUMNS, table1
from ostan_kit.catalogue.entries import load_catalogue, load_organisation
from ostan_kit.runtime.registry import SERVICES
from ostan_kit.text.persian import ZWNJ
from tests.conftest import service_package

ENTRIES = [
    entry.model_dump(mode="json")
    for name in SERVICES
    for entry in load_catalogue(service_package(name) / "catalogue")
]
INDEX = SearchIndex(ENTRIES)
TITLED = [entry for entry in ENTRIES if entry["kind"] == "sub-service"]


def slugs(query: str) -> list[str]:
    return [entry["slug"] for _, entry in INDEX.search(query_terms(query))]


def test_a_title_finds_its_entry_first():
    assert slugs("صدور برگه خروج از کشور اتباع خارجی")[0] == "foreign-nationals-15"


def test_title_beats_goal_beats_documents():
    scores = {entry["slug"]: score for score, entry in INDEX.search(query_terms("پروانه"))}
    in_title = [s for s in scores if "پروانه" in next(e for e in ENTRIES if e["slug"] == s)["title_fa"]]
    others = [s for s in scores if s not in in_title]
    assert in_title and others
    assert min(scores[s] for s in in_title) > max(scores[s] for s in others)


def test_english_titles_are_searchable():
    assert "foreign-nationals-15" in slugs("exit sheet")


def test_an_eleven_digit_id_in_persian_digits_finds_its_entry():
    assert slugs("۱۲۰۱۲۱۵۴۱۱۴") == ["foreign-nationals-15"]


def test_a_space_typed_for_a_zwnj_before_an_affix_finds_the_same():
    assert slugs("سازمان های مردم‌نهاد") == slugs("سازمان‌های مردم‌نهاد") == slugs("سازمانهای مردمنهاد")
    assert query_terms("می شود") == query_terms("می‌شود") == query_terms("میشود")


@pytest.mark.parametrize("query", ["", "   ", "\u200f\u200e", "\x00\x07", "ـــ", "،؛؟"])
def test_queries_without_text_find_nothing(query):
    assert query_terms(query) == []
    assert slugs(query) == []


def test_a_long_mixed_script_query_is_answered():
    assert isinstance(slugs(("residence مدارک ۱۲ \u200f" * 200)[:2000]), list)


def _variant(text: str, data: st.DataObject) -> str:
    """The same words as a person might type them: Arabic letters, ZWNJ or none, digit script."""
    if data.draw(st.booleans()):
        text = text.replace("ی", "ي").replace("ک", "ك")
    if data.draw(st.booleans()):
        text = text.replace(ZWNJ, "")
    digits = data.draw(st.sampled_from(["0123456789", "۰۱۲۳۴۵۶۷۸۹", "٠١٢٣٤٥٦٧٨٩"]))
    text = text.translate(str.maketrans("0123456789۰۱۲۳۴۵۶۷۸۹", digits + digits))
    if data.draw(st.booleans()):
        text = text.replace("ا", "ا\u064e", 1)  # a diacritic
    return text


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from(TITLED), st.data())
def test_search_finds_the_same_entries_whatever_the_variant(entry, data):
    expected = slugs(entry["title_fa"])
    assert entry["slug"] in expected
    assert slugs(_variant(entry["title_fa"], data)) == expected


def test_filters_combine():
    chosen = Filters(service="urban", type="exclusive", has_clients=True)
    matching = [entry for entry in ENTRIES if chosen.matches(entry)]
    assert matching
    assert all(e["hosting_service"] == "urban" and e["scope"] == "exclusive" and e["has_clients"] for e in matching)


def test_sort_orders():
    by_title = sort_entries(ENTRIES, "title")
    assert [e["slug"] for e in sort_entries(ENTRIES, "-title")] == [e["slug"] for e in reversed(by_title)]
    with_ids = [e["service_id"] for e in sort_entries(ENTRIES, "service_id") if e["service_id"]]
    assert with_ids == sorted(with_ids)


def test_cursors_round_trip_and_refuse_other_queries():
    query = {"service": "urban"}
    assert decode_cursor(encode_cursor(50, query), query) == 50
    for bad in ["%%%", "eyJvIjotMX0", encode_cursor(50, {"service": "social"})]:
        with pytest.raises(Problem) as caught:
            decode_cursor(bad, query)
        assert caught.value.status == 422
        assert caught.value.extensions["errors"][0]["field"] == "cursor"


def test_table1_is_recomputed_and_every_difference_is_explained(capsys):
    stats = table1(load_organisation(), ENTRIES)
    lines = [f"{'office':<34} {'computed (S/E/G/Sh/C)':<24} {'booklet':<22} differs"]
    for office in stats["offices"]:
        computed = "/".join(str(office["computed"][c]) for c in COLUMNS)
        booklet = "/".join(str(office["booklet"][c]) for c in COLUMNS)
        lines.append(f"{office['slug']:<34} {computed:<24} {booklet:<22} {','.join(office['differs'])}")
        if office["differs"]:
            assert office["explanations"], f"{office['slug']} differs from Table 1 without a recorded reason"
    with capsys.disabled():
        print("\nTable 1, recomputed beside the booklet's:\n" + "\n".join(lines))
    matching = [office["slug"] for office in stats["offices"] if not office["differs"]]
    assert len(matching) >= 10


def test_the_rendered_pages_a_snapshot_keeps_stay_within_their_byte_budget(monkeypatch):
    from ostan_gateway import catalogue

    monkeypatch.setattr(catalogue, "PAGE_CACHE_BYTES", 1000)
    snap = catalogue.Snapshot(None, [], {}, 0.0)  # type: ignore[arg-type]
    renders = []

    def page(number: int) -> bytes:
        renders.append(number)
        return b"x" * 300

    for number in range(10):
        assert snap.rendered(("page", number), lambda n=number: page(n)) == b"x" * 300
        assert sum(map(len, snap._pages.values())) <= 1000
    snap.rendered(("page", 9), lambda: page(99))  # kept: not rendered again
    assert renders == list(range(10))
