"""The admin-finance service's own processes (seed 001, the General Directorate of Administrative
and Financial Affairs): equipment purchase with its 150-million-toman split, staff performance
evaluation, employing conscripts and the staff's supplementary insurance. Each runs on the real
engine and a real database, with a controllable clock."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from ostan.admin_finance.v1 import forms_pb2  # noqa: F401 — registers the forms
from ostan_kit.runtime.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from tests.unit.cases_support import attach, citizen, key, refusal, staff, step, written

SERVICE = "admin-finance"
OFFICE = "administrative-financial"

CLERK = staff("clerk-1", OFFICE, "clerk")
REVIEWER = staff("reviewer-1", OFFICE, "credit-reviewer")
SUPPORT = staff("support-1", OFFICE, "support-officer")
STOREKEEPER = staff("store-1", OFFICE, "storekeeper")
DG = staff("dg-1", OFFICE, "director-general")
HR = staff("hr-1", OFFICE, "hr-expert")
WELFARE = staff("welfare-1", OFFICE, "welfare-expert")
OUTSIDER = staff("clerk-9", "it-cyberspace-network", "clerk", "hr-expert")
CITIZEN = citizen("0084575948", "متقاضی امریه")


async def assert_breach_escalates(engine, clock, case, supervisor, viewer=None):
    """Just before the state's deadline nothing escalates; just after, the case goes to the supervisor."""
    due = case.state_due_at.ToDatetime(UTC)
    clock.now = due - timedelta(minutes=1)
    await engine.fire_due_timers()
    viewer = viewer or (HR if supervisor == "supervisor" else DG)
    assert not (await engine.get(viewer, case.code)).breached
    clock.now = due + timedelta(minutes=1)
    assert await engine.fire_due_timers() >= 1
    return due


# -- equipment purchase (seed 001 lines 4882-4932) ----------------------------------------------

PURCHASE = {
    "requesting_unit": "دفتر فناوری اطلاعات",
    "description": "خرید رایانه برای کارشناسان",
    "items": ["رایانه رومیزی", "چاپگر"],
    "estimated_amount_toman": 120_000_000,
}


async def priced(engine):
    case = (await engine.start(CLERK, "administrative-financial-48", PURCHASE, key())).message
    assert (case.process, case.state, case.assigned_role) == ("equipment-purchase", "submitted", "credit-reviewer")
    case = await step(engine, REVIEWER, case, "approve", budget_line="موافقتنامه هزینه‌ای ۱۴۰۵، ردیف ۱۲")
    assert (case.state, case.assigned_role) == ("price-inquiry", "support-officer")
    return await attach(engine, SUPPORT, case, "price-inquiry")


async def test_a_purchase_under_150m_toman_goes_by_sellers_quotes_to_the_requester(engine):
    case = await priced(engine)
    case = await step(engine, SUPPORT, case, "collect-seller-quotes", inquired_amount_toman="۱۲۰۰۰۰۰۰۰")
    assert case.state == "seller-quotes"
    quotes = [{"seller": "فروشگاه الف", "amount_toman": 120_000_000, "confirmed_on": "1405/02/01"}]
    case = await step(engine, SUPPORT, case, "record-seller-quotes", quotes=quotes, supplier="فروشگاه الف")
    case = await step(engine, REVIEWER, case, "provide-credit", credit_reference="تامین اعتبار ۴۵۶")
    case = await step(engine, SUPPORT, case, "buy", invoice_number="F-101")
    case = await step(engine, STOREKEEPER, case, "receive-in-warehouse")
    case = await step(engine, STOREKEEPER, case, "hand-to-requester", received_by="دفتر فناوری اطلاعات")
    with pytest.raises(InvalidArgument, match="financial-documents"):
        await step(engine, SUPPORT, case, "send-financial-documents", budget_kind="جاری")
    case = await attach(engine, SUPPORT, case, "financial-documents")
    case = await step(engine, SUPPORT, case, "send-financial-documents", budget_kind="جاری")
    assert (case.state, case.outcome) == ("closed", "delivered")
    history = [h.event for h in await engine.history(CLERK, case.code) if h.event != "document-attached"]
    assert history == [
        "submitted", "approve", "collect-seller-quotes", "record-seller-quotes", "provide-credit", "buy",
        "receive-in-warehouse", "hand-to-requester", "send-financial-documents",
    ]


async def test_a_purchase_over_150m_toman_goes_through_the_procurement_system_to_an_asset_tag(engine):
    case = await priced(engine)
    case = await step(engine, SUPPORT, case, "register-in-procurement-system", inquired_amount_toman=480_000_000)
    assert (case.state, case.assigned_role) == ("procurement-system", "support-officer")
    case = await step(engine, SUPPORT, case, "record-procurement", procurement_reference="ستاد-۱۲۳", supplier="شرکت ب")
    case = await step(engine, REVIEWER, case, "provide-credit", credit_reference="۷۸۹")
    case = await step(engine, SUPPORT, case, "buy", invoice_number="F-102")
    case = await step(engine, STOREKEEPER, case, "receive-in-warehouse")
    case = await step(engine, STOREKEEPER, case, "tag-as-asset", asset_tags=["A-0001", "A-0002"])
    case = await attach(engine, SUPPORT, case, "financial-documents")
    case = await step(engine, SUPPORT, case, "send-financial-documents", budget_kind="عمرانی")
    assert (case.state, case.outcome) == ("closed", "delivered")


