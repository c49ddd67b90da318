"""The web pages' own logic: the inbox's SLA countdown (on time, warning once 80% of the state's
time is used, breach once the deadline passed or the service escalated it), dates and figures as
shown, and form values typed as the process schema says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ostan_gateway.problems import Problem
from ostan_gateway.web.i18n import jalali
from ostan_gateway.web.pages import _safe_next, back_to_case, duration, form_data, form_key, share, sla

ENTERED = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
DUE = ENTERED + timedelta(hours=100)


def case(breached: bool = False, due: datetime | None = DUE) -> dict:
    def instant(value):
        return {"utc": value.isoformat().replace("+00:00", "Z") if value else None, "jalali": None}

    return {"state_entered_at": instant(ENTERED), "state_due_at": instant(due), "breached": breached}


@pytest.mark.parametrize(
    ("hours_in", "status", "hours_left"),
    [(10, "ok", 90), (79, "ok", 21), (80, "warning", 20), (99.5, "warning", 0), (101, "breach", -1)],
)
def test_the_countdown_warns_at_80_percent_and_breaches_at_the_deadline(hours_in, status, hours_left):
    shown = sla(case(), now=ENTERED + timedelta(hours=hours_in))
    assert shown == {"status": status, "hours_left": hours_left}


def test_an_escalated_case_is_a_breach_and_a_state_without_deadline_has_none():
    assert sla(case(breached=True), now=ENTERED)["status"] == "breach"
    assert sla(case(due=None), now=ENTERED) == {"status": "none", "hours_left": None}


def test_dates_are_shown_jalali_in_persian_digits():
    assert jalali("2026-03-21T08:30:00Z") == "۱۴۰۵/۰۱/۰۱ ۱۲:۰۰"
    assert jalali("2026-03-21T08:30:00Z", "en") == "1405/01/01 12:00"


@pytest.mark.parametrize(
    ("seconds", "lang", "shown"),
    [(5400, "fa", "۱٫۵ ساعت"), (3 * 86400, "fa", "۳ روز"), (5400, "en", "1.5 hours"), (129600, "en", "1.5 days")],
)
def test_the_office_page_shows_time_to_decision_in_hours_then_days(seconds, lang, shown):
    assert duration(seconds, lang) == shown


def test_the_office_page_shows_compliance_as_a_percentage():
    assert share(0.875, "fa") == "۸۸٪"
    assert share(1.0, "en") == "100%"
    assert share(None, "fa") == "—"


@pytest.mark.parametrize(
    ("typed", "sent"),
    [("۱۲", 12), ("-3", -3), ("١٠", 10), ("--5", "--5"), ("²", "²"), ("1" * 30, "1" * 30), ("دوازده", "دوازده")],
)
def test_a_whole_number_field_is_sent_as_a_number_or_as_typed_for_the_service_to_refuse(typed, sent):
    schema = {"properties": {"count": {"type": "integer"}}}
    assert form_data(schema, {"count": typed}) == {"count": sent}


@pytest.mark.parametrize(
    ("asked", "kept"),
    [("/inbox", "/inbox"), ("/cases/FN-1405-000001-3?x=1", "/cases/FN-1405-000001-3?x=1"), ("//evil.example", "/"),
     ("/\\evil.example", "/"), ("https://evil.example", "/"), ("/a\r\nSet-Cookie: x", "/"), ("", "/")],
)
def test_after_sign_in_the_page_goes_on_only_to_a_path_of_this_site(asked, kept):
    assert _safe_next(asked) == kept


async def test_a_case_form_goes_back_to_the_case_saying_what_came_of_it():
    async def done() -> None:
        return None

    async def refused() -> None:
        raise Problem(409, "the case has moved on")

    went = await back_to_case("FN-1405-000001", done(), "revoked")
    assert went.status_code == 303 and went.headers["location"] == "/cases/FN-1405-000001?notice=revoked"
    went = await back_to_case("FN-1405-000001", refused(), "revoked")
    assert went.headers["location"] == "/cases/FN-1405-000001?error=the+case+has+moved+on"


def test_a_form_sent_again_keeps_its_idempotency_key_and_a_form_without_one_gets_a_new_one():
    assert form_key({"idempotency_key": "k-1"}) == "k-1"
    assert form_key({}) != form_key({}) and len(form_key({})) == 36
