"""The political service's own processes (services/political/processes), each walked through the
real case engine against a real database: happy paths, refusals, corrections, SLA breaches and
every guard the definitions name (the error must name the rule and its source)."""

from __future__ import annotations

from datetime import UTC

import pytest

from ostan.common.v1 import case_pb2
from ostan.political.v1 import forms_pb2  # noqa: F401 — registers the forms
from ostan_kit.runtime.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from ostan_kit.security.actors import Actor
from tests.unit.cases_support import answer_inquiries, breach, citizen, key, staff, start

SERVICE = "political"
PDF = b"%PDF-1.4 political"

POL = "political-elections-divisions"
SEC = "security-law-enforcement"
PD = "passive-defence"

# Valid national codes (check digit included).
CODES = [
    "0012345679", "0012345687", "0012345695", "0012345709", "0012345717", "0012345725",
    "0012345733", "0012345741", "0012345751", "0012345768", "0012345776", "0012345784",
]
APPLICANT_CODE = "0084575948"
CITIZEN = citizen(APPLICANT_CODE)
STRANGER = citizen("0067749828", "دیگری")


def officer(office: str, *roles: str) -> Actor:
    return staff(f"{office}:{'+'.join(roles)}", office, *roles, name="کارمند")


async def act(engine, actor, case, action, comment="", **data):
    return (await engine.act(actor, case.code, action, 0, comment, data, key())).message


async def attach(engine, actor, case, *kinds):
    for kind in kinds:
        answer = await engine.attach(actor, case.code, kind, f"{kind}.pdf", "application/pdf", PDF + kind.encode(), key())
    return answer.message.case


async def refused(engine, actor, case, action, rule, source, comment="", **data):
    """The action is refused by the guard ``rule``; the error names the rule and its source."""
    with pytest.raises(InvalidArgument) as caught:
        await act(engine, actor, case, action, comment, **data)
    assert f"rule {rule}" in caught.value.message and source in caught.value.message
    return caught.value


async def breaches(engine, clock, case, days=40):
    """Move the clock past the state's SLA: the case escalates to the supervisor role."""
    escalated = await breach(engine, clock, case, days, officer(case_office(engine, case), "clerk"))
    assert escalated.state == case.state


def case_office(engine, case) -> str:
    definition = engine.book.version(case.definition, case.process_version)
    return engine.catalogue[definition.catalogue[0]].office


# -- the assembly permit (political-elections-divisions-02) ------------------------------------

COUNTY = officer(POL, "county-governorate")
POL_CLERK = officer(POL, "clerk")
POL_HEAD = officer(POL, "head-of-office")
GOVERNOR = officer(POL, "governor")


def assembly(indoor: bool, held_on: str) -> dict:
    return {
        "full_name": "مریم کریمی",
        "national_code": APPLICANT_CODE,
        "mobile": "09121234567",
        "organisation": "انجمن صنفی معلمان",
        "subject": "بزرگداشت روز معلم",
        "county": "قزوین",
        "venue": "سالن اجتماعات" if indoor else "میدان آزادی",
        "indoor": indoor,
        "held_on": held_on,
        "start_time": "10:00",
        "expected_attendees": 300,
    }


async def test_an_indoor_gathering_is_a_notice_two_days_ahead_not_a_permit(engine):
    with pytest.raises(InvalidArgument) as caught:
        await start(engine, CITIZEN, POL + "-02", assembly(True, "1405/01/30"))
    assert "rule indoor-notice-two-days-ahead" in caught.value.message
    assert "seed 001 line 753" in caught.value.message
    case = await start(engine, CITIZEN, POL + "-02", assembly(True, "1405/02/01"))
    assert (case.definition, case.state, case.assigned_role) == ("assembly-permit", "submitted", "county-governorate")
    # An indoor gathering gets no permit: it cannot go to the county governorate's opinion.
    await refused(engine, COUNTY, case, "county-agrees", "indoor-needs-no-permit", "seed 001 line 753", county_opinion="x")
    case = await act(engine, COUNTY, case, "record-indoor-notice")
    assert (case.state, case.outcome) == ("notice-recorded", "delivered")


async def test_an_outdoor_assembly_needs_no_notice_period_but_a_permit(engine):
    case = await start(engine, CITIZEN, "assembly-permit", assembly(False, "1405/01/30"))
    await refused(engine, COUNTY, case, "record-indoor-notice", "outdoor-needs-permit", "seed 001 lines 725–731")
    case = await act(engine, COUNTY, case, "county-agrees", county_opinion="موافق")
    assert (case.state, case.assigned_role) == ("governorate-review", "head-of-office")
    with pytest.raises(PermissionDenied):
        await act(engine, COUNTY, case, "grant-permit", permit_number="1")
    case = await act(engine, POL_HEAD, case, "grant-permit", permit_number="۱۲۳/ت")
    assert (case.state, case.outcome) == ("permit-issued", "granted")
    history = [entry.action for entry in await engine.history(CITIZEN, case.code)]
    assert history == ["start", "county-agrees", "grant-permit"]


async def test_the_county_governorate_refuses_or_asks_for_a_correction(engine):
    case = await start(engine, CITIZEN, "assembly-permit", assembly(False, "1405/02/10"))
    with pytest.raises(InvalidArgument):  # a correction request needs its comment
        await act(engine, COUNTY, case, "request-correction")
    case = await act(engine, COUNTY, case, "request-correction", "مسیر راهپیمایی مشخص نیست")
    assert case.assigned_role == "applicant"
    with pytest.raises(NotFound):  # another citizen does not even see the case
        await act(engine, STRANGER, case, "resubmit")
    case = await act(engine, CITIZEN, case, "resubmit")
    with pytest.raises(InvalidArgument):  # a refusal gives its reason
        await act(engine, COUNTY, case, "county-refuses")
    case = await act(engine, COUNTY, case, "county-refuses", reason="مخالفت فرمانداری")
    assert (case.state, case.outcome) == ("refused", "refused")


async def test_after_the_governorate_refuses_the_applicant_may_object_to_the_moi_political_deputy(engine):
    definition = engine.book.latest["assembly-permit"]
    assert definition.action("object").inquiries == ["moi-political-deputy-objection"]
    outcomes = []
    for then in ("moi-agrees", "moi-disagrees", "accept-refusal"):
        case = await start(engine, CITIZEN, "assembly-permit", assembly(False, "1405/02/10"))
        case = await act(engine, COUNTY, case, "county-agrees", county_opinion="موافق")
        case = await act(engine, POL_HEAD, case, "governorate-refuses", reason="مخالفت")
        assert (case.state, case.assigned_role) == ("objection-open", "applicant")
        if then == "accept-refusal":
            case = await act(engine, CITIZEN, case, "accept-refusal")
        else:
            case = await act(engine, CITIZEN, case, "object", "اعتراض دارم")
            assert (case.state, case.assigned_role) == ("moi-review", "clerk")
            data = {"moi_opinion": "نظر معاونت سیاسی"}
            if then == "moi-agrees":
                data["permit_number"] = "۴۵۶"
            case = await act(engine, POL_CLERK, case, then, **data)
        outcomes.append((case.state, case.outcome))
    assert outcomes == [("permit-issued", "granted"), ("refused", "refused"), ("refused", "refused")]


