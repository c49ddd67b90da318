"""The economic service's own process definitions (services/economic/processes/), each walked
through the real case engine on a real database: happy path, refusals and corrections, SLA breach,
and every guard naming its rule and its source."""

from __future__ import annotations

import pytest

from ostan.economic.v1 import forms_pb2  # noqa: F401 — registers the forms
from ostan_kit.runtime.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from tests.unit.cases_support import breach, broken, citizen, event_subjects, staff

SERVICE = "economic"
OFFICE = "investment-employment"

CLERK = staff("i-clerk", OFFICE, "clerk", name="کارشناس سرمایه‌گذاری")
HEAD = staff("i-head", OFFICE, "head-of-office", name="رئیس دفتر")
ECONOMIC_CLERK = staff("e-clerk", "economic-affairs", "clerk", name="x")
INVESTOR = citizen("0084575948", "سرمایه‌گذار")
STRANGER = citizen("0067749828", "دیگری")


# -- steering an investment's permits (booklet investment-employment-01) ------------------------

PERMIT = {
    "applicant_type": "APPLICANT_TYPE_NATURAL_PERSON",
    "investor_name": "رضا کریمی",
    "national_id": "0084575948",
    "mobile": "09121234567",
    "project_title": "کارخانه بسته‌بندی خرما",
    "county": "البرز",
    "activity": "صنایع غذایی",
    "permits": ["جواز تأسیس", "مجوز محیط زیست"],
    "estimated_investment_rials": "۵۰۰۰۰۰۰۰۰۰۰",
}
ANSWERS = [{"agency": "اداره کل صمت", "answer": "موافقت با جواز تأسیس"}]


async def _permit_in_review(steps, actor=INVESTOR, form=PERMIT):
    case = await steps.start(actor, "investment-employment-01", form)
    case = await steps.attach(actor, case, "application")
    return await steps.act(CLERK, case, "start-review")


async def test_an_investors_permits_steered_through_the_agencies(engine, steps):
    case = await steps.start(INVESTOR, "investment-employment-01", PERMIT)
    assert (case.definition, case.applicant_id, case.state) == ("investment-permit-steering", INVESTOR.subject, "submitted")
    with pytest.raises(InvalidArgument, match="application"):
        await steps.act(CLERK, case, "start-review")
    case = await steps.attach(INVESTOR, case, "application")
    case = await steps.act(CLERK, case, "start-review")
    case = await steps.act(CLERK, case, "refer-to-agencies", agencies=["اداره کل صمت", "اداره کل محیط زیست"])
    assert (case.state, case.assigned_role) == ("with-agencies", "clerk")
    case = await steps.act(CLERK, case, "record-answers", answers=ANSWERS)
    assert case.state == "under-review"
    with pytest.raises(PermissionDenied):
        await steps.act(CLERK, case, "decide", decision="x")
    case = await steps.act(HEAD, case, "decide", decision="مجوزها با هماهنگی دستگاه‌ها صادر شد")
    case = await steps.act(CLERK, case, "deliver")
    assert (case.state, case.outcome) == ("delivered", "granted")
    assert (await event_subjects(engine))[-1] == "ostan.economic.investment-permit-steering.deliver"
    with pytest.raises(NotFound):
        await engine.get(STRANGER, case.code)


async def test_a_permit_request_corrected_refused_or_withdrawn(steps):
    case = await _permit_in_review(steps)
    with pytest.raises(InvalidArgument, match="needs a comment"):
        await steps.act(CLERK, case, "request-correction")
    case = await steps.act(CLERK, case, "request-correction", "خلاصه طرح پیوست شود")
    assert case.assigned_role == "applicant"
    case = await steps.act(INVESTOR, case, "resubmit")
    case = await steps.act(CLERK, case, "start-review")
    case = await steps.act(HEAD, case, "refuse", reason="طرح با آمایش استان سازگار نیست")
    assert (case.state, case.outcome) == ("refused", "refused")
    with pytest.raises(FailedPrecondition):
        await steps.act(INVESTOR, case, "withdraw")
    case = await steps.start(INVESTOR, "investment-permit-steering", PERMIT)
    with pytest.raises(PermissionDenied):
        await steps.act(CLERK, case, "withdraw")
    assert (await steps.act(INVESTOR, case, "withdraw")).outcome == "withdrawn"