async def test_a_purchase_over_150m_toman_on_the_quotes_path_is_refused_naming_the_rule_and_source(engine):
    case = await priced(engine)
    before = await written(engine)
    with pytest.raises(InvalidArgument) as caught:
        await step(engine, SUPPORT, case, "collect-seller-quotes", inquired_amount_toman=150_000_001)
    text = refusal(caught)
    assert "rule purchase-threshold-150m-toman" in text
    assert "source: seed 001 lines 4901-4909" in text and "۱۵۰ میلیون تومان" in text
    assert caught.value.violations[0].field == "data.inquired_amount_toman"
    # and the other way round: a small purchase does not go to the procurement system
    with pytest.raises(InvalidArgument) as caught:
        await step(engine, SUPPORT, case, "register-in-procurement-system", inquired_amount_toman=90_000_000)
    assert "rule purchase-over-150m-toman-only" in refusal(caught) and "seed 001 lines 4901-4909" in refusal(caught)
    assert await written(engine) == before
    # exactly 150 million is neither "more" nor "less" in the source: either path takes it
    case = await step(engine, SUPPORT, case, "collect-seller-quotes", inquired_amount_toman=150_000_000)
    assert case.state == "seller-quotes"


async def test_the_price_inquiry_and_each_quote_are_required(engine):
    case = (await engine.start(CLERK, "equipment-purchase", PURCHASE, key())).message
    case = await step(engine, REVIEWER, case, "approve", budget_line="ردیف ۱")
    with pytest.raises(InvalidArgument, match="price-inquiry"):
        await step(engine, SUPPORT, case, "collect-seller-quotes", inquired_amount_toman=1)
    case = await attach(engine, SUPPORT, case, "price-inquiry")
    case = await step(engine, SUPPORT, case, "collect-seller-quotes", inquired_amount_toman=10_000_000)
    with pytest.raises(InvalidArgument) as caught:
        await step(engine, SUPPORT, case, "record-seller-quotes", quotes=[{"seller": "الف"}], supplier="الف")
    assert "rule quote-has-seller-price-and-confirmation" in refusal(caught) and "seed 001 line 4909" in refusal(caught)


async def test_a_purchase_is_refused_corrected_or_withdrawn(engine):
    case = (await engine.start(CLERK, "equipment-purchase", PURCHASE, key())).message
    with pytest.raises(InvalidArgument):  # a correction needs its reason
        await step(engine, REVIEWER, case, "request-correction")
    case = await step(engine, REVIEWER, case, "request-correction", "ردیف موافقتنامه را مشخص کنید")
    assert (case.state, case.assigned_role) == ("correction-requested", "clerk")
    case = await step(engine, CLERK, case, "resubmit")
    assert case.state == "submitted"
    with pytest.raises(PermissionDenied):  # the clerk does not decide
        await step(engine, CLERK, case, "refuse", reason="x")
    with pytest.raises(InvalidArgument) as caught:
        await step(engine, REVIEWER, case, "refuse")
    assert caught.value.violations[0].field == "data.reason"
    refused = await step(engine, REVIEWER, case, "refuse", reason="اعتبار کافی نیست")
    assert (refused.state, refused.outcome) == ("refused", "refused")

    other = (await engine.start(CLERK, "equipment-purchase", PURCHASE, key())).message
    withdrawn = await step(engine, CLERK, other, "withdraw", "دیگر نیاز نیست")
    assert withdrawn.outcome == "withdrawn"
    with pytest.raises(NotFound):  # another office's staff do not see the directorate's cases
        await engine.get(OUTSIDER, other.code)
    with pytest.raises(PermissionDenied):
        await engine.start(OUTSIDER, "equipment-purchase", PURCHASE, key())


async def test_an_overdue_purchase_review_escalates_to_the_director_general(engine, clock):
    case = (await engine.start(CLERK, "equipment-purchase", PURCHASE, key())).message
    assert case.state_due_at.ToDatetime(UTC) == engine.calendar.deadline(clock.now, 5)
    await assert_breach_escalates(engine, clock, case, "director-general")
    escalated = await engine.get(DG, case.code)
    assert escalated.breached and escalated.assigned_role == "director-general"


# -- performance evaluation (seed 001 lines 4264-4324) ------------------------------------------

EVALUATION = {
    "full_name": "مریم کاظمی",
    "national_code": "0084575948",
    "personnel_number": "۱۲۳۴۵",
    "unit": "فرمانداری البرز",
    "level": "EVALUATED_LEVEL_EMPLOYEE",
    "period": "سال ۱۴۰۴",
    "purpose": "EVALUATION_PURPOSE_RANK",
}