async def test_an_assembly_request_is_withdrawn_and_an_overdue_one_escalates(engine, clock):
    case = await start(engine, CITIZEN, "assembly-permit", assembly(False, "1405/03/10"))
    withdrawn = await act(engine, CITIZEN, case, "withdraw")
    assert withdrawn.outcome == "withdrawn"
    case = await start(engine, CITIZEN, "assembly-permit", assembly(False, "1405/03/10"))
    await breaches(engine, clock, case)


# -- the organisation permit (political-elections-divisions-01) --------------------------------

def organisation(founders: int = 7, copies: int = 9) -> dict:
    return {
        "full_name": "علی احمدی",
        "national_code": APPLICANT_CODE,
        "mobile": "09121234567",
        "organisation_name": "انجمن صنفی مهندسان ناظر",
        "goals": "صنفی، غیرسیاسی و غیرانتفاعی",
        "founder_national_codes": CODES[:founders],
        "board_national_codes": CODES[:3],
        "signed_copies": copies,
    }


async def test_an_organisation_needs_seven_founders_and_nine_signed_copies(engine):
    for form, rule, source in (
        (organisation(founders=6), "at-least-seven-founders", "seed 001 line 697"),
        (organisation(copies=8), "nine-signed-copies", "seed 001 line 695"),
    ):
        with pytest.raises(InvalidArgument) as caught:
            await start(engine, CITIZEN, POL + "-01", form)
        assert f"rule {rule}" in caught.value.message and source in caught.value.message
    with pytest.raises(InvalidArgument):  # a founder listed twice
        await start(engine, CITIZEN, POL + "-01", {**organisation(), "founder_national_codes": CODES[:6] + CODES[:1]})


async def test_an_organisation_permit_from_vetting_to_the_governors_signature(engine):
    case = await start(engine, CITIZEN, POL + "-01", organisation())
    assert case.definition == "organisation-permit"
    with pytest.raises(InvalidArgument, match="documents"):
        await act(engine, POL_CLERK, case, "send-inquiries")
    case = await attach(engine, CITIZEN, case, "statute", "signed-application", "founders-details")
    case = await act(engine, POL_CLERK, case, "send-inquiries")
    await answer_inquiries(engine, case.code)
    assert engine.book.latest["organisation-permit"].action("send-inquiries").inquiries == [
        "four-authorities-founders-vetting"
    ]
    case = await act(engine, POL_CLERK, case, "refer-to-governor", vetting_summary="پاسخ استعلام‌ها مثبت")
    assert case.assigned_role == "governor"
    with pytest.raises(InvalidArgument, match="documents"):
        await act(engine, GOVERNOR, case, "issue-permit", permit_number="۷۸")
    case = await attach(engine, GOVERNOR, case, "permit")
    case = await act(engine, GOVERNOR, case, "issue-permit", permit_number="۷۸")
    assert (case.state, case.outcome) == ("permit-issued", "granted")


async def test_the_governor_sends_the_file_back_for_correction_and_the_corrected_founders_are_checked(engine, clock):
    case = await start(engine, CITIZEN, POL + "-01", organisation())
    case = await attach(engine, CITIZEN, case, "statute", "signed-application", "founders-details")
    case = await act(engine, POL_CLERK, case, "send-inquiries")
    await answer_inquiries(engine, case.code)
    case = await act(engine, POL_CLERK, case, "refer-to-governor", vetting_summary="یک مؤسس رد شد")
    case = await act(engine, GOVERNOR, case, "request-correction", "یک مؤسس جایگزین شود")
    assert (case.state, case.assigned_role) == ("correction-requested", "applicant")
    await refused(engine, CITIZEN, case, "resubmit", "at-least-seven-founders", "seed 001 line 697",
                  founder_national_codes=CODES[:6])
    await refused(engine, CITIZEN, case, "resubmit", "nine-signed-copies", "seed 001 line 695", signed_copies=5)
    case = await act(engine, CITIZEN, case, "resubmit", founder_national_codes=CODES[1:8], signed_copies=9)
    assert case.state == "resubmitted"
    case = await act(engine, POL_CLERK, case, "send-inquiries")
    await answer_inquiries(engine, case.code)
    case = await act(engine, POL_CLERK, case, "refer-to-governor", vetting_summary="مثبت")
    case = await act(engine, GOVERNOR, case, "refuse", reason="ماهیت سیاسی")
    assert case.outcome == "refused"
    other = await start(engine, CITIZEN, POL + "-01", organisation())
    assert (await act(engine, CITIZEN, other, "withdraw")).outcome == "withdrawn"
    other = await start(engine, CITIZEN, POL + "-01", organisation())
    await breaches(engine, clock, other)


# -- the party licence (political-elections-divisions-05) --------------------------------------

PARTY = {
    "full_name": "حسن رضایی",
    "national_code": APPLICANT_CODE,
    "mobile": "09121234567",
    "party_name": "حزب نمونه",
    "portal_reference": "MOI-1405-778",
    "founder_national_codes": CODES[:5],
    "address": "قزوین، خیابان پیروزی",
}


async def _party_at_commission(engine):
    case = await start(engine, CITIZEN, POL + "-05", PARTY)
    assert (case.definition, case.state, case.assigned_role) == ("party-licence", "filed-online", "applicant")
    with pytest.raises(InvalidArgument, match="documents"):
        await act(engine, POL_CLERK, case, "receive-documents")
    case = await attach(engine, POL_CLERK, case, "moi-forms", "moi-five-items")
    case = await act(engine, POL_CLERK, case, "receive-documents")
    with pytest.raises(FailedPrecondition):  # no commission before the vetting
        await act(engine, POL_CLERK, case, "refer-to-commission", vetting_summary="x")
    case = await act(engine, POL_CLERK, case, "send-inquiries")
    await answer_inquiries(engine, case.code)
    case = await act(engine, POL_CLERK, case, "refer-to-commission", vetting_summary="پاسخ مراجع سه‌گانه")
    return await attach(engine, POL_CLERK, case, "commission-opinion")


async def test_a_party_licence_from_the_portal_through_the_article_10_commission(engine):
    definition = engine.book.latest["party-licence"]
    assert definition.action("send-inquiries").inquiries == ["three-authorities-founders-vetting"]
    assert definition.action("refer-to-commission").inquiries == ["moi-article-10-parties-commission"]
    case = await _party_at_commission(engine)
    case = await act(engine, POL_CLERK, case, "commission-approves")
    assert (case.state, case.assigned_role) == ("approved", "governor")
    case = await act(engine, GOVERNOR, case, "issue-permit", permit_number="ش/۱۲")
    assert (case.state, case.outcome) == ("permit-issued", "granted")