async def test_permit_request_guards(steps):
    with pytest.raises(InvalidArgument) as caught:
        await steps.start(INVESTOR, "investment-permit-steering", {**PERMIT, "permits": []})
    broken(caught, "permits-named", "platform default")
    company = {**PERMIT, "applicant_type": "APPLICANT_TYPE_LEGAL_PERSON", "investor_name": "شرکت نمونه"}
    with pytest.raises(InvalidArgument) as caught:
        await steps.start(CLERK, "investment-permit-steering", company)  # a ten-digit code for a company
    broken(caught, "company-national-id", "platform default")
    case = await _permit_in_review(steps, CLERK, {**company, "national_id": "10100123456"})
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(CLERK, case, "refer-to-agencies", agencies=[])
    broken(caught, "agencies-named", "seed 001 l.263")
    case = await steps.act(CLERK, case, "refer-to-agencies", agencies=["اداره کل صمت"])
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(CLERK, case, "record-answers", answers=[{"agency": "اداره کل صمت"}])
    broken(caught, "answer-names-agency", "platform default")


async def test_permit_request_sla_breach_and_office(engine, clock, steps):
    with pytest.raises(PermissionDenied):  # the economic affairs office does not run it
        await steps.start(ECONOMIC_CLERK, "investment-permit-steering", PERMIT)
    case = await _permit_in_review(steps)
    await breach(engine, clock, case, 6, CLERK)


# -- resolving an investor's problem (booklet investment-employment-02) -------------------------

PROBLEM = {
    "investor_name": "رضا کریمی",
    "national_id": "0084575948",
    "project_title": "کارخانه بسته‌بندی خرما",
    "county": "البرز",
    "problem": "تأخیر در واگذاری انشعاب برق",
    "agencies": ["شرکت توزیع برق استان"],
    "mobile": "09121234567",
}


async def _problem_in_review(steps):
    case = await steps.start(INVESTOR, "investment-employment-02", PROBLEM)
    return await steps.act(CLERK, case, "start-review")


async def test_an_investors_problem_resolved_with_the_agencies(steps):
    case = await _problem_in_review(steps)
    assert case.definition == "investor-problem-resolution"
    case = await steps.act(CLERK, case, "refer-to-agencies", referred_to=["شرکت توزیع برق استان"])
    case = await steps.act(CLERK, case, "record-answers", answers=[{"agency": "شرکت توزیع برق", "answer": "انشعاب واگذار شد"}])
    case = await steps.act(HEAD, case, "resolve", resolution="انشعاب برق واگذار شد")
    assert (case.state, case.outcome) == ("resolved", "delivered")


async def test_an_investors_problem_clarified_closed_unresolved_or_withdrawn(steps):
    case = await _problem_in_review(steps)
    case = await steps.act(CLERK, case, "request-correction", "نشانی طرح را بنویسید")
    case = await steps.act(INVESTOR, case, "resubmit")
    case = await steps.act(CLERK, case, "start-review")
    with pytest.raises(InvalidArgument, match="needs a comment"):
        await steps.act(HEAD, case, "close-unresolved", reason="خارج از اختیار استان")
    case = await steps.act(HEAD, case, "close-unresolved", "به وزارتخانه ارجاع شد", reason="خارج از اختیار استان")
    assert (case.state, case.outcome) == ("unresolved", "closed")
    case = await steps.start(INVESTOR, "investor-problem-resolution", PROBLEM)
    assert (await steps.act(INVESTOR, case, "withdraw")).outcome == "withdrawn"


