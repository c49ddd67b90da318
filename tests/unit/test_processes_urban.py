"""The urban service's own process definitions (services/urban/processes/), each walked through the
real case engine on a real database: happy path, refusals and corrections, SLA breach, and every
guard naming its rule and its source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ostan.urban.v1 import forms_pb2  # noqa: F401 — registers the forms
from ostan_kit.runtime.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from tests.unit.cases_support import breach, broken, citizen, event_subjects, staff

SERVICE = "urban"
CLERK = staff("u-clerk", "urban-councils", "clerk", name="کارشناس شهری")
HEAD = staff("u-head", "urban-councils", "head-of-office", name="رئیس دفتر شهری")
SECRETARY = staff("u-sec", "urban-councils", "secretary", name="دبیرخانه هیات")
RURAL_CLERK = staff("r-clerk", "rural-councils", "clerk", name="کارشناس روستایی")
RURAL_HEAD = staff("r-head", "rural-councils", "head-of-office", name="رئیس دفتر روستایی")
DEPUTY = staff("deputy", "rural-councils", "civil-deputy", name="معاون عمرانی")
TRAFFIC_CLERK = staff("t-clerk", "technical-transport-traffic", "clerk", name="x")
CITIZEN = citizen("0084575948")
JPEG = b"\xff\xd8\xff photo"


# -- municipal budget (seed 003 P5; booklet urban-councils-06) ----------------------------------

BUDGET = {
    "municipality": "شهرداری تاکستان",
    "budget_holder": "BUDGET_HOLDER_MUNICIPALITY",
    "fiscal_year": 1405,
    "council_resolution_number": "۱۲۳/ش",
    "council_resolution_date": "۱۴۰۴/۱۲/۱۰",
    "total_rials": "۱۲۵۰۰۰۰۰۰۰۰۰",
}


async def test_budget_from_registration_to_the_budget_system(engine, steps):
    case = await steps.start(CLERK, "urban-councils-06", BUDGET)
    assert (case.process, case.definition, case.state, case.assigned_role) == (
        "municipal-budget-approval", "municipal-budget-approval", "submitted", "clerk",
    )
    assert (await steps.start(CLERK, "card-003-p5", BUDGET)).definition == "municipal-budget-approval"
    with pytest.raises(InvalidArgument, match=r"needs the documents \['budget', 'council-resolution'\]"):
        await steps.act(CLERK, case, "start-review")
    case = await steps.attach(CLERK, case, "budget", "council-resolution")
    case = await steps.act(CLERK, case, "start-review")
    with pytest.raises(PermissionDenied):
        await steps.act(CLERK, case, "confirm", circular="بخشنامه بودجه ۱۴۰۵")
    case = await steps.act(HEAD, case, "confirm", circular="بخشنامه بودجه ۱۴۰۵")
    case = await steps.act(CLERK, case, "record-in-system", budget_system_reference="B-1405-77")
    assert (case.state, case.outcome) == ("registered", "granted")
    assert (await event_subjects(engine))[-1] == "ostan.urban.municipal-budget-approval.record-in-system"


async def test_budget_returned_to_the_council_and_resubmitted(steps):
    case = await steps.attach(CLERK, await steps.start(CLERK, "urban-councils-06", BUDGET), "budget", "council-resolution")
    case = await steps.act(CLERK, case, "start-review")
    with pytest.raises(InvalidArgument, match="needs a comment"):
        await steps.act(HEAD, case, "return-to-council", deviations=["فصل ۲"])
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(HEAD, case, "return-to-council", "مغایر با فرم‌ها")
    broken(caught, "deviations-named", "seed 003 l.204")
    case = await steps.act(HEAD, case, "return-to-council", "مغایر با فرم‌ها", deviations=["فصل ۲: اعتبارات عمرانی"])
    assert (case.state, case.assigned_role) == ("returned-to-council", "clerk")
    case = await steps.act(CLERK, case, "resubmit", amended_resolution_number="۱۳۰/ش",
                           amended_resolution_date="1405/01/20")
    case = await steps.act(CLERK, case, "start-review")
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(HEAD, case, "confirm")
    broken(caught, "checked-against-circular", "seed 003 l.203")
    assert (await steps.act(HEAD, case, "confirm", circular="بخشنامه ۱۴۰۵")).state == "confirmed"


@pytest.mark.parametrize(
    ("change", "rule", "source"),
    [
        ({"council_resolution_number": ""}, "council-approved-budget", "seed 003 l.202"),
        ({"council_resolution_date": ""}, "council-approval-date", "seed 003 l.202"),
        ({"budget_holder": "BUDGET_HOLDER_AFFILIATED_ORGANISATION"}, "organisation-named", "seed 003 l.194"),
    ],
)
async def test_budget_start_guards(steps, change, rule, source):
    with pytest.raises(InvalidArgument) as caught:
        await steps.start(CLERK, "municipal-budget-approval", {**BUDGET, **change})
    broken(caught, rule, source)


async def test_an_affiliated_organisations_budget_names_it_and_other_offices_cannot_start(steps):
    form = {**BUDGET, "budget_holder": "BUDGET_HOLDER_AFFILIATED_ORGANISATION", "organisation_name": "سازمان پارک‌ها"}
    assert (await steps.start(CLERK, "municipal-budget-approval", form)).state == "submitted"
    with pytest.raises(PermissionDenied):
        await steps.start(TRAFFIC_CLERK, "municipal-budget-approval", BUDGET)
    with pytest.raises(PermissionDenied):
        await steps.start(CITIZEN, "municipal-budget-approval", BUDGET)


async def test_budget_sla_breach_escalates(engine, clock, steps):
    case = await steps.start(CLERK, "municipal-budget-approval", BUDGET)
    await breach(engine, clock, case, 3, CLERK)


# -- local levies (seed 003 P4; booklet urban-councils-02) --------------------------------------

LEVIES = {
    "municipality": "شهرداری آبیک",
    "council_resolution_number": "۴۵",
    "council_resolution_date": "1404/11/15",
    "effective_year": 1405,
    "levy_titles": ["عوارض پذیره", "عوارض تابلو"],
}


async def _levies_in_review(steps):
    case = await steps.start(CLERK, "urban-councils-02", LEVIES)
    case = await steps.attach(CLERK, case, "levy-booklet", "council-resolution")
    return await steps.act(CLERK, case, "start-review")


async def test_levies_confirmed_and_entered_in_the_levies_system(steps):
    case = await _levies_in_review(steps)
    assert case.definition == "local-levy-approval"
    case = await steps.act(HEAD, case, "confirm")
    case = await steps.act(CLERK, case, "enter-in-levies-system", levies_system_reference="AV-9")
    assert (case.state, case.outcome) == ("in-force", "granted")


async def test_levies_returned_to_the_council_or_objected_to(steps):
    case = await _levies_in_review(steps)
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(HEAD, case, "return-to-council", "اصلاح شود", issues=[])
    broken(caught, "issues-named", "platform default")
    case = await steps.act(HEAD, case, "return-to-council", "اصلاح شود", issues=["عنوان خارج از دستورالعمل"])
    case = await steps.act(CLERK, case, "resubmit", amended_resolution_number="۴۶")
    case = await steps.act(CLERK, case, "start-review")
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(HEAD, case, "object")
    assert {v.field for v in caught.value.violations} == {"data.reason"}
    case = await steps.act(HEAD, case, "object", reason="مغایر با قانون درآمد پایدار")
    assert (case.state, case.outcome) == ("objected", "refused")
    with pytest.raises(FailedPrecondition):
        await steps.act(HEAD, case, "confirm")


async def test_levies_start_guard_and_sla(engine, clock, steps):
    with pytest.raises(InvalidArgument) as caught:
        await steps.start(CLERK, "local-levy-approval", {**LEVIES, "levy_titles": []})
    broken(caught, "levy-titles-listed", "seed 003 l.170")
    case = await _levies_in_review(steps)
    await breach(engine, clock, case, 6, CLERK)


# -- the auditor's appointment (seed 003 S2; booklet urban-councils-03) -------------------------

AUDITOR = {
    "municipality": "شهرداری قزوین",
    "audited_body": "AUDITED_BODY_MUNICIPALITY",
    "fiscal_year": 1404,
    "municipality_bill_number": "ل-۱۲",
    "council_resolution_number": "۸۸",
    "council_resolution_date": "1405/01/15",
    "audit_firm": "مؤسسه حسابرسی نمونه",
    "firm_membership_number": "۱۲۳۴",
}


async def _auditor_in_review(steps):
    case = await steps.start(CLERK, "urban-councils-03", AUDITOR)
    case = await steps.attach(CLERK, case, "council-resolution", "firm-licences")
    return await steps.act(CLERK, case, "start-review")


async def test_auditor_confirmed_and_notified(steps):
    case = await _auditor_in_review(steps)
    assert case.definition == "auditor-appointment"
    case = await steps.act(HEAD, case, "confirm")
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(CLERK, case, "notify")
    broken(caught, "municipality-notified", "seed 003 l.271")
    case = await steps.act(CLERK, case, "notify", notified_to=["شهرداری قزوین"])
    assert (case.state, case.outcome) == ("notified", "granted")


async def test_auditor_returned_to_the_council_then_refused(steps):
    case = await _auditor_in_review(steps)
    case = await steps.act(HEAD, case, "return-to-council", "مجوز مؤسسه منقضی است")
    case = await steps.act(CLERK, case, "resubmit", amended_resolution_number="۹۰")
    case = await steps.act(CLERK, case, "start-review")
    case = await steps.act(HEAD, case, "refuse", reason="مؤسسه عضو جامعه حسابرسان نیست")
    assert (case.state, case.outcome) == ("refused", "refused")


@pytest.mark.parametrize(
    ("change", "rule", "source"),
    [
        ({"municipality_bill_number": ""}, "municipality-bill", "seed 003 l.262"),
        ({"council_resolution_number": ""}, "council-chose-firm", "seed 003 l.263, l.271"),
        ({"council_resolution_date": ""}, "council-resolution-date", "seed 003 l.271"),
        ({"firm_membership_number": ""}, "firm-in-auditors-society", "seed 003 l.271"),
        ({"audited_body": "AUDITED_BODY_AFFILIATED_ORGANISATION"}, "organisation-named", "seed 003 l.230"),
    ],
)
async def test_auditor_start_guards(steps, change, rule, source):
    with pytest.raises(InvalidArgument) as caught:
        await steps.start(CLERK, "auditor-appointment", {**AUDITOR, **change})
    broken(caught, rule, source)


async def test_auditor_sla_breach(engine, clock, steps):
    case = await _auditor_in_review(steps)
    await breach(engine, clock, case, 6, CLERK)


# -- the audit report (seed 003 P6; booklet urban-councils-04) ----------------------------------

REPORT = {
    "municipality": "شهرداری قزوین",
    "audited_body": "AUDITED_BODY_MUNICIPALITY",
    "fiscal_year": 1404,
    "audit_firm": "مؤسسه حسابرسی نمونه",
    "council_letter_number": "ش-۵۵",
    "council_letter_date": "1405/01/20",
}


async def _report_in_review(steps):
    case = await steps.start(CLERK, "urban-councils-04", REPORT)
    case = await steps.attach(CLERK, case, "audit-report", "council-letter")
    return await steps.act(CLERK, case, "start-review")


async def test_audit_report_approved_and_notified(steps):
    case = await _report_in_review(steps)
    assert case.definition == "audit-report-approval"
    case = await steps.act(HEAD, case, "approve", findings_summary="بدون بند شرط")
    case = await steps.act(CLERK, case, "notify", notified_to=["شهرداری قزوین", "شورای اسلامی شهر قزوین"])
    assert (case.state, case.outcome) == ("notified", "granted")


async def test_audit_report_clarified_then_not_approved(steps):
    case = await _report_in_review(steps)
    case = await steps.act(CLERK, case, "request-clarification", "صورت‌های مالی پیوست نیست")
    assert case.state == "clarification-requested"
    case = await steps.act(CLERK, case, "resubmit")
    case = await steps.act(CLERK, case, "start-review")
    case = await steps.act(HEAD, case, "reject", reason="گزارش ناقص")
    assert (case.state, case.outcome) == ("not-approved", "refused")


@pytest.mark.parametrize(
    ("change", "rule", "source"),
    [
        ({"council_letter_number": ""}, "report-through-council", "seed 003 l.265"),
        ({"audited_body": "AUDITED_BODY_AFFILIATED_ORGANISATION"}, "organisation-named", "seed 003 l.230"),
    ],
)
async def test_audit_report_start_guards(steps, change, rule, source):
    with pytest.raises(InvalidArgument) as caught:
        await steps.start(CLERK, "audit-report-approval", {**REPORT, **change})
    broken(caught, rule, source)


async def test_audit_report_sla_breach(engine, clock, steps):
    case = await steps.start(CLERK, "audit-report-approval", REPORT)
    await breach(engine, clock, case, 3, CLERK)


# -- council membership card (booklet urban-councils-13) ----------------------------------------

CARD = {
    "full_name": "علی محمدی",
    "national_code": "0084575948",
    "father_name": "حسن",
    "council_name": "شورای اسلامی شهر قزوین",
    "council_level": "COUNCIL_LEVEL_CITY",
    "membership": "COUNCIL_MEMBERSHIP_MEMBER",
    "term_number": 7,
    "mobile": "09121234567",
}


async def _card_in_review(steps):
    case = await steps.start(CLERK, "urban-councils-13", CARD)
    case = await steps.attach(CLERK, case, "photo", content_type="image/jpeg", content=JPEG)
    case = await steps.attach(CLERK, case, "credential")
    return await steps.act(CLERK, case, "start-review")


async def test_membership_card_issued(steps):
    case = await _card_in_review(steps)
    assert (case.definition, case.applicant_id) == ("council-membership-card", "0084575948")
    case = await steps.act(HEAD, case, "approve")
    case = await steps.act(CLERK, case, "issue", card_number="Q-7-0012")
    assert (case.state, case.outcome) == ("issued", "delivered")


async def test_membership_card_corrected_then_refused(steps):
    case = await _card_in_review(steps)
    case = await steps.act(CLERK, case, "request-correction", "عکس واضح نیست")
    case = await steps.act(CLERK, case, "resubmit")
    case = await steps.act(CLERK, case, "start-review")
    case = await steps.act(HEAD, case, "refuse", reason="عضو شورا نیست")
    assert (case.state, case.outcome) == ("refused", "refused")


async def test_membership_card_guards_fields_and_sla(engine, clock, steps):
    with pytest.raises(InvalidArgument) as caught:
        await steps.start(CLERK, "council-membership-card", {**CARD, "term_number": 0})
    broken(caught, "term-number-positive", "platform default")
    with pytest.raises(InvalidArgument) as caught:
        await steps.start(CLERK, "council-membership-card", {**CARD, "national_code": "0084575949"})
    assert "data.national_code" in {v.field for v in caught.value.violations}
    case = await steps.start(CLERK, "council-membership-card", CARD)
    with pytest.raises(InvalidArgument, match="photo"):
        await steps.act(CLERK, case, "start-review")
    await breach(engine, clock, case, 3, CLERK)


# -- municipality grading (seed 003 P8/S3; booklet urban-councils-08) ---------------------------

GRADE = {
    "municipality": "شهرداری الوند",
    "current_grade": 6,
    "requested_grade": 7,
    "grading_system_reference": "GRAD-1405-31",
}


async def _grading_in_review(steps):
    case = await steps.start(CLERK, "urban-councils-08", GRADE)
    return await steps.act(CLERK, case, "start-review")


async def test_grade_upgrade_through_imo_to_the_ministers_notification(engine, steps):
    case = await _grading_in_review(steps)
    assert case.definition == "municipality-grading"
    assert (await steps.start(CLERK, "card-003-s3", GRADE)).definition == "municipality-grading"
    with pytest.raises(InvalidArgument, match="upgrade-form"):
        await steps.act(HEAD, case, "send-to-imo", letter_number="۱۰۰")
    case = await steps.attach(CLERK, case, "upgrade-form", "minutes")
    case = await steps.act(HEAD, case, "send-to-imo", letter_number="۱۰۰")
    assert (case.state, case.assigned_role) == ("with-imo", "clerk")
    case = await steps.act(CLERK, case, "record-imo-approval", imo_letter_number="س-۲۰")
    case = await steps.act(CLERK, case, "record-notification", moi_letter_number="و-۳۰", new_grade=7)
    assert (case.state, case.outcome) == ("notified", "granted")


async def test_grade_upgrade_corrected_refused_or_rejected_by_imo(steps):
    case = await _grading_in_review(steps)
    case = await steps.act(CLERK, case, "request-correction", "صورتجلسه پیوست نیست")
    case = await steps.act(CLERK, case, "resubmit")
    case = await steps.act(CLERK, case, "start-review")
    assert (await steps.act(HEAD, case, "refuse", reason="شرایط احراز نشد")).outcome == "refused"
    case = await steps.attach(CLERK, await _grading_in_review(steps), "upgrade-form", "minutes")
    case = await steps.act(HEAD, case, "send-to-imo", letter_number="۱۰۱")
    case = await steps.act(CLERK, case, "record-imo-rejection", reason="جمعیت کافی نیست")
    assert (case.state, case.outcome) == ("refused", "refused")


async def test_grade_upgrade_guard_and_slas(engine, clock, steps):
    with pytest.raises(InvalidArgument) as caught:
        await steps.start(CLERK, "municipality-grading", {**GRADE, "grading_system_reference": ""})
    broken(caught, "registered-in-grading-system", "seed 003 l.367")
    case = await _grading_in_review(steps)
    assert case.HasField("process_due_at")  # S3's three months, as 90 days
    await breach(engine, clock, case, 6, CLERK)
    clock.now += timedelta(days=100)
    await engine.fire_due_timers()
    assert "ostan.urban.municipality-grading.process-sla-breached" in await event_subjects(engine)


# -- the Article 79 dispute board's secretariat (seed 003 P12; booklet urban-councils-17) -------

REFERRAL = {
    "referring_authority": "فرمانداری شهرستان تاکستان",
    "letter_number": "۱۲۳۴/۵",
    "letter_date": "1405/01/27",
    "council_name": "شورای اسلامی شهر تاکستان",
    "council_level": "COUNCIL_LEVEL_CITY",
    "subject": "اصرار شورا بر اجرای مصوبه",
    "first_resolution_number": "۱۰",
    "conformity_ruling_number": "ک-۳",
    "second_resolution_number": "۱۴",
}
REFERRAL_DOCUMENTS = ("referral-letter", "first-resolution", "conformity-ruling", "second-resolution")


async def test_a_referral_from_registration_to_the_ruling_sent(engine, steps):
    case = await steps.start(SECRETARY, "card-003-p12", REFERRAL)
    assert (case.definition, case.state, case.assigned_role) == ("article-79-dispute-referral", "registered", "secretary")
    assert (await steps.start(SECRETARY, "urban-councils-17", REFERRAL)).definition == "article-79-dispute-referral"
    with pytest.raises(InvalidArgument, match="needs the documents"):
        await steps.act(SECRETARY, case, "table", session_date="1405/02/10")
    case = await steps.attach(SECRETARY, case, *REFERRAL_DOCUMENTS)
    case = await steps.act(SECRETARY, case, "table", session_date="1405/02/10")
    with pytest.raises(InvalidArgument, match="ruling"):
        await steps.act(SECRETARY, case, "record-ruling", ruling="ابطال مصوبه", ruled_on="1405/02/10")
    case = await steps.attach(SECRETARY, case, "ruling")
    case = await steps.act(SECRETARY, case, "record-ruling", ruling="ابطال مصوبه", ruled_on="1405/02/10")
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(SECRETARY, case, "send-ruling", sent_to=[])
    broken(caught, "ruling-sent-to-authorities", "seed 003 l.592")
    case = await steps.act(SECRETARY, case, "send-ruling", sent_to=["فرمانداری شهرستان تاکستان", "شورای اسلامی شهر"])
    assert (case.state, case.outcome) == ("ruling-sent", "delivered")
    assert (await event_subjects(engine))[0] == "ostan.urban.article-79-dispute-referral.registered"


async def test_a_referral_not_tabled(steps):
    case = await steps.start(SECRETARY, "article-79-dispute-referral", REFERRAL)
    with pytest.raises(InvalidArgument, match="needs a comment"):
        await steps.act(SECRETARY, case, "decline", reason="خارج از صلاحیت")
    case = await steps.act(SECRETARY, case, "decline", "موضوع در صلاحیت هیات نیست", reason="خارج از صلاحیت")
    assert (case.state, case.outcome) == ("not-tabled", "closed")
    with pytest.raises(PermissionDenied):
        await steps.start(CLERK, "article-79-dispute-referral", REFERRAL)


@pytest.mark.parametrize(
    ("missing", "rule", "source"),
    [
        ("first_resolution_number", "first-resolution", "seed 003 l.565 «مصوبه اول شورا»"),
        ("conformity_ruling_number", "conformity-ruling", "seed 003 l.565 «رای کمیته انطباق»"),
        ("second_resolution_number", "second-resolution", "seed 003 l.565 «مصوبه دوم شورا»"),
    ],
)
async def test_a_referral_is_tabled_only_with_its_three_council_papers(steps, missing, rule, source):
    case = await steps.start(SECRETARY, "article-79-dispute-referral", {**REFERRAL, missing: ""})
    case = await steps.attach(SECRETARY, case, *REFERRAL_DOCUMENTS)
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(SECRETARY, case, "table", session_date="1405/02/10")
    broken(caught, rule, source)


async def test_the_20_days_from_registration_escalate(engine, clock, steps):
    """20 days (seed 003 l.591) by the day rule: registered on Saturday 1405/01/29, the 20 days
    end with Friday 1405/02/18, a closed day, so with Saturday 1405/02/19; for the registered
    state and for the case as a whole."""
    case = await steps.start(SECRETARY, "article-79-dispute-referral", REFERRAL)
    assert case.state_due_at.ToDatetime(UTC) == case.process_due_at.ToDatetime(UTC)
    assert case.state_due_at.ToDatetime(UTC) == datetime(2026, 5, 9, 20, 30, tzinfo=UTC)
    clock.now += timedelta(days=21)
    await engine.fire_due_timers()
    assert not (await engine.get(SECRETARY, case.code)).breached
    escalated = await breach(engine, clock, case, 1, CLERK)
    assert escalated.state == "registered"
    events = await event_subjects(engine)
    assert "ostan.urban.article-79-dispute-referral.sla-breached" in events
    assert "ostan.urban.article-79-dispute-referral.process-sla-breached" in events


# -- the dehyaris' audit (seed 001 rural row 6, l.2908-2937; booklet rural-councils-06) ---------

ROUND = {"fiscal_year": 1404, "settlement_recorded_on": "1405/01/25", "dehyari_count": 120}
PROPOSALS = [{"firm": "مؤسسه الف", "received_on": "1405/02/10"}, {"firm": "مؤسسه ب", "received_on": "1405/02/11"}]
SELECTION = {"selected_firms": ["مؤسسه الف"], "inspection_representative": "نماینده بازرسی",
             "herasat_representative": "نماینده حراست"}


async def _proposals_in(steps):
    case = await steps.start(RURAL_CLERK, "rural-councils-06", ROUND)
    case = await steps.attach(RURAL_CLERK, case, "call")
    case = await steps.act(RURAL_CLERK, case, "announce-call", announced_on="1405/02/01")
    return await steps.act(RURAL_CLERK, case, "record-proposals", proposals=PROPOSALS)


async def test_the_dehyari_audit_in_its_ten_steps(engine, steps):
    case = await _proposals_in(steps)
    assert (case.definition, case.state, case.assigned_role) == ("dehyari-audit", "proposals-received", "head-of-office")
    case = await steps.attach(RURAL_CLERK, case, "selection-minutes")
    case = await steps.act(RURAL_HEAD, case, "select-firm", **SELECTION)
    assert case.assigned_role == "civil-deputy"
    case = await steps.attach(RURAL_CLERK, case, "mou")
    with pytest.raises(PermissionDenied):
        await steps.act(RURAL_HEAD, case, "sign-mou", firm_director="مدیرعامل", signed_on="1405/02/20")
    case = await steps.act(DEPUTY, case, "sign-mou", firm_director="مدیرعامل", signed_on="1405/02/20")
    case = await steps.act(RURAL_CLERK, case, "send-mou", counties=["قزوین", "تاکستان", "البرز"])
    case = await steps.attach(RURAL_CLERK, case, "audit-report")
    case = await steps.act(RURAL_CLERK, case, "receive-report")
    case = await steps.act(RURAL_CLERK, case, "forward-report", sent_to=["فرمانداری قزوین", "بخشداری کوهین"])
    case = await steps.act(RURAL_CLERK, case, "send-to-dehyaris", dehyaris=["دهیاری الف", "دهیاری ب"])
    assert (case.state, case.outcome) == ("delivered", "delivered")
    assert [h.action for h in await engine.history(RURAL_CLERK, case.code) if h.action != "attach"] == [
        "start", "announce-call", "record-proposals", "select-firm", "sign-mou", "send-mou", "receive-report",
        "forward-report", "send-to-dehyaris",
    ]
    with pytest.raises(NotFound):  # another office's staff do not see the case
        await engine.get(CLERK, case.code)


async def test_a_new_call_and_a_report_sent_back(steps):
    case = await _proposals_in(steps)
    case = await steps.act(RURAL_HEAD, case, "reopen-call", "هیچ پیشنهادی واجد شرایط نبود")
    assert case.state == "call-open"
    case = await steps.act(RURAL_CLERK, case, "record-proposals", proposals=PROPOSALS)
    case = await steps.attach(RURAL_CLERK, case, "selection-minutes", "mou")
    case = await steps.act(RURAL_HEAD, case, "select-firm", **SELECTION)
    case = await steps.act(DEPUTY, case, "sign-mou", firm_director="مدیرعامل", signed_on="1405/02/20")
    case = await steps.act(RURAL_CLERK, case, "send-mou", counties=["قزوین"])
    with pytest.raises(InvalidArgument, match="audit-report"):
        await steps.act(RURAL_CLERK, case, "receive-report")
    case = await steps.attach(RURAL_CLERK, case, "audit-report")
    case = await steps.act(RURAL_CLERK, case, "receive-report")
    case = await steps.act(RURAL_HEAD, case, "return-report", "گزارش دهیاری‌های بخش مرکزی ناقص است")
    assert case.state == "auditing"
    assert (await steps.act(RURAL_CLERK, case, "receive-report")).state == "report-received"


@pytest.mark.parametrize(
    ("change", "rule", "source"),
    [
        ({"selected_firms": []}, "firm-chosen", "seed 001 l.2922"),
        ({"inspection_representative": ""}, "inspection-present", "seed 001 l.2922"),
        ({"herasat_representative": ""}, "herasat-present", "seed 001 l.2922"),
    ],
)
async def test_the_firm_is_chosen_with_inspection_and_herasat(steps, change, rule, source):
    case = await steps.attach(RURAL_CLERK, await _proposals_in(steps), "selection-minutes")
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(RURAL_HEAD, case, "select-firm", **{**SELECTION, **change})
    broken(caught, rule, source)


async def test_the_dehyari_audit_guards_on_records_and_recipients(steps):
    with pytest.raises(InvalidArgument) as caught:
        await steps.start(RURAL_CLERK, "dehyari-audit", {**ROUND, "settlement_recorded_on": ""})
    broken(caught, "settlement-recorded", "seed 001 l.2916")
    case = await steps.start(RURAL_CLERK, "dehyari-audit", ROUND)
    case = await steps.attach(RURAL_CLERK, case, "call", "selection-minutes", "mou", "audit-report")
    case = await steps.act(RURAL_CLERK, case, "announce-call", announced_on="1405/02/01")
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(RURAL_CLERK, case, "record-proposals", proposals=[{"firm": "مؤسسه الف"}])
    broken(caught, "proposal-names-firm", "seed 001 l.2920")
    case = await steps.act(RURAL_CLERK, case, "record-proposals", proposals=PROPOSALS)
    case = await steps.act(RURAL_HEAD, case, "select-firm", **SELECTION)
    case = await steps.act(DEPUTY, case, "sign-mou", firm_director="مدیرعامل", signed_on="1405/02/20")
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(RURAL_CLERK, case, "send-mou", counties=[])
    broken(caught, "mou-to-counties", "seed 001 l.2926")
    case = await steps.act(RURAL_CLERK, case, "send-mou", counties=["قزوین"])
    case = await steps.act(RURAL_CLERK, case, "receive-report")
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(RURAL_CLERK, case, "forward-report", sent_to=[])
    broken(caught, "report-to-counties-and-districts", "seed 001 l.2933")
    case = await steps.act(RURAL_CLERK, case, "forward-report", sent_to=["فرمانداری قزوین"])
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(RURAL_CLERK, case, "send-to-dehyaris", dehyaris=[])
    broken(caught, "report-to-dehyaris", "seed 001 l.2935")


async def test_the_dehyari_audit_sla_breach(engine, clock, steps):
    case = await steps.start(RURAL_CLERK, "dehyari-audit", ROUND)
    with pytest.raises(PermissionDenied):  # urban staff cannot start the rural office's process
        await steps.start(CLERK, "dehyari-audit", ROUND)
    await breach(engine, clock, case, 7, RURAL_CLERK)


# -- initial approval of a vehicle inspection centre (technical-transport-traffic-02) ----------

TECH_EXPERT = staff("t-expert", "technical-transport-traffic", "technical-expert", name="کارشناس دفتر فنی")
TECH_HEAD = staff("t-head", "technical-transport-traffic", "head-of-technical-office", name="رئیس دفتر فنی")
CENTRE = {
    "full_name": "مهدی کاظمی",
    "national_code": "0084575948",
    "mobile": "09121234567",
    "company": "شرکت معاینه فنی البرز",
    "call_by": "شهرداری قزوین",
    "call_reference": "فراخوان ۱۴۰۵/۱۲",
    "city": "قزوین",
    "site_address": "جاده بوئین‌زهرا، کیلومتر ۵",
}


async def _centre_building(steps):
    case = await steps.start(CITIZEN, "technical-transport-traffic-02", CENTRE)
    assert (case.definition, case.assigned_role) == ("inspection-centre-approval", "head-of-technical-office")
    case = await steps.attach(CITIZEN, case, "site-documents")
    return await steps.act(TECH_HEAD, case, "grant-initial-approval", approval_letter="م/۱")


async def test_an_inspection_centre_is_approved_for_three_months_then_by_the_organisation(engine, clock, steps):
    case = await _centre_building(steps)
    # «به مدت ۳ ماه» (line 3096): 90 days by the day rule.
    assert (case.state, case.assigned_role) == ("building", "applicant")
    assert case.state_due_at.ToDatetime(UTC) == engine.calendar.deadline(clock.now, 90)
    case = await steps.act(CITIZEN, case, "request-visit")
    case = await steps.attach(TECH_EXPERT, case, "visit-report", "organisation-approval")
    case = await steps.act(TECH_HEAD, case, "approve-works")
    case = await steps.act(TECH_EXPERT, case, "record-organisation-approval")
    case = await steps.act(TECH_EXPERT, case, "notify-launch", municipality_letter="ش/۹")
    assert (case.state, case.outcome) == ("launched", "granted")


async def test_the_three_month_defects_period_is_given_only_once(engine, clock, steps):
    case = await _centre_building(steps)
    case = await steps.act(CITIZEN, case, "request-visit")
    case = await steps.attach(TECH_EXPERT, case, "visit-report")
    case = await steps.act(TECH_HEAD, case, "grant-defects-period", defects=["سکوی ترمز نصب نشده"])
    assert (case.state, case.assigned_role) == ("fixing", "applicant")
    case = await steps.act(CITIZEN, case, "report-defects-fixed")
    with pytest.raises(FailedPrecondition):  # «فقط برای یک بار» (line 3104)
        await steps.act(TECH_HEAD, case, "grant-defects-period", defects=["هنوز نصب نشده"])
    case = await steps.act(TECH_HEAD, case, "refuse", reason="نواقص رفع نشد")
    assert (case.state, case.outcome) == ("refused", "refused")


async def test_an_inspection_centre_is_refused_withdrawn_or_overdue(engine, clock, steps):
    case = await steps.start(CITIZEN, "inspection-centre-approval", CENTRE)
    with pytest.raises(InvalidArgument):
        await steps.act(TECH_HEAD, case, "refuse")
    assert (await steps.act(TECH_HEAD, case, "refuse", reason="خارج از محدوده فراخوان")).outcome == "refused"
    case = await _centre_building(steps)
    case = await steps.act(CITIZEN, case, "request-visit")
    case = await steps.attach(TECH_EXPERT, case, "visit-report")
    case = await steps.act(TECH_HEAD, case, "approve-works")
    assert (await steps.act(TECH_EXPERT, case, "record-organisation-refusal", reason="سهمیه شهر پر است")).outcome == "refused"
    case = await steps.start(CITIZEN, "inspection-centre-approval", CENTRE)
    assert (await steps.act(CITIZEN, case, "withdraw")).outcome == "withdrawn"
    case = await _centre_building(steps)
    await breach(engine, clock, case, 92, TECH_EXPERT)  # the 3 months of line 3096 ran out (day 90 is a Friday)


# -- the training of dehyaris and village councils (seed 001 lines 3028-3059) ------------------

RURAL_PROGRAMME = {"year": 1405, "procedure_reference": "شیوه‌نامه ۱۴۰۵/۱۲۳"}


async def test_the_rural_training_programme_runs_in_the_rural_office_without_a_catalogue_row(engine, steps):
    definition = engine.book.latest["rural-training"]
    assert definition.catalogue == [] and definition.office == "rural-councils"
    with pytest.raises(PermissionDenied):  # the urban office does not run it
        await steps.start(CLERK, "rural-training", RURAL_PROGRAMME)
    case = await steps.start(RURAL_CLERK, "rural-training", RURAL_PROGRAMME)
    assert (case.state, case.assigned_role) == ("needs-assessment", "clerk")
    case = await steps.attach(RURAL_CLERK, case, "needs-summary", "committee-minutes", "performance-report")
    case = await steps.act(RURAL_CLERK, case, "send-programme-to-committee", counties_answered=["قزوین", "آبیک"])
    case = await steps.act(RURAL_HEAD, case, "return-for-revision", "نیاز شهرستان البرز نیامده")
    case = await steps.act(RURAL_CLERK, case, "send-programme-to-committee", counties_answered=["قزوین", "آبیک", "البرز"])
    case = await steps.act(RURAL_HEAD, case, "send-to-organisation")
    case = await steps.act(RURAL_CLERK, case, "record-approval", approval_letter="س/۹")
    case = await steps.act(RURAL_HEAD, case, "sign-contracts", institutions=["موسسه آموزش عالی آزاد"])
    case = await steps.act(RURAL_CLERK, case, "record-course", course="مدیریت مالی دهیاری", held_on="1405/05/10")
    case = await steps.act(RURAL_CLERK, case, "report-performance")
    assert (case.state, case.outcome) == ("reported", "delivered")
    assert "ostan.urban.rural-training.course-held" in await event_subjects(engine)


async def test_a_rural_training_needs_assessment_left_too_long_escalates(engine, clock, steps):
    case = await steps.start(RURAL_CLERK, "rural-training", RURAL_PROGRAMME)
    await breach(engine, clock, case, 32, RURAL_CLERK)


# -- the cards of seed 003 that run: P1, P3, P7, P9 (oversight), P15 ---------------------------

MAYOR = {"city": "تاکستان", "council_minutes": "صورتجلسه ۱۲ مورخ ۱۴۰۵/۰۱/۲۰", "full_name": "رضا احمدی",
         "national_code": "0084575948"}
GOVERNOR = staff("u-gov", "urban-councils", "governor", name="استاندار")


async def test_a_mayor_is_nominated_checked_vetted_and_decreed(engine, steps):
    case = await steps.start(CLERK, "card-003-p3", MAYOR)
    assert (case.definition, case.assigned_role) == ("mayor-appointment", "head-of-office")
    with pytest.raises(InvalidArgument, match="documents"):
        await steps.act(HEAD, case, "qualifications-met")
    case = await steps.act(HEAD, case, "request-correction", "رزومه پیوست نیست")
    case = await steps.act(CLERK, case, "resubmit")
    case = await steps.attach(CLERK, case, "council-minutes", "nominee-documents")
    case = await steps.act(HEAD, case, "qualifications-met")
    assert engine.book.latest["mayor-appointment"].action("qualifications-met").inquiries
    case = await steps.act(CLERK, case, "record-inquiries", inquiry_answers="بلامانع")
    with pytest.raises(PermissionDenied):
        await steps.act(HEAD, case, "issue-decree", decree_number="۱")
    case = await steps.act(GOVERNOR, case, "issue-decree", decree_number="ح/۴۵")
    assert (case.state, case.outcome) == ("appointed", "granted")


async def test_a_mayor_nomination_is_refused_or_overdue(engine, clock, steps):
    case = await steps.start(CLERK, "mayor-appointment", MAYOR)
    assert (await steps.act(HEAD, case, "refuse", reason="شرایط احراز ندارد")).outcome == "refused"
    await breach(engine, clock, await steps.start(CLERK, "mayor-appointment", MAYOR), 6, CLERK)


async def test_machinery_is_delivered_after_the_municipality_pays_its_share(engine, clock, steps):
    request = {"municipality": "شهرداری آبیک", "items": ["کامیون حمل زباله"]}
    case = await steps.start(CLERK, "card-003-p7", request)
    case = await steps.act(HEAD, case, "send-to-organisation", delivered_before=["لودر ۱۴۰۳"])
    case = await steps.act(CLERK, case, "record-approval", municipality_share_rials=2_000_000_000)
    with pytest.raises(InvalidArgument, match="documents"):
        await steps.act(CLERK, case, "deliver")
    case = await steps.attach(CLERK, case, "share-receipt")
    assert (await steps.act(CLERK, case, "deliver")).outcome == "delivered"
    case = await steps.start(CLERK, "municipal-machinery", request)
    assert (await steps.act(HEAD, case, "refuse", reason="سهمیه امسال تحویل شده")).outcome == "refused"
    await breach(engine, clock, await steps.start(CLERK, "municipal-machinery", request), 11, CLERK)


async def test_an_organisation_chart_is_returned_then_approved_by_the_organisation(engine, clock, steps):
    chart = {"municipality": "شهرداری الوند", "grade": 6}
    case = await steps.start(CLERK, "card-003-p1", chart)
    case = await steps.act(CLERK, case, "return-to-municipality", "با درجه ۶ منطبق نیست")
    case = await steps.act(CLERK, case, "resubmit")
    case = await steps.attach(CLERK, case, "proposed-chart", "approved-chart")
    case = await steps.act(HEAD, case, "send-to-organisation")
    case = await steps.act(CLERK, case, "communicate-approved-chart", vacant_posts=["معاون خدمات شهری"])
    assert (case.state, case.outcome) == ("communicated", "granted")
    case = await steps.start(CLERK, "municipal-organisation-chart", chart)
    case = await steps.attach(CLERK, case, "proposed-chart")
    case = await steps.act(HEAD, case, "send-to-organisation")
    assert (await steps.act(CLERK, case, "record-refusal", reason="مغایر دستورالعمل")).outcome == "refused"
    await breach(engine, clock, await steps.start(CLERK, "municipal-organisation-chart", chart), 16, CLERK)


WASTE = {"full_name": "سارا محمدی", "national_code": "0084575948", "mobile": "09121234567",
         "company": "شرکت بازیافت سبز", "city": "قزوین", "project": "کارخانه کمپوست"}


async def test_a_waste_investment_passes_the_committee_the_working_group_and_the_organisation(engine, clock, steps):
    case = await steps.start(CITIZEN, "card-003-p15", WASTE)
    assert (case.definition, case.assigned_role) == ("waste-investment", "clerk")
    case = await steps.act(CLERK, case, "request-correction", "سوابق شرکت پیوست نیست")
    case = await steps.act(CITIZEN, case, "resubmit")
    case = await steps.attach(CITIZEN, case, "application-records")
    case = await steps.act(CLERK, case, "committee-qualifies")
    case = await steps.act(SECRETARY, case, "working-group-agrees", working_group_minutes="صورتجلسه ۴")
    case = await steps.act(CLERK, case, "organisation-agrees", organisation_letter="س/۸۸")
    assert (case.state, case.outcome) == ("approved", "granted")
    case = await steps.start(CITIZEN, "waste-investment", WASTE)
    assert (await steps.act(CITIZEN, case, "withdraw")).outcome == "withdrawn"
    case = await steps.start(CITIZEN, "waste-investment", WASTE)
    assert (await steps.act(CLERK, case, "refuse", reason="فاقد صلاحیت فنی")).outcome == "refused"
    await breach(engine, clock, await steps.start(CITIZEN, "waste-investment", WASTE), 31, CLERK)


URBAN_EXPERT = staff("u-expert", "urban-councils", "expert", name="کارشناس ارزیابی")


async def test_the_yearly_municipal_evaluation_runs_as_an_oversight_round(engine, clock, steps):
    definition = engine.book.latest["municipal-performance-evaluation"]
    assert definition.form == "ostan.common.v1.OversightRound" and definition.catalogue == ["card-003-p9"]
    round_ = {"subject": "ارزیابی عملکرد شهرداری‌ها ۱۴۰۴", "period": "۱۴۰۴", "instruction": "دستورالعمل وزارت کشور"}
    case = await steps.start(URBAN_EXPERT, "card-003-p9", round_)
    with pytest.raises(InvalidArgument, match="documents"):
        await steps.act(URBAN_EXPERT, case, "communicate", sent_to=["دفتر فنی"])
    case = await steps.attach(URBAN_EXPERT, case, "plan", "report")
    case = await steps.act(URBAN_EXPERT, case, "communicate", sent_to=["کارشناسان امور شهری", "دفتر فنی"])
    case = await steps.act(URBAN_EXPERT, case, "record-activity", activity="نظر کارشناس دفتر فنی", done_on="1405/02/05")
    case = await steps.act(URBAN_EXPERT, case, "send-notice", agency="شهرداری آبیک", finding="فرم ناقص")
    case = await steps.act(URBAN_EXPERT, case, "assess", findings="۱۸ شهرداری ارزیابی شد")
    case = await steps.act(HEAD, case, "return-to-supervision", "فرم آبیک هنوز نیامده")
    case = await steps.act(URBAN_EXPERT, case, "assess", findings="۱۹ شهرداری ارزیابی شد")
    case = await steps.act(HEAD, case, "report", sent_to=["وزارت کشور"])
    assert (case.state, case.outcome) == ("reported", "delivered")
    subjects = await event_subjects(engine)
    assert "ostan.urban.municipal-performance-evaluation.activity-recorded" in subjects
    assert "ostan.urban.municipal-performance-evaluation.notice-sent" in subjects
    late = await steps.start(URBAN_EXPERT, "municipal-performance-evaluation", round_)
    assert (await steps.act(HEAD, late, "cancel", "دستورالعمل لغو شد")).outcome == "withdrawn"
    await breach(engine, clock, await steps.start(URBAN_EXPERT, "municipal-performance-evaluation", round_), 16, URBAN_EXPERT)


LIAISON = staff("u-liaison", "urban-councils", "liaison", name="رابط پژوهشی")
WG_SECRETARY = staff("u-wg", "urban-councils", "working-group-secretary", name="دبیر کارگروه")
COUNCIL_SECRETARY = staff("u-rc", "urban-councils", "council-secretary", name="دبیر شورای پژوهش")
RESEARCH = {"agency": "شهرداری قزوین", "title": "مطالعه ترافیک بافت تاریخی", "contractor": "دانشگاه بین‌المللی"}


async def test_a_research_project_is_corrected_then_permitted_by_the_research_council(engine, clock, steps):
    case = await steps.start(LIAISON, "card-003-p10", RESEARCH)
    assert (case.definition, case.assigned_role) == ("municipal-research-project", "working-group-secretary")
    case = await steps.act(WG_SECRETARY, case, "working-group-asks-correction", "روش تحقیق مبهم است")
    case = await steps.act(LIAISON, case, "resubmit")
    with pytest.raises(InvalidArgument, match="documents"):
        await steps.act(WG_SECRETARY, case, "working-group-approves")
    case = await steps.attach(LIAISON, case, "proposal", "council-minutes")
    case = await steps.act(WG_SECRETARY, case, "working-group-approves")
    case = await steps.act(LIAISON, case, "invite-council", session_on="1405/03/01")
    case = await steps.act(COUNCIL_SECRETARY, case, "grant-permit", permit_number="پ/۱۲")
    assert (case.state, case.outcome) == ("permitted", "granted")
    case = await steps.start(LIAISON, "municipal-research-project", RESEARCH)
    assert (await steps.act(WG_SECRETARY, case, "reject", reason="تکراری")).outcome == "refused"
    await breach(engine, clock, await steps.start(LIAISON, "municipal-research-project", RESEARCH), 22, LIAISON)


async def test_an_affiliated_organisations_statute_is_communicated_or_returned(engine, clock, steps):
    statute = {"municipality": "شهرداری قزوین", "organisation": "سازمان مدیریت پسماند",
               "council_resolution": "مصوبه ۴۵ مورخ ۱۴۰۵/۰۱/۱۵"}
    case = await steps.start(CLERK, "card-003-p11", statute)
    with pytest.raises(InvalidArgument, match="documents"):
        await steps.act(HEAD, case, "send-to-organisation")
    case = await steps.attach(CLERK, case, "statute")
    case = await steps.act(HEAD, case, "send-to-organisation")
    case = await steps.act(CLERK, case, "communicate-statute", organisation_letter="س/۵")
    assert (case.state, case.outcome) == ("communicated", "granted")
    case = await steps.start(CLERK, "affiliated-organisation-statute", statute)
    assert (await steps.act(HEAD, case, "return-to-council", conflict="مغایر ماده ۸۴")).outcome == "refused"
    await breach(engine, clock, await steps.start(CLERK, "affiliated-organisation-statute", statute), 16, CLERK)


async def test_a_municipal_training_course_from_its_needs_to_approved_certificates(engine, clock, steps):
    course = {"course_title": "مدیریت مالی شهرداری", "audience": "شهرداران", "year": 1405}
    case = await steps.start(CLERK, "card-003-p2", course)
    case = await steps.act(CLERK, case, "set-needs", needs=["بودجه‌ریزی"])
    case = await steps.act(CLERK, case, "close-registration", registered=["شهردار آبیک"])
    with pytest.raises(InvalidArgument, match="documents"):
        await steps.act(CLERK, case, "approve-design", starts_on="1405/03/01")
    case = await steps.attach(CLERK, case, "committee-approval")
    case = await steps.act(CLERK, case, "approve-design", starts_on="1405/03/01")
    case = await steps.act(CLERK, case, "record-outcomes", passed=["شهردار آبیک"])
    with pytest.raises(PermissionDenied):
        await steps.act(CLERK, case, "approve-certificates")
    assert (await steps.act(HEAD, case, "approve-certificates")).outcome == "delivered"
    case = await steps.start(CLERK, "municipal-training", course)
    assert (await steps.act(HEAD, case, "cancel", "حد نصاب ثبت‌نام نرسید")).outcome == "withdrawn"
    await breach(engine, clock, await steps.start(CLERK, "municipal-training", course), 22, CLERK)


async def test_a_municipal_credit_is_proposed_deposited_and_settled(engine, clock, steps):
    request = {"municipality": "شهرداری محمدیه", "project": "آسفالت معابر", "amount_rials": 30_000_000_000}
    case = await steps.start(CLERK, "card-003-p14", request)
    with pytest.raises(InvalidArgument, match="documents"):
        await steps.act(HEAD, case, "propose-to-organisation")
    case = await steps.attach(CLERK, case, "council-resolution")
    case = await steps.act(HEAD, case, "propose-to-organisation")
    case = await steps.act(CLERK, case, "record-deposit", deposited_rials=25_000_000_000, credit_system_reference="ا/۱")
    case = await steps.act(CLERK, case, "record-documents", documents_reference="سند ۷۷")
    case = await steps.act(CLERK, case, "record-settlement", spent_rials=24_000_000_000)
    assert (case.state, case.outcome) == ("settled", "closed")
    case = await steps.start(CLERK, "municipal-credit-distribution", request)
    assert (await steps.act(HEAD, case, "refuse", reason="اعتبار تمام شده")).outcome == "refused"
    await breach(engine, clock, await steps.start(CLERK, "municipal-credit-distribution", request), 11, CLERK)