async def recorded(engine, purpose):
    case = (await engine.start(HR, "administrative-financial-06", {**EVALUATION, "purpose": purpose}, key())).message
    assert (case.process, case.state) == ("performance-evaluation", "form-sent")
    with pytest.raises(InvalidArgument, match="completed-form"):
        await step(engine, HR, case, "receive-form")
    case = await attach(engine, HR, case, "completed-form")
    case = await step(engine, HR, case, "receive-form")
    case = await step(engine, HR, case, "accept-form")
    case = await step(engine, HR, case, "score-attendance", attendance_score=18, total_score=92)
    assert (case.state, case.assigned_role) == ("awaiting-approval", "director-general")
    case = await step(engine, DG, case, "approve-scores")
    return await step(engine, HR, case, "record-scores")


async def test_an_evaluation_for_rank_is_corrected_rescored_and_applied_to_rank(engine):
    case = (await engine.start(HR, "performance-evaluation", EVALUATION, key())).message
    case = await attach(engine, HR, case, "completed-form")
    case = await step(engine, HR, case, "receive-form")
    with pytest.raises(InvalidArgument):  # returning for correction says why
        await step(engine, HR, case, "return-for-correction")
    case = await step(engine, HR, case, "return-for-correction", "مدارک پیوست ناقص است")
    assert case.state == "correction"
    case = await step(engine, HR, case, "receive-corrected-form")
    assert case.state == "under-review"
    case = await step(engine, HR, case, "accept-form")
    case = await step(engine, HR, case, "score-attendance", attendance_score=15, total_score=80)
    with pytest.raises(PermissionDenied):  # only the Director-General approves (line 4290)
        await step(engine, HR, case, "approve-scores")
    case = await step(engine, DG, case, "return-scores", "امتیاز ورود و خروج بازبینی شود")
    assert case.state == "scoring"
    case = await step(engine, HR, case, "score-attendance", attendance_score=17, total_score=82)
    case = await step(engine, DG, case, "approve-scores")
    case = await step(engine, HR, case, "record-scores")
    assert case.state == "recorded"
    with pytest.raises(InvalidArgument) as caught:
        await step(engine, HR, case, "refer-for-extension")
    assert "rule extension-only-if-evaluated-for-extension" in refusal(caught)
    assert "source: seed 001 lines 4294-4300" in refusal(caught)
    case = await step(engine, HR, case, "apply-to-rank")
    assert (case.state, case.outcome) == ("applied-to-rank", "closed")


async def test_an_evaluation_for_extension_signs_the_contract_when_the_minimum_is_reached(engine):
    case = await recorded(engine, "EVALUATION_PURPOSE_CONTRACT_EXTENSION")
    with pytest.raises(InvalidArgument) as caught:
        await step(engine, HR, case, "apply-to-rank")
    assert "rule score-used-for-rank-only-if-evaluated-for-rank" in refusal(caught)
    assert "source: seed 001 lines 4294-4300" in refusal(caught)
    case = await step(engine, HR, case, "refer-for-extension")
    assert case.state == "extension-review"
    with pytest.raises(InvalidArgument, match="signed-contract"):
        await step(engine, HR, case, "sign-contract", contract_type="پیمانی", contract_until="1406/01/31")
    case = await attach(engine, HR, case, "signed-contract")
    case = await step(engine, HR, case, "sign-contract", contract_type="پیمانی", contract_until="۱۴۰۶/۰۱/۳۱")
    assert (case.state, case.outcome) == ("contract-signed", "granted")


async def test_an_evaluation_for_extension_below_the_minimum_cancels_the_contract(engine):
    case = await recorded(engine, "EVALUATION_PURPOSE_CONTRACT_EXTENSION")
    case = await step(engine, HR, case, "refer-for-extension")
    with pytest.raises(InvalidArgument):
        await step(engine, HR, case, "cancel-contract")
    case = await step(engine, HR, case, "cancel-contract", "حد نصاب امتیاز کسب نشد")
    assert (case.state, case.outcome) == ("contract-cancelled", "refused")


async def test_an_evaluation_form_not_returned_in_time_escalates(engine, clock):
    case = (await engine.start(HR, "performance-evaluation", EVALUATION, key())).message
    assert case.state_due_at.ToDatetime(UTC) == engine.calendar.deadline(clock.now, 10)
    await assert_breach_escalates(engine, clock, case, "supervisor")
    escalated = await engine.get(HR, case.code)
    assert escalated.breached and escalated.assigned_role == "supervisor"


# -- conscripts (seed 001 lines 4326-4377) ------------------------------------------------------

CONSCRIPT = {
    "full_name": "علی محمدی",
    "national_code": "0084575948",
    "mobile": "09121234567",
    "education": "کارشناسی",
    "field_of_study": "مهندسی کامپیوتر",
    "dispatching_unit": "معاونت وظیفه عمومی",
}