async def test_the_commission_refuses_a_party_licence(engine):
    case = await _party_at_commission(engine)
    case = await act(engine, POL_CLERK, case, "commission-refuses", reason="مخالفت کمیسیون")
    assert (case.state, case.outcome) == ("refused", "refused")


async def test_a_party_licence_file_is_corrected_withdrawn_or_overdue(engine, clock):
    case = await start(engine, CITIZEN, POL + "-05", PARTY)
    case = await attach(engine, CITIZEN, case, "moi-forms", "moi-five-items")
    case = await act(engine, POL_CLERK, case, "receive-documents")
    case = await act(engine, POL_CLERK, case, "request-correction", "فرم شماره ۲ ناقص است")
    case = await act(engine, CITIZEN, case, "resubmit")
    assert case.state == "documents-received"
    assert (await act(engine, CITIZEN, case, "withdraw")).outcome == "withdrawn"
    case = await start(engine, CITIZEN, POL + "-05", PARTY)
    case = await attach(engine, CITIZEN, case, "moi-forms", "moi-five-items")
    case = await act(engine, POL_CLERK, case, "receive-documents")
    await breaches(engine, clock, case)


# -- the party's dissolution (political-elections-divisions-06) --------------------------------

DISSOLUTION = {
    "party_name": "حزب نمونه",
    "licence_number": "۱۲۳۴",
    "violation": "عدم برگزاری مجمع عمومی",
    "legal_basis": "قانون نحوه فعالیت احزاب و گروه‌های سیاسی ۱۳۹۴",
}


async def test_a_party_is_dissolved_after_the_court_and_the_parties_commission(engine):
    with pytest.raises(PermissionDenied):  # the office opens the file, not a citizen
        await start(engine, CITIZEN, POL + "-06", DISSOLUTION)
    case = await start(engine, POL_CLERK, POL + "-06", DISSOLUTION)
    assert (case.definition, case.state) == ("party-dissolution", "under-review")
    with pytest.raises(PermissionDenied):
        await act(engine, POL_CLERK, case, "report-to-moi", report_summary="x")
    case = await act(engine, POL_HEAD, case, "report-to-moi", report_summary="اعلام تخلف")
    with pytest.raises(InvalidArgument, match="documents"):
        await act(engine, POL_CLERK, case, "record-court-ruling", ruling_number="۹۹", ruled_on="1405/02/01")
    case = await attach(engine, POL_CLERK, case, "court-ruling")
    case = await act(engine, POL_CLERK, case, "record-court-ruling", ruling_number="۹۹", ruled_on="1405/02/01")
    case = await act(engine, POL_CLERK, case, "record-licence-suspension", commission_letter="نامه کمیسیون احزاب")
    case = await attach(engine, POL_CLERK, case, "notice")
    case = await act(engine, POL_CLERK, case, "serve-notice", served_on="1405/02/10")
    assert (case.state, case.outcome) == ("dissolved", "closed")


async def test_a_dissolution_file_is_dismissed_or_overdue(engine, clock):
    case = await start(engine, POL_CLERK, POL + "-06", DISSOLUTION)
    with pytest.raises(InvalidArgument):
        await act(engine, POL_HEAD, case, "dismiss")
    assert (await act(engine, POL_HEAD, case, "dismiss", "تخلفی احراز نشد")).state == "dismissed"
    case = await start(engine, POL_CLERK, POL + "-06", DISSOLUTION)
    case = await act(engine, POL_HEAD, case, "report-to-moi", report_summary="اعلام تخلف")
    assert (await act(engine, POL_CLERK, case, "court-does-not-dissolve", "حکم انحلال صادر نشد")).state == "dismissed"
    case = await start(engine, POL_CLERK, POL + "-06", DISSOLUTION)
    await breaches(engine, clock, case)


# -- Majlis and Assembly of Experts candidates (political-elections-divisions-16) --------------

BOARD = officer(POL, "executive-board")
CANDIDATE = citizen(CODES[0], "داوطلب")


def majlis(election: str, must_resign: bool = False) -> dict:
    return {
        "full_name": "رضا موسوی",
        "national_code": CODES[0],
        "mobile": "09121234567",
        "election": election,
        "electoral_district": "قزوین، آبیک و البرز",
        "education": "کارشناسی ارشد",
        "must_resign": must_resign,
    }


async def _registered(engine, election, must_resign=False):
    case = await start(engine, POL_CLERK, POL + "-16", majlis(election, must_resign))
    assert (case.definition, case.applicant_id) == ("majlis-candidate-registration", CODES[0])
    case = await attach(engine, POL_CLERK, case, "questionnaire", "birth-certificate", "national-card", "education-certificate")
    if must_resign:
        await refused(engine, POL_CLERK, case, "enter-in-system", "resignation-letter-when-needed", "seed 001 line 1092")
        case = await act(engine, POL_CLERK, case, "enter-in-system", resignation_letter="استعفا ۱۴۰۴/۱۲/۱")
    else:
        case = await act(engine, POL_CLERK, case, "enter-in-system")
    assert case.assigned_role == "applicant"
    case = await act(engine, CANDIDATE, case, "confirm-printout")
    return await act(engine, POL_CLERK, case, "issue-receipt", receipt_number="R-1")


async def test_a_majlis_candidate_from_registration_to_the_published_list(engine):
    case = await _registered(engine, "NATIONAL_ELECTION_MAJLIS", must_resign=True)
    await refused(engine, POL_CLERK, case, "send-to-moi", "experts-branch-only", "seed 001 lines 1059–1063")
    case = await act(engine, POL_CLERK, case, "send-to-four-authorities")
    await answer_inquiries(engine, case.code)
    case = await act(engine, POL_CLERK, case, "refer-to-executive-board", vetting_summary="بدون سابقه")
    assert case.assigned_role == "executive-board"
    case = await act(engine, BOARD, case, "board-qualifies", minutes="صورتجلسه هیأت اجرایی")
    case = await act(engine, POL_CLERK, case, "record-final-announcement", announcement="اعلام قطعی وزارت کشور")
    case = await act(engine, POL_CLERK, case, "publish-in-list", notice_number="آ-۱", published_on="1405/02/20")
    assert (case.state, case.outcome) == ("listed", "granted")
    definition = engine.book.latest["majlis-candidate-registration"]
    assert definition.action("send-to-four-authorities").inquiries == ["four-authorities-candidate-vetting"]