async def test_investor_problem_guards_and_sla(engine, clock, steps):
    case = await _problem_in_review(steps)
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(CLERK, case, "refer-to-agencies")
    broken(caught, "agencies-named", "seed 001 l.274")
    case = await steps.act(CLERK, case, "refer-to-agencies", referred_to=["شرکت توزیع برق استان"])
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(CLERK, case, "record-answers", answers=[{"answer": "در دست اقدام"}])
    broken(caught, "answer-names-agency", "platform default")
    await breach(engine, clock, case, 11, CLERK)


async def test_a_case_a_clerk_starts_is_the_investors_by_the_forms_applicant_fields(steps):
    # applicant: {id: national_id, name: investor_name} in the definition
    case = await steps.start(CLERK, "investment-employment-01", PERMIT)
    assert (case.applicant_id, case.applicant_name) == ("0084575948", "رضا کریمی")


# -- the province's employment commitments (investment-employment-15) -------------------------

SECRETARY = staff("i-sec", OFFICE, "committee-secretary", name="دبیر کمیته هماهنگی اشتغال")
COMMITMENTS = {"year": 1405, "forecast_employed": 420_000, "forecast_unemployed": "۳۸۰۰۰"}


async def test_a_years_employment_commitments_from_forecast_through_monitoring(engine, steps):
    case = await steps.start(CLERK, "investment-employment-15", COMMITMENTS)
    assert (case.definition, case.assigned_role) == ("employment-commitments", "committee-secretary")
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(SECRETARY, case, "propose-commitment", proposed_jobs=30000, distribution=[{"agency": "صمت"}])
    broken(caught, "agency-and-share", "seed 001 line 427")
    case = await steps.act(SECRETARY, case, "propose-commitment", proposed_jobs=30000,
                           distribution=[{"agency": "اداره کل صمت", "jobs": 12000}])
    case = await steps.act(SECRETARY, case, "approve-commitment", approved_jobs=28000)
    case = await steps.act(CLERK, case, "report-to-ministry")
    with pytest.raises(InvalidArgument, match="documents"):
        await steps.act(CLERK, case, "record-communication", communicated_jobs=28000)
    case = await steps.attach(CLERK, case, "moi-communication", "periodic-report")
    case = await steps.act(CLERK, case, "record-communication", communicated_jobs=28000)
    with pytest.raises(InvalidArgument, match="progress-at-most-all"):
        await steps.act(CLERK, case, "record-progress", meeting_on="1405/04/01", progress_percent=120,
                        monitoring_system_updated=True)
    case = await steps.act(CLERK, case, "record-progress", meeting_on="1405/04/01", progress_percent=35,
                           monitoring_system_updated=True)
    case = await steps.act(CLERK, case, "report-period")
    assert case.state == "monitoring"
    case = await steps.act(CLERK, case, "close-year", achieved_jobs=26500)
    assert (case.state, case.outcome) == ("closed", "closed")
    subjects = await event_subjects(engine)
    assert "ostan.economic.employment-commitments.progress-recorded" in subjects
    assert "ostan.economic.employment-commitments.periodic-report-sent" in subjects


async def test_a_proposal_goes_back_and_a_silent_monitoring_period_escalates(engine, clock, steps):
    case = await steps.start(CLERK, "employment-commitments", COMMITMENTS)
    with pytest.raises(PermissionDenied):
        await steps.start(INVESTOR, "employment-commitments", COMMITMENTS)
    case = await steps.act(SECRETARY, case, "propose-commitment", proposed_jobs=1, distribution=[{"agency": "x", "jobs": 1}])
    case = await steps.act(SECRETARY, case, "return-proposal", "پیش‌بینی سازمان به‌روز شود")
    assert case.state == "forecast-received"
    await breach(engine, clock, case, 16, CLERK)