async def test_a_conscript_from_request_to_the_end_of_service(engine):
    case = (await engine.start(CITIZEN, "administrative-financial-07", CONSCRIPT, key())).message
    assert (case.process, case.state, case.applicant_id) == ("conscript-employment", "requested", CITIZEN.subject)
    with pytest.raises(PermissionDenied):  # the applicant does not judge their own request
        await step(engine, CITIZEN, case, "accept-request", quota_letter="x")
    case = await engine.get(HR, case.code)
    with pytest.raises(InvalidArgument) as caught:
        await step(engine, HR, case, "accept-request")
    assert "rule moi-quota-notified" in refusal(caught) and "source: seed 001 lines 4336" in refusal(caught)
    case = await step(engine, HR, case, "accept-request", quota_letter="۱۹۷۲۷۷ مورخ ۹۹/۱۲/۶")
    assert case.state == "security-inquiry"
    case = await step(engine, HR, case, "record-inquiry-cleared", inquiry_reference="حراست ۵۵")
    with pytest.raises(InvalidArgument, match="conscript-documents"):
        await step(engine, HR, case, "send-documents")
    case = await attach(engine, HR, case, "conscript-documents")
    case = await step(engine, HR, case, "send-documents")
    case = await step(engine, HR, case, "record-moi-consent", consent_letter="وزارت کشور ۹۰", starts_on="1405/03/01")
    case = await attach(engine, HR, case, "decree")
    case = await step(engine, HR, case, "introduce-and-issue-decree", unit="دفتر فناوری اطلاعات")
    assert (case.state, case.assigned_role) == ("serving", "hr-expert")
    case = await step(engine, HR, case, "send-quarterly-report", quarter="تابستان ۱۴۰۵", sent_to="معاونت وظیفه عمومی")
    case = await step(engine, HR, case, "send-quarterly-report", quarter="پاییز ۱۴۰۵", sent_to="معاونت وظیفه عمومی")
    case = await step(engine, HR, case, "report-end-of-service", ended_on="1407/03/01")
    assert (case.state, case.outcome) == ("service-ended", "closed")
    mine = await engine.get(CITIZEN, case.code)
    assert mine.outcome == "closed"


async def test_a_conscript_request_is_refused_at_each_gate_or_withdrawn(engine):
    first = (await engine.start(HR, "conscript-employment", CONSCRIPT, key())).message
    refused = await step(engine, HR, first, "refuse-request", reason="رشته تحصیلی در سهمیه نیست")
    assert (refused.state, refused.outcome) == ("informed-refused", "refused")

    second = (await engine.start(HR, "conscript-employment", CONSCRIPT, key())).message
    second = await step(engine, HR, second, "accept-request", quota_letter="۱۹۷۲۷۷")
    second = await step(engine, HR, second, "record-inquiry-refused", reason="پاسخ منفی هسته گزینش")
    assert (second.state, second.outcome) == ("not-approved", "refused")

    third = (await engine.start(HR, "conscript-employment", CONSCRIPT, key())).message
    third = await step(engine, HR, third, "accept-request", quota_letter="۱۹۷۲۷۷")
    third = await step(engine, HR, third, "record-inquiry-cleared", inquiry_reference="۱")
    third = await attach(engine, HR, third, "conscript-documents")
    third = await step(engine, HR, third, "send-documents")
    third = await step(engine, HR, third, "record-moi-refusal", reason="سهمیه تکمیل شد")
    assert third.outcome == "refused"

    own = (await engine.start(CITIZEN, "conscript-employment", CONSCRIPT, key())).message
    own = await step(engine, CITIZEN, own, "withdraw")
    assert own.outcome == "withdrawn"
    with pytest.raises(FailedPrecondition):
        await step(engine, CITIZEN, own, "withdraw")


async def test_a_missing_quarterly_report_escalates(engine, clock):
    case = (await engine.start(HR, "conscript-employment", CONSCRIPT, key())).message
    case = await step(engine, HR, case, "accept-request", quota_letter="۱۹۷۲۷۷")
    case = await step(engine, HR, case, "record-inquiry-cleared", inquiry_reference="۱")
    case = await attach(engine, HR, case, "conscript-documents")
    case = await step(engine, HR, case, "send-documents")
    case = await step(engine, HR, case, "record-moi-consent", consent_letter="۹۰", starts_on="1405/03/01")
    case = await attach(engine, HR, case, "decree")
    case = await step(engine, HR, case, "introduce-and-issue-decree", unit="دفتر")
    assert case.state_due_at.ToDatetime(UTC) == engine.calendar.deadline(clock.now, 90)
    await assert_breach_escalates(engine, clock, case, "supervisor")
    escalated = await engine.get(HR, case.code)
    assert escalated.breached and escalated.assigned_role == "supervisor"
    # the report, late, still goes out, and the next quarter's clock starts again
    case = await step(engine, HR, escalated, "send-quarterly-report", quarter="۱", sent_to="واحد اعزام")
    assert not case.breached and case.assigned_role == "hr-expert"