async def test_a_majlis_candidate_is_disqualified_by_the_board_or_left_out_of_the_final_list(engine):
    case = await _registered(engine, "NATIONAL_ELECTION_MAJLIS")
    case = await act(engine, POL_CLERK, case, "send-to-four-authorities")
    await answer_inquiries(engine, case.code)
    case = await act(engine, POL_CLERK, case, "refer-to-executive-board", vetting_summary="سابقه")
    assert (await act(engine, BOARD, case, "board-disqualifies", reason="عدم احراز")).outcome == "refused"
    case = await _registered(engine, "NATIONAL_ELECTION_MAJLIS")
    case = await act(engine, POL_CLERK, case, "send-to-four-authorities")
    await answer_inquiries(engine, case.code)
    case = await act(engine, POL_CLERK, case, "refer-to-executive-board", vetting_summary="بدون سابقه")
    case = await act(engine, BOARD, case, "board-qualifies", minutes="صورتجلسه")
    assert (await act(engine, POL_CLERK, case, "record-exclusion", reason="هیأت مرکزی نظارت")).state == "disqualified"


async def test_an_assembly_of_experts_candidate_goes_to_the_guardian_council(engine):
    outcomes = []
    for then in ("guardian-council-qualifies", "guardian-council-disqualifies"):
        case = await _registered(engine, "NATIONAL_ELECTION_ASSEMBLY_OF_EXPERTS")
        await refused(engine, POL_CLERK, case, "send-to-four-authorities", "majlis-branch-only", "seed 001 lines 1059–1063")
        case = await act(engine, POL_CLERK, case, "send-to-moi")
        data = {"opinion": "تأیید"} if then.endswith("-qualifies") else {"reason": "عدم احراز"}
        case = await act(engine, POL_CLERK, case, then, **data)
        outcomes.append(case.state)
    assert outcomes == ["approved", "disqualified"]


async def test_a_majlis_candidate_asks_to_amend_the_printout_or_is_overdue(engine, clock):
    case = await start(engine, POL_CLERK, POL + "-16", majlis("NATIONAL_ELECTION_MAJLIS"))
    case = await attach(engine, POL_CLERK, case, "questionnaire", "birth-certificate", "national-card", "education-certificate")
    case = await act(engine, POL_CLERK, case, "enter-in-system")
    with pytest.raises(NotFound):  # only the candidate sees and confirms the print-out
        await act(engine, STRANGER, case, "confirm-printout")
    case = await act(engine, CANDIDATE, case, "ask-amendment", "مدرک تحصیلی اشتباه است")
    assert case.state == "registering"
    await breaches(engine, clock, case)


# -- city and village council candidates (political-elections-divisions-17, -18) ---------------

DISTRICT_BOARD = officer(POL, "executive-board")
SUPERVISION = officer(POL, "supervisory-board")
APPEAL = officer(POL, "appeal-board")


def council(election: str = "COUNCIL_ELECTION_VILLAGE") -> dict:
    return {
        "full_name": "زهرا محمدی",
        "national_code": CODES[0],
        "mobile": "09121234567",
        "election": election,
        "electoral_district": "بخش رامند",
        "no_criminal_record_number": "۱۴۰۵-۵۵۵",
    }


async def _at_board(engine, entry=POL + "-18", election="COUNCIL_ELECTION_VILLAGE"):
    case = await start(engine, POL_CLERK, entry, council(election))
    assert case.definition == "council-candidate-registration"
    with pytest.raises(InvalidArgument, match="documents"):
        await act(engine, POL_CLERK, case, "enter-in-system")
    case = await attach(engine, POL_CLERK, case, "no-criminal-record-certificate", "questionnaire")
    case = await act(engine, POL_CLERK, case, "enter-in-system")
    case = await act(engine, CANDIDATE, case, "confirm-printout")
    return await act(engine, POL_CLERK, case, "issue-receipt", receipt_number="R-2")


async def test_a_village_council_candidate_with_a_background_check_up_to_the_list(engine):
    case = await _at_board(engine)
    assert case.assigned_role == "executive-board"
    case = await act(engine, DISTRICT_BOARD, case, "refer-for-background-check")
    case = await act(engine, POL_CLERK, case, "record-background-results", results="بدون سابقه")
    assert case.state == "executive-board-review"
    case = await act(engine, DISTRICT_BOARD, case, "send-minutes-to-supervision", qualified=True, minutes="صورتجلسه")
    case = await act(engine, SUPERVISION, case, "confirm-qualification")
    case = await act(engine, POL_CLERK, case, "publish-in-list", notice_number="آ-۲", published_on="1405/02/25")
    assert (case.state, case.outcome) == ("listed", "granted")
    assert engine.book.latest["council-candidate-registration"].action("refer-for-background-check").inquiries == [
        "legal-authorities-background-check"
    ]


async def test_a_rejected_council_candidate_complains_to_the_county_supervisory_board(engine):
    outcomes = []
    for then in ("uphold-complaint", "dismiss-complaint", "accept-rejection"):
        case = await _at_board(engine, POL + "-17", "COUNCIL_ELECTION_CITY")
        case = await act(engine, DISTRICT_BOARD, case, "send-minutes-to-supervision", qualified=False, minutes="رد")
        case = await act(engine, SUPERVISION, case, "reject-qualification", reason="عدم احراز")
        assert (case.state, case.assigned_role) == ("rejected", "applicant")
        if then == "accept-rejection":
            case = await act(engine, CANDIDATE, case, then)
        else:
            with pytest.raises(InvalidArgument):  # the complaint states its grounds
                await act(engine, CANDIDATE, case, "complain")
            case = await act(engine, CANDIDATE, case, "complain", "صلاحیت دارم")
            case = await act(engine, APPEAL, case, then, opinion="نظر نهایی")
        outcomes.append(case.state)
    assert outcomes == ["approved", "disqualified", "disqualified"]


async def test_a_council_candidate_is_overdue_at_the_board(engine, clock):
    case = await _at_board(engine)
    await breaches(engine, clock, case)


# -- changing a national-division unit (political-elections-divisions-23) ----------------------

DISTRICT = officer(POL, "district-office")
DIVISION = {
    "full_name": "محمود اکبری",
    "national_code": APPLICANT_CODE,
    "mobile": "09121234567",
    "requester": "DIVISION_REQUESTER_DEHYAR",
    "change": "DIVISION_CHANGE_SEPARATION",
    "county": "تاکستان",
    "district": "ضیاءآباد",
    "units": ["روستای نمونه"],
    "description": "انتزاع روستا و الحاق به دهستان مجاور",
}


async def _at_office(engine):
    case = await start(engine, CITIZEN, POL + "-23", DIVISION)
    assert (case.definition, case.assigned_role) == ("national-division-change", "district-office")
    case = await attach(engine, CITIZEN, case, "request-documents")
    case = await act(engine, DISTRICT, case, "forward-to-county")
    return await act(engine, COUNTY, case, "forward-to-office", county_opinion="منطبق با قانون")


