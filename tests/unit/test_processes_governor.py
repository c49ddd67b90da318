"""The governor service's own processes: the public complaint against a provincial agency
(seed 001, service 10012169101, with its stage limits) and the governor's planned public audience
(seed 004 cards G-01/G-02). Each runs on the real engine and a real database, with a
controllable clock."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from ostan.governor.v1 import forms_pb2  # noqa: F401 — registers the forms
from ostan_kit.runtime.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from tests.unit.cases_support import attach, citizen, key, refusal, staff, step, written

SERVICE = "governor"
OFFICE = "performance-inspection-legal-pr"

INSPECTOR = staff("inspector-1", OFFICE, "inspector")
HEAD = staff("head-1", OFFICE, "head-of-office")
AUDIENCE = staff("audience-1", OFFICE, "audience-officer")
GOVERNOR_OFFICE = staff("gov-1", OFFICE, "governor-office")
WOMEN = staff("women-1", "women-family", "inspector")
CITIZEN = citizen("0084575948", "زهرا احمدی")
STRANGER = citizen("0067749828", "دیگری")


def due_in(engine, clock, case, days) -> bool:
    return case.state_due_at.ToDatetime(UTC) == engine.calendar.deadline(clock.now, days)


# -- the public complaint (seed 001 lines 3459-3493) --------------------------------------------

COMPLAINT = {
    "full_name": "زهرا احمدی",
    "national_code": "0084575948",
    "mobile": "۰۹۱۲۱۲۳۴۵۶۷",
    "agency": "اداره کل راه و شهرسازی استان",
    "subject": "عدم پاسخگویی به درخواست",
    "description": "درخواست اینجانب پس از سه ماه بی پاسخ مانده است.",
}


def test_each_stage_limit_sits_on_the_state_the_source_gives_it(book):
    complaint = book.latest["public-complaint"]
    limits = {name: state.sla_days for name, state in complaint.states.items() if state.sla_days}
    assert limits == {
        "initial-review": 5,  # line 3470
        "inadmissible-answer": 3,  # line 3474
        "correspondence": 5,  # line 3476, correspondence
        "inspecting": 15,  # line 3476, inspection
        "awaiting-answer": 10,  # line 3478, the agency's answer
        "reporting": 10,  # line 3478, the inspection report
        "answering": 3,  # line 3480
    }
    assert complaint.sla_days == 5 + 5 + 15 + 10 + 3
    assert complaint.catalogue == ["performance-inspection-legal-pr-05"]


async def admitted(engine, clock):
    case = (await engine.start(CITIZEN, "10012169101", COMPLAINT, key())).message
    assert (case.process, case.state, case.assigned_role) == ("public-complaint", "initial-review", "inspector")
    assert due_in(engine, clock, case, 5)
    case = await engine.get(INSPECTOR, case.code)
    with pytest.raises(InvalidArgument, match="evidence"):  # filed «با ارائه مستندات مربوطه», line 3468
        await step(engine, INSPECTOR, case, "admit")
    case = await attach(engine, CITIZEN, case, "evidence")
    case = await step(engine, INSPECTOR, await engine.get(INSPECTOR, case.code), "admit")
    assert case.state == "correspondence" and due_in(engine, clock, case, 5)
    return case


async def test_an_admitted_complaint_is_answered_from_the_agencys_reply(engine, clock):
    case = await admitted(engine, clock)
    case = await step(engine, INSPECTOR, case, "send-letters", letters_to=["اداره کل راه و شهرسازی"])
    assert case.state == "awaiting-answer" and due_in(engine, clock, case, 10)
    case = await step(engine, INSPECTOR, case, "record-agency-answer", agency_answer="درخواست در دست اقدام است")
    assert case.state == "answering" and due_in(engine, clock, case, 3)
    with pytest.raises(InvalidArgument) as caught:
        await step(engine, INSPECTOR, case, "send-answer")
    assert "rule written-answer" in refusal(caught) and "source: seed 001 line 3480" in refusal(caught)
    case = await step(engine, INSPECTOR, case, "send-answer", answer="پاسخ دستگاه پیوست است")
    assert (case.state, case.assigned_role) == ("answered", "applicant")
    closed = await step(engine, CITIZEN, await engine.get(CITIZEN, case.code), "accept-answer")
    assert (closed.state, closed.outcome) == ("closed", "delivered")
    assert [h.event for h in await engine.history(INSPECTOR, case.code) if h.event != "document-attached"] == [
        "submitted", "admit", "send-letters", "record-agency-answer", "send-answer", "accept-answer",
    ]


async def test_an_inspected_complaint_and_the_complainants_objection(engine, clock):
    case = await admitted(engine, clock)
    case = await step(engine, INSPECTOR, case, "send-letters", letters_to=["اداره کل"])
    with pytest.raises(InvalidArgument):  # an inspection says why it is needed
        await step(engine, INSPECTOR, case, "order-inspection")
    case = await step(engine, INSPECTOR, case, "order-inspection", "پاسخ دستگاه قانع کننده نیست")
    assert case.state == "inspecting" and due_in(engine, clock, case, 15)
    case = await step(engine, INSPECTOR, case, "finish-inspection")
    assert case.state == "reporting" and due_in(engine, clock, case, 10)
    with pytest.raises(InvalidArgument, match="inspection-report"):
        await step(engine, INSPECTOR, case, "file-inspection-report")
    case = await attach(engine, INSPECTOR, case, "inspection-report")
    case = await step(engine, INSPECTOR, case, "file-inspection-report")
    case = await step(engine, INSPECTOR, case, "send-answer", answer="نتیجه بازرسی")
    with pytest.raises(PermissionDenied):  # only the complainant objects
        await step(engine, INSPECTOR, case, "object", "x")
    with pytest.raises(InvalidArgument):  # and says why
        await step(engine, CITIZEN, case, "object")
    objected = await step(engine, CITIZEN, case, "object", "به پاسخ اعتراض دارم و به مراجع بالاتر مراجعه می کنم")
    assert (objected.state, objected.outcome) == ("objected", "closed")


async def test_a_complaint_not_admitted_gets_a_written_answer(engine, clock):
    case = (await engine.start(INSPECTOR, "public-complaint", COMPLAINT, key())).message
    case = await step(engine, INSPECTOR, case, "not-admit", reason="موضوع در صلاحیت دفتر بازرسی نیست")
    assert case.state == "inadmissible-answer" and due_in(engine, clock, case, 3)
    before = await written(engine)
    with pytest.raises(InvalidArgument) as caught:
        await step(engine, INSPECTOR, case, "send-inadmissibility-answer")
    assert "rule written-answer" in refusal(caught) and "source: seed 001 line 3474" in refusal(caught)
    assert await written(engine) == before
    case = await step(engine, INSPECTOR, case, "send-inadmissibility-answer", answer="شکایت قابل رسیدگی نیست")
    assert (case.state, case.outcome) == ("not-admitted", "refused")


async def test_a_complaint_must_name_the_agency_and_be_written(engine):
    for missing, rule, source in (
        ("agency", "agency-named", "seed 001 lines 3461-3462"),
        ("description", "complaint-in-writing", "seed 001 line 3468"),
    ):
        with pytest.raises(InvalidArgument) as caught:
            await engine.start(CITIZEN, "public-complaint", {**COMPLAINT, missing: ""}, key())
        assert f"rule {rule}" in refusal(caught) and f"source: {source}" in refusal(caught)
        assert caught.value.violations[0].field == f"data.{missing}"
    assert await written(engine) == 0


async def test_a_complaint_is_corrected_or_withdrawn_and_seen_only_by_its_parties(engine, clock):
    case = (await engine.start(CITIZEN, "public-complaint", COMPLAINT, key())).message
    with pytest.raises(NotFound):
        await engine.get(STRANGER, case.code)
    with pytest.raises(NotFound):  # the women and family office is another office of the service
        await engine.get(WOMEN, case.code)
    case = await step(engine, INSPECTOR, case, "request-correction", "مستندات را پیوست کنید")
    assert (case.state, case.assigned_role) == ("correction-requested", "applicant")
    clock.now += timedelta(days=1)
    case = await step(engine, CITIZEN, case, "resubmit")
    assert case.state == "initial-review" and due_in(engine, clock, case, 5)
    case = await step(engine, CITIZEN, case, "withdraw")
    assert case.outcome == "withdrawn"
    with pytest.raises(FailedPrecondition):
        await step(engine, INSPECTOR, case, "admit")


async def test_an_initial_review_past_its_five_days_escalates_to_the_head_of_office(engine, clock):
    case = (await engine.start(CITIZEN, "public-complaint", COMPLAINT, key())).message
    due = case.state_due_at.ToDatetime(UTC)
    clock.now = due - timedelta(minutes=1)
    assert await engine.fire_due_timers() == 1  # the 80% warning only
    assert not (await engine.get(INSPECTOR, case.code)).breached
    clock.now = due + timedelta(minutes=1)
    assert await engine.fire_due_timers() == 1
    escalated = await engine.get(HEAD, case.code)
    assert escalated.breached and escalated.assigned_role == "head-of-office"
    events = [h.event for h in await engine.history(HEAD, case.code)]
    assert events[-2:] == ["sla-warning", "sla-breached"]


# -- the governor's public audience (seed 004 G-01 line 76, G-02 lines 145-151) -----------------

AUDIENCE_REQUEST = {
    "full_name": "زهرا احمدی",
    "national_code": "0084575948",
    "mobile": "09121234567",
    "subject": "مشکل آب شرب روستا",
    "description": "آب شرب روستای ما هفته‌ای دو روز قطع است.",
    "agency": "شرکت آب و فاضلاب روستایی",
}


async def before_governor(engine):
    case = (await engine.start(CITIZEN, "performance-inspection-legal-pr-14", AUDIENCE_REQUEST, key())).message
    assert (case.process, case.state, case.assigned_role) == ("public-audience", "requested", "audience-officer")
    case = await step(engine, AUDIENCE, await engine.get(AUDIENCE, case.code), "fill-audience-form",
                      problems=["قطعی آب شرب"])
    assert (case.state, case.assigned_role) == ("before-governor", "governor-office")
    return case


async def test_a_public_audience_from_request_to_the_result_told(engine):
    case = await before_governor(engine)
    with pytest.raises(InvalidArgument) as caught:  # today is not ahead
        await step(engine, GOVERNOR_OFFICE, case, "schedule", audience_on="1405/01/29", managers=["مدیرعامل آبفا"])
    assert "rule scheduled-ahead" in refusal(caught) and "source: seed 004 G-01 line 54" in refusal(caught)
    with pytest.raises(InvalidArgument) as caught:  # the managers concerned attend
        await step(engine, GOVERNOR_OFFICE, case, "schedule", audience_on="1405/02/07")
    assert "rule managers-concerned-invited" in refusal(caught) and "seed 004 G-02 line 149" in refusal(caught)
    case = await step(engine, GOVERNOR_OFFICE, case, "schedule", audience_on="۱۴۰۵/۰۲/۰۷", managers=["مدیرعامل آبفا"])
    assert (case.state, case.assigned_role) == ("scheduled", "audience-officer")
    with pytest.raises(InvalidArgument) as caught:
        await step(engine, AUDIENCE, case, "reschedule", "تداخل با جلسه شورا", audience_on="1405/01/20")
    assert "rule scheduled-ahead" in refusal(caught)
    case = await step(engine, AUDIENCE, case, "reschedule", "تداخل با جلسه شورا", audience_on="1405/02/14")
    with pytest.raises(InvalidArgument) as caught:
        await step(engine, AUDIENCE, case, "hold-audience", orders=[{"order": "رفع قطعی تا پایان ماه"}])
    assert "rule order-names-manager" in refusal(caught) and "seed 004 G-02 line 150" in refusal(caught)
    orders = [{"manager": "مدیرعامل آبفا", "order": "رفع قطعی تا پایان ماه"}]
    case = await step(engine, AUDIENCE, case, "hold-audience", orders=orders)
    assert (case.state, case.assigned_role) == ("following-up", "audience-officer")
    case = await step(engine, AUDIENCE, case, "report-result", result="خط انتقال تعمیر شد")
    assert (case.state, case.outcome) == ("done", "delivered")
    assert (await engine.get(CITIZEN, case.code)).outcome == "delivered"


async def test_a_public_audience_is_declined_corrected_or_withdrawn(engine):
    case = await before_governor(engine)
    with pytest.raises(PermissionDenied):
        await step(engine, AUDIENCE, case, "decline", reason="x")
    declined = await step(engine, GOVERNOR_OFFICE, case, "decline", reason="موضوع در حال پیگیری در دستگاه است")
    assert (declined.state, declined.outcome) == ("declined", "refused")

    other = (await engine.start(CITIZEN, "public-audience", AUDIENCE_REQUEST, key())).message
    other = await step(engine, AUDIENCE, await engine.get(AUDIENCE, other.code), "request-correction", "نشانی روستا؟")
    assert other.assigned_role == "applicant"
    other = await step(engine, CITIZEN, other, "resubmit")
    assert other.state == "requested"
    other = await step(engine, CITIZEN, other, "withdraw")
    assert other.outcome == "withdrawn"


async def test_a_form_left_before_the_governor_escalates(engine, clock):
    case = await before_governor(engine)
    assert due_in(engine, clock, case, 10)
    clock.now = case.state_due_at.ToDatetime(UTC) + timedelta(minutes=1)
    assert await engine.fire_due_timers() >= 2  # the warning and the breach (and the first state's stale timers)
    escalated = await engine.get(HEAD, case.code)
    assert escalated.breached and escalated.assigned_role == "head-of-office"


# -- the governorate's legal and judicial cases (seed 001 lines 3528-3550) ----------------------

LEGAL = staff("legal-1", OFFICE, "legal-expert")
LAWSUIT = {
    "court_case_number": "۹۸۰۹۹۸۲۸۱۰۱۰۰۰۱",
    "court": "دیوان عدالت اداری",
    "plaintiff": "شرکت نمونه",
    "subject": "ابطال مصوبه",
    "concerned_unit": "فرمانداری تاکستان",
    "received_on": "1405/01/28",
}


async def _defending(engine):
    case = (await engine.start(LEGAL, "performance-inspection-legal-pr-08", LAWSUIT, key())).message
    assert (case.definition, case.state) == ("legal-case", "registered")
    with pytest.raises(InvalidArgument, match="documents"):
        await step(engine, LEGAL, case, "request-documents", sent_to=["فرمانداری تاکستان"])
    case = await attach(engine, LEGAL, case, "petition")
    case = await step(engine, LEGAL, case, "request-documents", sent_to=["فرمانداری تاکستان"])
    return await step(engine, HEAD, case, "prepare-defence", advice="استناد به ماده ۱۲ آیین‌نامه")


async def test_a_lost_case_is_appealed_within_twenty_days_to_its_final_ruling(engine, clock):
    case = await _defending(engine)
    with pytest.raises(InvalidArgument, match="documents"):  # the brief is filed before the ruling
        await step(engine, LEGAL, case, "record-ruling", ruling_summary="x", served_on="1405/02/10", governorate_lost=True)
    case = await attach(engine, LEGAL, case, "defence-brief", "ruling")
    case = await step(engine, LEGAL, case, "record-ruling", ruling_summary="محکومیت", served_on="1405/02/10",
                      governorate_lost=True)
    case = await step(engine, LEGAL, case, "appeal")
    assert case.state_due_at.ToDatetime(UTC) == engine.calendar.deadline(clock.now, 20)  # CPC Art. 336
    case = await attach(engine, LEGAL, case, "appeal-petition")
    case = await step(engine, LEGAL, case, "file-appeal", appeal_filed_on="1405/02/20")
    assert not case.HasField("state_due_at")  # the appeal court's time is not the office's
    case = await step(engine, LEGAL, case, "record-final-ruling", final_ruling="نقض رای بدوی")
    assert (case.state, case.outcome) == ("notified", "closed")


async def test_a_won_case_is_not_appealed_and_a_case_may_need_no_defence(engine, clock):
    case = await _defending(engine)
    case = await attach(engine, LEGAL, case, "defence-brief", "ruling")
    case = await step(engine, LEGAL, case, "record-ruling", ruling_summary="رد دعوا", served_on="1405/02/10",
                      governorate_lost=False)
    with pytest.raises(InvalidArgument) as caught:
        await step(engine, LEGAL, case, "appeal")
    assert "rule appeal-when-lost" in caught.value.message and "seed 001 line 3544" in caught.value.message
    assert (await step(engine, LEGAL, case, "notify-unit")).outcome == "closed"
    other = (await engine.start(LEGAL, "legal-case", LAWSUIT, key())).message
    other = await attach(engine, LEGAL, other, "petition")
    other = await step(engine, LEGAL, other, "request-documents", sent_to=["دفتر فنی"])
    with pytest.raises(InvalidArgument):
        await step(engine, HEAD, other, "no-defence-needed")
    closed = (await engine.act(HEAD, other.code, "no-defence-needed", other.version, "پاسخ لازم نیست", {}, key())).message
    assert closed.state == "no-defence-needed"


async def test_a_legal_case_left_unregistered_escalates_to_the_head_of_office(engine, clock):
    case = (await engine.start(LEGAL, "legal-case", LAWSUIT, key())).message
    clock.now += timedelta(days=4)
    assert await engine.fire_due_timers() >= 1
    overdue = await engine.get(LEGAL, case.code)
    assert overdue.breached and overdue.assigned_role == "head-of-office"


# -- interview requests (seed 004, card G-05) ---------------------------------------------------

PR_OFFICER = staff("pr-1", OFFICE, "pr-officer")
INTERVIEW = {"full_name": "زهرا احمدی", "national_code": "0084575948", "mobile": "09121234567",
             "outlet": "خبرگزاری ایرنا", "interviewee": "معاون عمرانی", "subject": "طرح‌های عمرانی ۱۴۰۵"}


async def test_an_interview_is_reviewed_planned_by_the_managers_and_held(engine, clock):
    case = (await engine.start(CITIZEN, "card-004-g-05", INTERVIEW, key())).message
    assert (case.definition, case.assigned_role) == ("interview-request", "pr-officer")
    case = await step(engine, PR_OFFICER, case, "refer-to-managers")
    with pytest.raises(InvalidArgument):
        await step(engine, HEAD, case, "schedule", interview_on="1405/02/05")
    case = await step(engine, HEAD, case, "schedule", interview_on="1405/02/05", place="سالن استانداری")
    assert (await step(engine, PR_OFFICER, case, "record-interview")).outcome == "delivered"
    case = (await engine.start(CITIZEN, "interview-request", INTERVIEW, key())).message
    assert (await step(engine, PR_OFFICER, case, "refuse", reason="موضوع محرمانه است")).outcome == "refused"
    case = (await engine.start(CITIZEN, "interview-request", INTERVIEW, key())).message
    assert (await step(engine, CITIZEN, case, "withdraw")).outcome == "withdrawn"
    late = (await engine.start(CITIZEN, "interview-request", INTERVIEW, key())).message
    clock.now += timedelta(days=4)
    assert await engine.fire_due_timers() >= 1
    overdue = await engine.get(HEAD, late.code)
    assert overdue.breached and overdue.assigned_role == "head-of-office"


# -- the Governor's office (seed 004, cards G-01, G-02, G-06) -----------------------------------

OFFICE_EXPERT = staff("gx-1", OFFICE, "office-expert")
GOVERNOR = staff("gx-gov", OFFICE, "governor")
PROTOCOL = staff("gx-prot", OFFICE, "protocol-officer")
GOV_OFFICE = staff("gx-office", OFFICE, "governor-office")


async def test_a_letter_to_the_governor_is_ordered_referred_followed_up_and_answered(engine, clock):
    letter = {"sender": "اداره کل راه و شهرسازی", "channel": "اتوماسیون اداری", "subject": "تملک اراضی"}
    for card in ("card-004-g-01", "card-004-g-02"):
        assert engine.book.by_entry[card].slug == "governor-letter"
    case = (await engine.start(OFFICE_EXPERT, "card-004-g-02", letter, key())).message
    case = await step(engine, OFFICE_EXPERT, case, "put-before-governor")
    with pytest.raises(PermissionDenied):
        await step(engine, OFFICE_EXPERT, case, "order", order="x", referred_to=["y"])
    case = await step(engine, GOVERNOR, case, "order", order="بررسی و اقدام", referred_to=["معاونت عمرانی"])
    case = await step(engine, OFFICE_EXPERT, case, "record-follow-up", note="پیگیری تلفنی")
    case = await step(engine, OFFICE_EXPERT, case, "submit-answer", answer="پاسخ معاونت عمرانی")
    assert (await step(engine, GOVERNOR, case, "sign-and-send")).outcome == "delivered"
    case = (await engine.start(OFFICE_EXPERT, "governor-letter", letter, key())).message
    with pytest.raises(InvalidArgument):
        await step(engine, OFFICE_EXPERT, case, "answer-directly")
    filed = (await engine.act(OFFICE_EXPERT, case.code, "answer-directly", case.version, "جهت اطلاع", {}, key())).message
    assert filed.outcome == "closed"
    late = (await engine.start(OFFICE_EXPERT, "governor-letter", letter, key())).message
    clock.now += timedelta(days=3)
    assert await engine.fire_due_timers() >= 1
    assert (await engine.get(OFFICE_EXPERT, late.code)).assigned_role == "supervisor"


async def test_a_delegation_visit_from_the_ministrys_request_to_its_report(engine, clock):
    visit = {"delegation": "هیأت تجاری هرات", "country": "afg", "request_letter": "وزارت امور خارجه ۱۲۳",
             "arrives_on": "1405/03/10"}
    case = (await engine.start(PROTOCOL, "card-004-g-06", visit, key())).message
    assert (case.definition, case.data["country"]) == ("delegation-visit", "AFG")
    case = await step(engine, GOV_OFFICE, case, "record-order", order="موافقت")
    case = await step(engine, PROTOCOL, case, "record-permit", permit_letter="ستاد هماهنگی ۴۵")
    case = await step(engine, PROTOCOL, case, "record-visit", visited_on="1405/03/11")
    with pytest.raises(InvalidArgument, match="documents"):
        await step(engine, PROTOCOL, case, "report", sent_to=["وزارت کشور"])
    case = await attach(engine, PROTOCOL, case, "trip-report")
    case = await step(engine, PROTOCOL, case, "report", sent_to=["وزارت کشور", "وزارت امور خارجه"])
    assert case.outcome == "delivered"
    case = (await engine.start(PROTOCOL, "delegation-visit", visit, key())).message
    assert (await step(engine, GOV_OFFICE, case, "refuse", reason="زمان مناسب نیست")).outcome == "refused"
    late = (await engine.start(PROTOCOL, "delegation-visit", visit, key())).message
    clock.now += timedelta(days=4)
    assert await engine.fire_due_timers() >= 1
    assert (await engine.get(PROTOCOL, late.code)).breached