# -- supplementary insurance (seed 001 lines 4462-4492) -----------------------------------------

ROUND = {"year": 1405, "call_title": "فراخوان بیمه تکمیلی کارکنان ۱۴۰۵", "coverage_starts_on": "1405/03/01"}


async def test_an_insurance_round_from_the_call_to_the_list_sent_to_finance(engine):
    case = (await engine.start(WELFARE, "administrative-financial-15", ROUND, key())).message
    assert (case.process, case.state) == ("supplementary-insurance", "call-open")
    with pytest.raises(InvalidArgument, match="call"):
        await step(engine, WELFARE, case, "shortlist", shortlisted=["بیمه الف", "بیمه ب"])
    case = await attach(engine, WELFARE, case, "call")
    case = await step(engine, WELFARE, case, "shortlist", shortlisted=["بیمه الف", "بیمه ب"])
    case = await step(engine, WELFARE, case, "hear-presentations")
    case = await step(engine, WELFARE, case, "select-insurer", insurer="بیمه الف")
    assert case.assigned_role == "director-general"
    with pytest.raises(PermissionDenied):
        await step(engine, WELFARE, case, "sign-contract", contract_number="۱")
    case = await attach(engine, WELFARE, case, "insurance-contract")
    case = await step(engine, DG, case, "sign-contract", contract_number="ب-۱۴۰۵-۱")
    assert case.state == "enrolling"
    with pytest.raises(InvalidArgument) as caught:
        await step(engine, WELFARE, case, "close-enrolment", enrolled=[{"full_name": "مریم"}])
    assert "rule enrolment-names-person-and-code" in refusal(caught) and "platform default" in refusal(caught)
    enrolled = [{"full_name": "مریم کاظمی", "national_code": "0084575948", "dependants": 2}]
    case = await step(engine, WELFARE, case, "close-enrolment", enrolled=enrolled)
    with pytest.raises(InvalidArgument) as caught:
        await step(engine, WELFARE, case, "finalise-insured", insured_count=0)
    assert "rule at-least-one-insured" in refusal(caught) and "platform default" in refusal(caught)
    case = await step(engine, WELFARE, case, "finalise-insured", insured_count=3)
    case = await step(engine, WELFARE, case, "send-list-to-finance")
    assert (case.state, case.outcome) == ("completed", "closed")


async def test_an_insurance_round_is_cancelled_with_a_reason(engine):
    case = (await engine.start(WELFARE, "supplementary-insurance", ROUND, key())).message
    with pytest.raises(PermissionDenied):
        await step(engine, WELFARE, case, "cancel", "x")
    with pytest.raises(InvalidArgument):
        await step(engine, DG, case, "cancel")
    case = await step(engine, DG, case, "cancel", "هیچ شرکتی در فراخوان شرکت نکرد")
    assert (case.state, case.outcome) == ("cancelled", "withdrawn")


async def test_an_overdue_insurance_call_escalates_to_the_director_general(engine, clock):
    case = (await engine.start(WELFARE, "supplementary-insurance", ROUND, key())).message
    assert case.state_due_at.ToDatetime(UTC) == engine.calendar.deadline(clock.now, 15)
    await assert_breach_escalates(engine, clock, case, "director-general")
    escalated = await engine.get(DG, case.code)
    assert escalated.breached and escalated.assigned_role == "director-general"


# -- the Management Development Working Group (seed 001 lines 3875-3897) ------------------------

PLANNING = "planning-budget-transformation"


async def test_the_management_development_working_group_meets_as_a_commission(engine):
    definition = engine.book.latest["management-development-working-group"]
    assert definition.form == "ostan.common.v1.CommissionMeeting" and definition.opens()
    secretary = staff("sec-p", PLANNING, "secretary")
    members = [{"name": n, "organisation": "کمیته"} for n in ("الف", "ب", "ج")]
    meeting = {"commission": "کارگروه توسعه مدیریت", "meeting_number": 1, "scheduled_for": "1405/02/10",
               "members": members, "agenda": ["پیشنهاد کمیته‌های چهارگانه"]}
    case = (await engine.start(secretary, "planning-budget-transformation-02", meeting, key())).message
    assert (case.definition, case.state) == ("management-development-working-group", "planned")
    with pytest.raises(PermissionDenied):  # another office's secretary
        await engine.start(staff("sec-x", OFFICE, "secretary"), "planning-budget-transformation-02", meeting, key())


# -- in-service training (seed 001 lines 4019-4060) ---------------------------------------------

TRAINER = staff("train-1", PLANNING, "training-expert")
HEAD_OF_TRAINING = staff("train-head", PLANNING, "head-of-training")
COURSE = {"course_title": "آشنایی با قانون مدیریت خدمات کشوری", "year": 1405, "stated_needs": ["حقوقی"]}


async def _course_with_calendar(engine, delivery):
    case = (await engine.start(TRAINER, "planning-budget-transformation-09", {**COURSE, "delivery": delivery}, key())).message
    case = await attach(engine, TRAINER, case, "needs-summary")
    return await step(engine, TRAINER, case, "consolidate-needs")