async def _at_governor(engine):
    case = await act(engine, POL_CLERK, await _at_office(engine), "accept-for-study")
    with pytest.raises(InvalidArgument, match="divisions-map"):
        await act(engine, POL_CLERK, case, "send-to-governor")
    case = await attach(engine, POL_CLERK, case, "field-visit-report", "divisions-map", "justification-study")
    return await act(engine, POL_CLERK, case, "send-to-governor")


async def test_a_division_change_climbs_six_levels_to_the_cabinet(engine):
    case = await _at_governor(engine)
    assert case.assigned_role == "governor"
    case = await act(engine, GOVERNOR, case, "governor-approves")
    case = await act(engine, POL_CLERK, case, "moi-approves", moi_letter="نامه دفتر تقسیمات کشوری")
    case = await act(engine, POL_CLERK, case, "cabinet-approves", resolution_number="۱۲۳۴۵", resolved_on="1405/06/01")
    assert (case.state, case.outcome) == ("enacted", "granted")
    levels = [entry.actor_role for entry in await engine.history(CITIZEN, case.code)]
    assert levels == ["applicant", "applicant", "district-office", "county-governorate", "clerk", "clerk", "clerk",
                      "clerk", "clerk", "governor", "clerk", "clerk"]
    definition = engine.book.latest["national-division-change"]
    assert definition.action("governor-approves").inquiries == ["moi-national-divisions-office"]
    assert definition.action("moi-approves").inquiries == ["cabinet-of-ministers"]


async def test_a_division_change_is_returned_for_correction(engine):
    case = await _at_office(engine)
    case = await act(engine, POL_CLERK, case, "return-for-correction", "مدارک ناقص")
    assert (case.state, case.assigned_role) == ("returned", "applicant")
    case = await act(engine, CITIZEN, case, "resubmit")
    assert case.state == "at-district-office"


async def test_a_division_change_stops_at_the_governor_the_ministry_or_the_cabinet(engine):
    states = []
    for level in ("governor", "moi", "cabinet"):
        case = await _at_governor(engine)
        if level == "governor":
            case = await act(engine, GOVERNOR, case, "governor-refuses", reason="مخالفت")
        else:
            case = await act(engine, GOVERNOR, case, "governor-approves")
            if level == "moi":
                case = await act(engine, POL_CLERK, case, "moi-refuses", reason="مخالفت وزارت کشور")
            else:
                case = await act(engine, POL_CLERK, case, "moi-approves", moi_letter="نامه")
                case = await act(engine, POL_CLERK, case, "cabinet-refuses", reason="عدم تصویب")
        states.append((case.state, case.outcome))
    assert states == [("refused", "refused")] * 3


async def test_a_division_change_is_overdue_at_the_district_office(engine, clock):
    case = await start(engine, CITIZEN, POL + "-23", DIVISION)
    await breaches(engine, clock, case)


# -- the drone flight permit (security-law-enforcement-02) -------------------------------------

SEC_CLERK = officer(SEC, "clerk")
SEC_HEAD = officer(SEC, "head-of-office")
DRONE_DOCUMENTS = ("drone-ownership-document", "pilot-licence", "pilot-birth-certificate", "pilot-national-card")


def drone(flight_on: str = "1405/02/05") -> dict:
    return {
        "full_name": "امیر حسینی",
        "national_code": APPLICANT_CODE,
        "mobile": "09121234567",
        "pilot_licence_number": "P-7788",
        "drone_model": "DJI Mavic 3",
        "drone_serial": "1581F5FHD",
        "county": "قزوین",
        "flight_area": "باغستان سنتی",
        "flight_on": flight_on,
        "purpose": "عکاسی هوایی",
    }


async def test_a_drone_flight_permit_with_its_documents(engine):
    with pytest.raises(InvalidArgument) as caught:
        await start(engine, CITIZEN, SEC + "-02", drone("1405/01/20"))
    assert "rule flight-not-in-the-past" in caught.value.message and "platform default" in caught.value.message
    case = await start(engine, CITIZEN, SEC + "-02", drone())
    assert (case.definition, case.assigned_role) == ("drone-flight-permit", "clerk")
    with pytest.raises(NotFound):  # another office's clerk does not see the case
        await act(engine, POL_CLERK, case, "start-coordination")
    with pytest.raises(InvalidArgument, match="documents"):
        await act(engine, SEC_CLERK, case, "start-coordination")
    case = await attach(engine, CITIZEN, case, *DRONE_DOCUMENTS)
    case = await act(engine, SEC_CLERK, case, "start-coordination")
    case = await act(engine, SEC_CLERK, case, "record-coordination", coordination_summary="هماهنگ شد")
    case = await act(engine, SEC_HEAD, case, "grant-permit", permit_number="پ-۱", conditions="ارتفاع حداکثر ۱۲۰ متر")
    assert (case.state, case.outcome) == ("permit-issued", "granted")


async def test_a_drone_flight_is_corrected_refused_withdrawn_or_overdue(engine, clock):
    case = await start(engine, CITIZEN, SEC + "-02", drone())
    case = await act(engine, SEC_CLERK, case, "request-correction", "سند پهپاد خوانا نیست")
    case = await act(engine, CITIZEN, case, "resubmit")
    case = await attach(engine, CITIZEN, case, *DRONE_DOCUMENTS)
    case = await act(engine, SEC_CLERK, case, "start-coordination")
    case = await act(engine, SEC_CLERK, case, "record-coordination", coordination_summary="منطقه ممنوعه")
    assert (await act(engine, SEC_HEAD, case, "refuse", reason="منطقه ممنوعه")).outcome == "refused"
    case = await start(engine, CITIZEN, SEC + "-02", drone())
    assert (await act(engine, CITIZEN, case, "withdraw")).outcome == "withdrawn"
    case = await start(engine, CITIZEN, SEC + "-02", drone())
    await breaches(engine, clock, case)


# -- the commissions, councils and committees ---------------------------------------------------

COMMISSIONS = {
    # slug: (office, the entries it binds)
    "sports-security-commission": (SEC, ["card-002-p01"]),
    "pyrotechnics-commission": (SEC, ["card-002-p02"]),
    "weapons-ammunition-commission": (SEC, ["card-002-p04"]),
    "ceremonial-firearms-committee": (SEC, ["card-002-p05"]),
    "election-security-committee": (SEC, ["card-002-p06"]),
    "organised-crime-commission": (SEC, ["card-002-p08"]),
    "cyberspace-security-commission": (SEC, ["card-002-p09"]),
    "internal-security-information-council": (SEC, ["card-002-p12"]),
    "provincial-security-council": (SEC, ["card-002-p13", "security-law-enforcement-04"]),
    "sustainable-security-subcommittee": (SEC, ["card-002-p16"]),
    "demining-commission": (SEC, ["card-002-p17"]),
    "border-security-development-commission": (SEC, ["card-002-p20"]),
    "document-forgery-commission": (SEC, ["card-002-p21"]),
    "theft-prevention-commission": (SEC, ["card-002-p22"]),
    "water-resources-protection-subcommittee": (SEC, ["card-002-p24"]),
    "exam-protection-commission": (SEC, ["card-002-p27", "security-law-enforcement-11"]),
    "passive-defence-council": (PD, ["passive-defence-06"]),
    "strata-security-commission": (POL, ["political-elections-divisions-12"]),
    "arbaeen-headquarters": (SEC, ["card-002-p03"]),
    "unforeseen-incidents-security-working-group": (SEC, ["card-002-p07"]),
    "deviant-groups-commission": (SEC, ["card-002-p15"]),
    "land-border-crossings-meetings": (SEC, ["card-002-p19"]),
    "security-disputes-meetings": (SEC, ["card-002-p25"]),
}
MEMBERS = [
    {"name": "الف", "organisation": "فرماندهی انتظامی"},
    {"name": "ب", "organisation": "اداره کل اطلاعات"},
    {"name": "ج", "organisation": "سپاه"},
]


def test_each_body_is_its_own_commission_bound_to_its_card(book):
    for slug, (_office, entries) in COMMISSIONS.items():
        definition = book.latest[slug]
        assert definition.catalogue == entries
        assert definition.form == "ostan.common.v1.CommissionMeeting"
        assert definition.title_en != "A commission meeting"
    assert {s for s, d in book.latest.items() if d.form == "ostan.common.v1.CommissionMeeting"} == set(COMMISSIONS)


async def test_every_bound_entry_opens_its_bodys_meeting_in_the_bodys_office(engine):
    for number, (slug, (office, entries)) in enumerate(sorted(COMMISSIONS.items()), 1):
        meeting = {"commission": slug, "meeting_number": number, "scheduled_for": "1405/02/10", "members": MEMBERS}
        for entry in entries:
            case = await start(engine, officer(office, "secretary"), entry, meeting)
            assert (case.process, case.definition, case.state) == (slug, slug, "planned")
        with pytest.raises(PermissionDenied):  # another office's secretary
            await start(engine, officer(PD if office != PD else SEC, "secretary"), entries[0], meeting)


@pytest.mark.parametrize("slug", ["exam-protection-commission", "passive-defence-council", "strata-security-commission"])
async def test_a_body_holds_a_meeting_from_invitation_to_its_report(engine, slug):
    # One body per office: every body extends the same pattern unchanged.
    office, entries = COMMISSIONS[slug]
    secretary, chair = officer(office, "secretary"), officer(office, "chair")
    meeting = {"commission": slug, "meeting_number": 1, "scheduled_for": "1405/02/10", "members": MEMBERS}
    case = await start(engine, secretary, entries[-1], meeting)
    case = await attach(engine, secretary, case, "invitation")
    case = await act(engine, secretary, case, "send-invitations")
    receipts = [{"member": m["name"], "received_on": "1405/02/05"} for m in MEMBERS]
    case = await act(engine, secretary, case, "confirm-receipts", receipts=receipts)
    case = await act(engine, chair, case, "open-meeting", attendees=["الف", "ب"])
    resolutions = [{"text": "تشدید کنترل", "owner": "فرماندهی انتظامی", "owner_role": "police-liaison",
                    "deadline": "1405/03/01"}]
    case = await act(engine, secretary, case, "record-minutes", minutes="صورتجلسه", resolutions=resolutions)
    case = await attach(engine, secretary, case, "signed-minutes")
    case = await act(engine, secretary, case, "distribute-minutes", sent_to=["اعضا", "وزارت کشور"])
    [resolution] = [c for c in (await engine.list(secretary, case_pb2.ListCasesRequest()))[0] if c.code != case.code]
    assert (resolution.process, resolution.assigned_role) == (f"{slug}-resolution", "police-liaison")
    await act(engine, officer(office, "police-liaison"), resolution, "report-done", report="انجام شد")
    case = await act(engine, secretary, case, "report-follow-up")
    assert (case.state, case.outcome) == ("reported", "closed")
    assert case.data["report"][0]["status"] == "done"


async def test_a_body_without_quorum_does_not_meet_and_a_meeting_can_be_cancelled(engine):
    secretary, chair = officer(SEC, "secretary"), officer(SEC, "chair")
    meeting = {"commission": "شورای تأمین", "meeting_number": 7, "scheduled_for": "1405/02/10", "members": MEMBERS}
    with pytest.raises(InvalidArgument, match="members-listed"):
        await start(engine, secretary, "provincial-security-council", {**meeting, "members": [{"name": "الف"}]})
    case = await start(engine, secretary, "provincial-security-council", meeting)
    case = await attach(engine, secretary, case, "invitation")
    case = await act(engine, secretary, case, "send-invitations")
    receipts = [{"member": m["name"], "received_on": "1405/02/05"} for m in MEMBERS]
    case = await act(engine, secretary, case, "confirm-receipts", receipts=receipts)
    await refused(engine, chair, case, "open-meeting", "quorum", "platform default", attendees=["الف"])
    case = await act(engine, chair, case, "cancel", "عدم حد نصاب")
    assert (case.state, case.outcome) == ("cancelled", "withdrawn")


# -- a party's county office (political-elections-divisions-03) --------------------------------

COUNTY_EXPERT = officer(POL, "county-governorate")
COUNTY_GOVERNOR = officer(POL, "county-governor")
BRANCH = {
    "full_name": "علی رضایی",
    "national_code": APPLICANT_CODE,
    "mobile": "09121234567",
    "party_name": "حزب نمونه",
    "party_licence_number": "۷۵۹۰۴",
    "county": "تاکستان",
    "office_address": "تاکستان، خیابان امام",
}
BRANCH_DOCUMENTS = ("form-1", "party-licence", "manifesto-and-statute", "form-2")


async def test_a_party_county_office_is_verified_within_a_week_and_signed_by_the_county_governor(engine, clock):
    case = await start(engine, CITIZEN, POL + "-03", BRANCH)
    assert (case.definition, case.state, case.assigned_role) == ("party-branch-office", "verifying", "county-governorate")
    # «حداکثر طی یک هفته» (line 795): 7 days by the day rule, Saturday 1405/01/29 → Saturday 02/05 ends.
    assert case.state_due_at.ToDatetime(UTC) == engine.calendar.deadline(clock.now, 7)
    with pytest.raises(InvalidArgument, match="documents"):
        await act(engine, COUNTY_EXPERT, case, "verify-documents")
    case = await attach(engine, CITIZEN, case, *BRANCH_DOCUMENTS)
    case = await act(engine, COUNTY_EXPERT, case, "verify-documents")
    assert (case.state, case.assigned_role) == ("verified", "county-governor")
    with pytest.raises(PermissionDenied):
        await act(engine, COUNTY_EXPERT, case, "issue-permit", permit_number="۱")
    case = await act(engine, COUNTY_GOVERNOR, case, "issue-permit", permit_number="د/۱۴")
    assert (case.state, case.outcome) == ("permit-issued", "granted")