async def test_an_in_house_course_is_taught_examined_and_certified(engine):
    case = await _course_with_calendar(engine, "COURSE_DELIVERY_IN_HOUSE")
    with pytest.raises(InvalidArgument) as caught:  # the in-house branch signs no contract
        await step(engine, HEAD_OF_TRAINING, case, "sign-outsourcing-contract", contractor="x", starts_on="1405/03/01")
    assert "rule outsourced-branch" in caught.value.message and "seed 001 lines 4027-4043" in caught.value.message
    case = await step(engine, TRAINER, case, "choose-instructors", instructors=["دکتر رضایی"], starts_on="1405/03/01")
    case = await step(engine, TRAINER, case, "open-registration")
    case = await step(engine, TRAINER, case, "hold-course", participants=["الف", "ب"])
    case = await step(engine, TRAINER, case, "hold-exam", passed=["الف"])
    case = await step(engine, HEAD_OF_TRAINING, case, "issue-certificates")
    assert (case.state, case.outcome) == ("certified", "delivered")


async def test_an_outsourced_course_is_recorded_in_jam_before_its_certificates(engine):
    case = await _course_with_calendar(engine, "COURSE_DELIVERY_OUTSOURCED")
    with pytest.raises(InvalidArgument, match="in-house-branch"):
        await step(engine, TRAINER, case, "choose-instructors", instructors=["x"], starts_on="1405/03/01")
    case = await attach(engine, HEAD_OF_TRAINING, case, "outsourcing-contract")
    case = await step(engine, HEAD_OF_TRAINING, case, "sign-outsourcing-contract", contractor="موسسه آموزشی", starts_on="1405/03/01")
    case = await step(engine, TRAINER, case, "open-registration")
    case = await step(engine, TRAINER, case, "hold-course", participants=["الف"])
    with pytest.raises(InvalidArgument, match="exam-in-house"):
        await step(engine, TRAINER, case, "hold-exam", passed=["الف"])
    case = await attach(engine, TRAINER, case, "attendance-and-grades")
    case = await step(engine, TRAINER, case, "receive-results", passed=["الف"])
    with pytest.raises(FailedPrecondition):  # not certified before it is in JAM
        await step(engine, HEAD_OF_TRAINING, case, "issue-certificates")
    case = await step(engine, TRAINER, case, "record-in-jam", jam_reference="۵۵")
    case = await step(engine, HEAD_OF_TRAINING, case, "issue-certificates")
    assert case.outcome == "delivered"


async def test_a_course_is_cancelled_or_its_needs_survey_overdue(engine, clock):
    with pytest.raises(InvalidArgument):  # how it is delivered is part of the plan
        await engine.start(TRAINER, "in-service-training", COURSE, key())
    case = await _course_with_calendar(engine, "COURSE_DELIVERY_IN_HOUSE")
    with pytest.raises(InvalidArgument):
        await step(engine, HEAD_OF_TRAINING, case, "cancel")
    assert (await step(engine, HEAD_OF_TRAINING, case, "cancel", "بودجه ندارد")).outcome == "withdrawn"
    case = (await engine.start(TRAINER, "in-service-training", {**COURSE, "delivery": "COURSE_DELIVERY_IN_HOUSE"}, key())).message
    await assert_breach_escalates(engine, clock, case, "supervisor", TRAINER)
    assert (await engine.get(TRAINER, case.code)).assigned_role == "supervisor"


# -- the credit agreements (seed 001 lines 4118-4158 and 4168-4188) -----------------------------

BUDGET = staff("budget-1", PLANNING, "budget-expert")
COMPTROLLER_P = staff("comp-1", PLANNING, "comptroller")
GOVERNOR_P = staff("gov-1", PLANNING, "governor")


async def test_the_current_credit_agreement_from_forecast_to_exchange_with_the_governors_correction(engine):
    case = (await engine.start(BUDGET, "planning-budget-transformation-13", {"year": 1405}, key())).message
    case = await step(engine, BUDGET, case, "forecast", forecast_rials=900_000_000_000)
    case = await step(engine, BUDGET, case, "record-mpo-notification", notified_rials="۸۰۰۰۰۰۰۰۰۰۰۰", notification_letter="۱۲/۴")
    case = await step(engine, BUDGET, case, "dispute-notification", "ارقام با پیش‌بینی مغایرت دارد")
    assert case.state == "negotiating"
    case = await step(engine, BUDGET, case, "record-mpo-notification", notified_rials=850_000_000_000, notification_letter="۱۳/۴")
    with pytest.raises(InvalidArgument, match="documents"):
        await step(engine, BUDGET, case, "upload-to-saba", saba_reference="س-۱")
    case = await attach(engine, BUDGET, case, "agreement-forms")
    case = await step(engine, BUDGET, case, "upload-to-saba", saba_reference="س-۱")
    case = await step(engine, COMPTROLLER_P, case, "comptroller-approves")
    case = await attach(engine, BUDGET, case, "agreement-printout")
    case = await step(engine, BUDGET, case, "receive-printout")
    case = await step(engine, GOVERNOR_P, case, "governor-returns", "برنامه ۲ اصلاح شود")
    assert case.state == "correcting"
    case = await step(engine, BUDGET, case, "receive-printout")
    case = await step(engine, GOVERNOR_P, case, "governor-approves")
    case = await step(engine, BUDGET, case, "exchange", agreement_number="م-۱۴۰۵-۱")
    assert (case.state, case.outcome) == ("exchanged", "closed")