async def test_a_party_county_office_is_corrected_refused_withdrawn_or_overdue(engine, clock):
    case = await start(engine, CITIZEN, POL + "-03", BRANCH)
    with pytest.raises(InvalidArgument):  # the items to correct are written out
        await act(engine, COUNTY_EXPERT, case, "request-correction")
    case = await act(engine, COUNTY_EXPERT, case, "request-correction", "فرم شماره ۲ ناقص است")
    assert case.assigned_role == "applicant"
    case = await act(engine, CITIZEN, case, "resubmit")
    assert case.state == "verifying"
    assert (await act(engine, COUNTY_EXPERT, case, "refuse", reason="پروانه حزب معتبر نیست")).outcome == "refused"
    case = await start(engine, CITIZEN, POL + "-03", BRANCH)
    assert (await act(engine, CITIZEN, case, "withdraw")).outcome == "withdrawn"
    case = await start(engine, CITIZEN, POL + "-03", BRANCH)
    await breaches(engine, clock, case, days=8)


# -- pyrotechnics permits (security-law-enforcement-09), decided by the commission ------------

SEC_SECRETARY = officer(SEC, "secretary")
PYRO_CLERK = officer(SEC, "clerk")
PYROTECHNICS = {
    "full_name": "حسن موسوی",
    "national_code": APPLICANT_CODE,
    "mobile": "09121234567",
    "organisation": "شرکت معدنی البرز",
    "purpose": "انفجار در معدن سنگ آهک",
    "material": "مواد منفجره صنعتی",
    "quantity": "۵۰۰ کیلوگرم",
    "site": "معدن آهک آوج",
    "fixed_depot": True,
    "county": "آوج",
}


async def _pyrotechnics_before_commission(engine):
    case = await start(engine, CITIZEN, SEC + "-09", PYROTECHNICS)
    assert (case.definition, case.state, case.assigned_role) == ("pyrotechnics-permit", "submitted", "clerk")
    case = await attach(engine, CITIZEN, case, "site-documents")
    case = await act(engine, PYRO_CLERK, case, "send-inquiries")
    case = await act(engine, PYRO_CLERK, case, "record-inquiries", inquiry_answers="بلامانع")
    with pytest.raises(InvalidArgument, match="documents"):  # the depot is inspected with the card's checklist
        await act(engine, PYRO_CLERK, case, "table-at-commission", inspected_on="1405/02/01")
    case = await attach(engine, PYRO_CLERK, case, "depot-checklist")
    case = await act(engine, PYRO_CLERK, case, "table-at-commission", inspected_on="1405/02/01")
    assert (case.state, case.assigned_role) == ("before-commission", "secretary")
    return await attach(engine, SEC_SECRETARY, case, "commission-minutes")


async def test_an_applicant_applies_for_a_pyrotechnics_permit_and_the_commission_grants_it(engine):
    definition = engine.book.latest["pyrotechnics-permit"]
    assert len(definition.action("send-inquiries").inquiries) == 4  # card P02 §8
    case = await _pyrotechnics_before_commission(engine)
    with pytest.raises(PermissionDenied):  # the commission decides, through its secretary
        await act(engine, PYRO_CLERK, case, "record-approval", commission_meeting="x", permit_number="1")
    case = await act(engine, SEC_SECRETARY, case, "record-approval", commission_meeting="PO-1405-000009-1",
                     permit_number="ن/۳", conditions="نگهداری در انبارک ثابت")
    assert (case.state, case.outcome) == ("granted", "granted")
    assert (await engine.get(CITIZEN, case.code)).data["permit_number"] == "ن/3"


async def test_the_commission_refuses_a_pyrotechnics_permit_or_it_is_corrected_withdrawn_or_overdue(engine, clock):
    case = await _pyrotechnics_before_commission(engine)
    with pytest.raises(InvalidArgument):
        await act(engine, SEC_SECRETARY, case, "record-refusal", commission_meeting="PO-1405-000009-1")
    case = await act(engine, SEC_SECRETARY, case, "record-refusal", commission_meeting="PO-1405-000009-1",
                     reason="انبار استاندارد نیست")
    assert (case.state, case.outcome) == ("refused", "refused")
    case = await start(engine, CITIZEN, SEC + "-09", PYROTECHNICS)
    case = await act(engine, PYRO_CLERK, case, "request-correction", "مجوز بهره‌برداری معدن پیوست نیست")
    case = await act(engine, CITIZEN, case, "resubmit")
    assert (await act(engine, CITIZEN, case, "withdraw")).outcome == "withdrawn"
    case = await start(engine, CITIZEN, SEC + "-09", PYROTECHNICS)
    await breaches(engine, clock, case, days=5)


# -- requests of ethnic and religious representatives (political-elections-divisions-11) ------

DEPUTY = officer(POL, "deputy")
POL_SECRETARY = officer(POL, "secretary")
ETHNIC = {
    "full_name": "محمد کردی",
    "national_code": APPLICANT_CODE,
    "mobile": "09121234567",
    "community": "اهل سنت شهرستان",
    "subject": "اختصاص محل برگزاری نماز جمعه",
    "description": "درخواست اختصاص محل مناسب برای نماز جمعه",
    "filed_with": "فرمانداری بوئین‌زهرا",
}


async def test_an_ethnic_request_goes_from_the_county_to_the_commission_and_back(engine):
    case = await start(engine, CITIZEN, POL + "-11", ETHNIC)
    assert (case.definition, case.assigned_role) == ("ethnic-religious-request", "county-governorate")
    with pytest.raises(InvalidArgument, match="documents"):
        await act(engine, COUNTY, case, "forward-to-governorate")
    case = await attach(engine, COUNTY, case, "request-letter", "forwarding-letter")
    case = await act(engine, COUNTY, case, "forward-to-governorate")
    assert case.assigned_role == "deputy"
    with pytest.raises(InvalidArgument):  # the deputy refers it with instructions
        await act(engine, DEPUTY, case, "refer-to-commission")
    case = await act(engine, DEPUTY, case, "refer-to-commission", instructions="بررسی در کمیسیون")
    case = await act(engine, POL_SECRETARY, case, "record-opinion", opinion="با رعایت ضوابط موافقت شد", favourable=True)
    assert (case.state, case.outcome) == ("answered", "delivered")