async def test_the_capital_credit_agreement_from_forecast_to_exchange(engine, clock):
    case = (await engine.start(BUDGET, "planning-budget-transformation-14", {"year": 1405}, key())).message
    case = await step(engine, BUDGET, case, "forecast", forecast_rials=500)
    case = await step(engine, BUDGET, case, "record-mpo-notification", notified_rials=400, notification_letter="۱")
    case = await attach(engine, BUDGET, case, "spending-report", "agreement-printout")
    case = await step(engine, BUDGET, case, "receive-spending-report")
    with pytest.raises(InvalidArgument):
        await step(engine, BUDGET, case, "receive-printout")
    case = await step(engine, BUDGET, case, "receive-printout", monitoring_system_reference="ن-۴")
    with pytest.raises(PermissionDenied):
        await step(engine, BUDGET, case, "governor-approves")
    case = await step(engine, GOVERNOR_P, case, "governor-returns", "اصلاح شود")
    case = await step(engine, BUDGET, case, "receive-printout", monitoring_system_reference="ن-۵")
    case = await step(engine, GOVERNOR_P, case, "governor-approves")
    case = await step(engine, BUDGET, case, "exchange", agreement_number="ت-۱")
    assert case.outcome == "closed"
    late = (await engine.start(BUDGET, "capital-credit-agreement", {"year": 1406}, key())).message
    await assert_breach_escalates(engine, clock, late, "supervisor", BUDGET)
    assert (await engine.get(BUDGET, late.code)).breached


# -- attendance (seed 001 lines 4441-4450) ------------------------------------------------------


async def test_a_months_attendance_goes_to_finance_after_the_shortfalls_are_answered(engine, clock):
    with pytest.raises(InvalidArgument) as caught:
        await engine.start(HR, "administrative-financial-14", {"year": 1405, "month": 13, "unit": "ستاد"}, key())
    assert "rule month-of-year" in caught.value.message
    case = (await engine.start(HR, "administrative-financial-14", {"year": 1405, "month": "۱", "unit": "ستاد"}, key())).message
    with pytest.raises(InvalidArgument, match="documents"):
        await step(engine, HR, case, "notify-staff", staff_with_shortfalls=["الف"])
    case = await attach(engine, HR, case, "chargoon-report", "corrected-report")
    case = await step(engine, HR, case, "notify-staff", staff_with_shortfalls=["الف"])
    case = await step(engine, HR, case, "record-answers", answers="مرخصی ثبت نشده بود")
    case = await step(engine, HR, case, "send-to-finance")
    assert (case.state, case.outcome) == ("sent-to-finance", "delivered")
    quiet = (await engine.start(HR, "attendance", {"year": 1405, "month": 2, "unit": "ستاد"}, key())).message
    quiet = await attach(engine, HR, quiet, "chargoon-report")
    assert (await step(engine, HR, quiet, "nothing-missing")).state == "correcting"
    await assert_breach_escalates(engine, clock, quiet, "director-general")


# -- recruitment and hiring (seed 001 lines 4561-4591) ------------------------------------------

SELECTION = staff("sel-1", OFFICE, "selection-core")
CANDIDATES = ["0012345679", "0012345687", "0012345695", "0012345709", "0012345717", "0012345725"]


async def test_a_recruitment_round_introduces_three_times_and_shortlists_twice_the_capacity(engine):
    case = (await engine.start(HR, "administrative-financial-21", {"permit_reference": "م/۱", "capacity": 2,
                                                                    "posts": ["کارشناس حقوقی"]}, key())).message
    case = await step(engine, HR, case, "report-posts")
    case = await attach(engine, HR, case, "moi-introduced-list")
    with pytest.raises(InvalidArgument) as caught:
        await step(engine, HR, case, "receive-introduced", introduced=CANDIDATES[:5])
    assert "rule three-times-capacity" in caught.value.message and "seed 001 line 4573" in caught.value.message
    case = await step(engine, HR, case, "receive-introduced", introduced=CANDIDATES)
    with pytest.raises(InvalidArgument, match="twice-capacity"):
        await step(engine, HR, case, "send-to-selection", shortlisted=CANDIDATES[:3])
    case = await step(engine, HR, case, "send-to-selection", shortlisted=CANDIDATES[:4])
    with pytest.raises(PermissionDenied):
        await step(engine, HR, case, "choose-hires", hired=CANDIDATES[:2])
    case = await step(engine, SELECTION, case, "choose-hires", hired=CANDIDATES[:2])
    case = await attach(engine, HR, case, "background-and-health", "decree")
    case = await step(engine, HR, case, "record-documents", karmand_iran_reference="ک-۹")
    case = await step(engine, HR, case, "issue-decree", started_on="1405/06/01")
    assert (case.state, case.outcome) == ("hired", "closed")


async def test_a_recruitment_round_ends_without_a_hire_or_overdue(engine, clock):
    with pytest.raises(InvalidArgument, match="capacity-positive"):
        await engine.start(HR, "recruitment", {"permit_reference": "م/۱", "capacity": 0, "posts": ["x"]}, key())
    case = (await engine.start(HR, "recruitment", {"permit_reference": "م/۲", "capacity": 1, "posts": ["x"]}, key())).message
    case = await step(engine, HR, case, "report-posts")
    assert (await step(engine, HR, case, "close-without-hire", "فراخوان لغو شد")).outcome == "refused"
    late = (await engine.start(HR, "recruitment", {"permit_reference": "م/۳", "capacity": 1, "posts": ["x"]}, key())).message
    await assert_breach_escalates(engine, clock, late, "director-general")


# -- KOMAK (seed 001 lines 4798-4812) -----------------------------------------------------------

FINANCE = staff("fin-1", OFFICE, "finance-expert")
COMPTROLLER = staff("comp-2", OFFICE, "comptroller")
GRANT = {"beneficiary": "موسسه خیریه نمونه", "beneficiary_id": "۱۴۰۰۱۲۳۴۵۶۷", "amount_rials": 5_000_000_000}


async def test_a_grant_is_recorded_in_komak_approved_and_reported(engine, clock):
    case = (await engine.start(FINANCE, "administrative-financial-41", GRANT, key())).message
    case = await attach(engine, FINANCE, case, "beneficiary-documents", "accounting-voucher")
    case = await step(engine, FINANCE, case, "register-in-komak", komak_reference="ک/۱")
    case = await step(engine, COMPTROLLER, case, "comptroller-returns", "اساسنامه امضا ندارد")
    assert case.state == "registering"
    case = await step(engine, FINANCE, case, "register-in-komak", komak_reference="ک/۲")
    case = await step(engine, COMPTROLLER, case, "comptroller-approves")
    case = await step(engine, FINANCE, case, "attach-to-voucher", voucher_number="۷۷")
    case = await step(engine, FINANCE, case, "send-reports", sent_to=["دیوان محاسبات"])
    assert (case.state, case.outcome) == ("reported", "delivered")
    late = (await engine.start(FINANCE, "komak-registration", GRANT, key())).message
    await assert_breach_escalates(engine, clock, late, "director-general")


# -- repair and maintenance (seed 001 lines 4962-4999) ------------------------------------------

TECHNICIAN = staff("tech-1", OFFICE, "technician")
BUYER = staff("buyer-1", OFFICE, "purchasing-agent")
REPAIR = {"requesting_unit": "دفتر استاندار", "system": "سرمایشی", "description": "کولر اتاق جلسات کار نمی‌کند"}


async def test_a_repair_with_parts_in_stock_or_bought(engine):
    case = (await engine.start(CLERK, "administrative-financial-51", REPAIR, key())).message
    case = await step(engine, SUPPORT, case, "parts-in-stock", parts=["کمپرسور"])
    assert case.assigned_role == "storekeeper"
    case = await step(engine, STOREKEEPER, case, "hand-over-parts")
    case = await step(engine, TECHNICIAN, case, "record-repair", work_done="کمپرسور تعویض شد")
    assert (case.state, case.outcome) == ("repaired", "delivered")
    case = (await engine.start(CLERK, "repair-maintenance", REPAIR, key())).message
    case = await step(engine, SUPPORT, case, "parts-to-buy", parts=["خازن"])
    with pytest.raises(PermissionDenied):
        await step(engine, STOREKEEPER, case, "hand-over-purchased-parts", invoice_number="۱")
    case = await step(engine, BUYER, case, "hand-over-purchased-parts", invoice_number="ف-۱")
    assert (await step(engine, TECHNICIAN, case, "record-repair", work_done="خازن تعویض شد")).state == "repaired"


async def test_a_repair_request_needs_no_repair_is_corrected_or_overdue(engine, clock):
    case = (await engine.start(CLERK, "repair-maintenance", REPAIR, key())).message
    case = await step(engine, SUPPORT, case, "request-correction", "محل دستگاه مشخص نیست")
    case = await step(engine, CLERK, case, "resubmit")
    case = await step(engine, SUPPORT, case, "no-repair-needed", finding="فیلتر تمیز شد؛ نیازی به تعمیر نیست")
    assert (case.state, case.outcome) == ("no-repair-needed", "closed")
    late = (await engine.start(CLERK, "repair-maintenance", REPAIR, key())).message
    await assert_breach_escalates(engine, clock, late, "director-general")