async def test_an_ethnic_request_is_corrected_withdrawn_or_overdue(engine, clock):
    with pytest.raises(InvalidArgument):  # the request is written
        await start(engine, CITIZEN, POL + "-11", {**ETHNIC, "description": ""})
    case = await start(engine, CITIZEN, POL + "-11", ETHNIC)
    case = await act(engine, COUNTY, case, "request-correction", "امضای نمایندگان ندارد")
    case = await act(engine, CITIZEN, case, "resubmit")
    assert (await act(engine, CITIZEN, case, "withdraw")).outcome == "withdrawn"
    case = await start(engine, CITIZEN, POL + "-11", ETHNIC)
    await breaches(engine, clock, case, days=6)


# -- election meetings with the parties (political-elections-divisions-15) ---------------------

ELECTION_MEETING = {"election": "انتخابات مجلس دوازدهم", "parties": ["حزب الف", "حزب ب"], "planned_for": "1405/02/20"}


async def test_an_election_meeting_with_the_parties_from_their_list_to_the_meeting(engine):
    with pytest.raises(InvalidArgument):
        await start(engine, POL_CLERK, POL + "-15", {**ELECTION_MEETING, "parties": []})
    with pytest.raises(PermissionDenied):
        await start(engine, CITIZEN, POL + "-15", ELECTION_MEETING)
    case = await start(engine, POL_CLERK, POL + "-15", ELECTION_MEETING)
    assert (case.definition, case.state, case.assigned_role) == ("election-parties-meeting", "listed", "head-of-office")
    case = await act(engine, POL_HEAD, case, "agree-with-election-hq", meeting_format="نشست عمومی", held_on="1405/02/20")
    case = await act(engine, POL_CLERK, case, "arrange", venue="سالن استانداری")
    with pytest.raises(InvalidArgument, match="documents"):
        await act(engine, POL_CLERK, case, "send-invitations", speaker="دکتر احمدی")
    case = await attach(engine, POL_CLERK, case, "invitation", "campaign-material")
    case = await act(engine, POL_CLERK, case, "send-invitations", speaker="دکتر احمدی")
    case = await act(engine, POL_CLERK, case, "hold-meeting", attending_parties=["حزب الف"])
    assert (case.state, case.outcome) == ("held", "delivered")


async def test_an_election_meeting_is_cancelled_or_overdue(engine, clock):
    case = await start(engine, POL_CLERK, POL + "-15", ELECTION_MEETING)
    with pytest.raises(InvalidArgument):
        await act(engine, POL_HEAD, case, "cancel")
    assert (await act(engine, POL_HEAD, case, "cancel", "تعویق انتخابات")).outcome == "withdrawn"
    case = await start(engine, POL_CLERK, POL + "-15", ELECTION_MEETING)
    escalated = await breach(engine, clock, case, 6, POL_CLERK)
    assert escalated.state == "listed"


# -- credentials of the elected (political-elections-divisions-22) -----------------------------

EXECUTIVE_BOARD = officer(POL, "executive-board")
SUPERVISORY_BOARD = officer(POL, "supervisory-board")
CREDENTIAL = {"full_name": "رضا صادقی", "national_code": APPLICANT_CODE, "electoral_district": "قزوین",
              "election": "انتخابات مجلس دوازدهم"}


async def test_an_elected_member_receives_the_credential_after_both_boards_approve(engine):
    case = await start(engine, EXECUTIVE_BOARD, POL + "-22", CREDENTIAL)
    assert (case.definition, case.state, case.applicant_id) == ("majlis-credential", "introduced", APPLICANT_CODE)
    with pytest.raises(InvalidArgument, match="documents"):
        await act(engine, POL_CLERK, case, "issue-form", system_reference="۱۲")
    case = await attach(engine, POL_CLERK, case, "credential-form")
    case = await act(engine, POL_CLERK, case, "issue-form", system_reference="۱۲")
    with pytest.raises(PermissionDenied):  # the executive board approves first
        await act(engine, SUPERVISORY_BOARD, case, "executive-board-approves")
    case = await act(engine, EXECUTIVE_BOARD, case, "executive-board-approves")
    case = await act(engine, SUPERVISORY_BOARD, case, "supervisory-board-approves")
    case = await act(engine, POL_CLERK, case, "hand-over", handed_over_on="1405/03/01")
    assert (case.state, case.outcome) == ("handed-over", "delivered")


async def test_a_credential_form_is_returned_for_correction_or_overdue(engine, clock):
    case = await start(engine, EXECUTIVE_BOARD, POL + "-22", CREDENTIAL)
    case = await attach(engine, POL_CLERK, case, "credential-form")
    case = await act(engine, POL_CLERK, case, "issue-form", system_reference="۱۲")
    case = await act(engine, EXECUTIVE_BOARD, case, "executive-board-approves")
    case = await act(engine, SUPERVISORY_BOARD, case, "return-for-correction", "نام حوزه اشتباه است")
    assert (case.state, case.assigned_role) == ("introduced", "clerk")
    await breaches(engine, clock, case, days=3)


def test_an_entry_that_does_not_run_says_why(engine):
    assert engine.why_record(engine.catalogue["security-law-enforcement-09"]) == ""  # it runs
    assert "no steps" in engine.why_record(engine.catalogue["card-002-s1"])  # the card prints none
    assert engine.runs_as(engine.catalogue["card-002-s1"]) == ("record", "")


# -- the cards that run as oversight rounds (seed 002 P11, P14, P23) ---------------------------


@pytest.mark.parametrize(("entry", "slug"), [("card-002-p14", "security-plans-oversight"),
                                             ("card-002-p11", "security-statistics-reports"),
                                             ("card-002-p23", "security-statistics-reports"),
                                             ("card-002-p10", "mine-incidents-commission-oversight")])
async def test_a_security_oversight_round_from_plan_to_report(engine, clock, entry, slug):
    clerk, head = officer(SEC, "expert"), officer(SEC, "head-of-office")
    round_ = {"subject": "طرح امنیتی نوروز", "period": "نوروز ۱۴۰۵", "scope": ["فرماندهی انتظامی"]}
    case = await start(engine, clerk, entry, round_)
    assert (case.definition, case.state) == (slug, "planning")
    case = await attach(engine, clerk, case, "plan", "report")
    case = await act(engine, clerk, case, "communicate", sent_to=["فرماندهی انتظامی"])
    case = await act(engine, clerk, case, "record-activity", activity="گزارش دستگاه", done_on="1405/01/30")
    case = await act(engine, clerk, case, "assess", findings="اجرا شد")
    with pytest.raises(PermissionDenied):
        await act(engine, clerk, case, "report", sent_to=["وزارت کشور"])
    case = await act(engine, head, case, "report", sent_to=["وزارت کشور"])
    assert (case.state, case.outcome) == ("reported", "delivered")
    await breaches(engine, clock, await start(engine, clerk, entry, round_), days=16)
