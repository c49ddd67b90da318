"""The social and cultural affairs office's own process definitions (services/social/processes),
each walked on the real engine and database: its happy path from its catalogue entries, its
correction, refusal and withdrawal paths, its SLA breach, and every guard it names."""

from __future__ import annotations

import pytest

from ostan.social.v1 import forms_pb2  # noqa: F401 — registers the forms
from ostan_kit.runtime.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from ostan_kit.security.actors import Actor
from tests.forms import NGO_DOSSIER, NGO_FORM
from tests.unit.cases_support import answer_inquiries, breach, broken, citizen, event_subjects, staff

SERVICE = "social"
OFFICE = "social-cultural"


def officer(name: str, *roles: str) -> Actor:
    return staff(f"{name}-1", OFFICE, *roles, name=name)


SECRETARIAT = officer("secretariat", "secretariat")
BOARD = officer("board", "supervisory-board")
GOVERNOR = officer("governor", "governor")
CLERK = officer("clerk", "clerk")
HEAD = officer("head", "head-of-office")
SECRETARY = officer("secretary", "secretary")
CHAIR = officer("chair", "chair")
CITIZEN = citizen("0084575948", "متقاضی")
PDF = b"%PDF-1.4 a scanned document"

# The clock starts Saturday 2026-04-18 09:00 Tehran = 1405/01/29, an ordinary working day.
NGO = {**NGO_FORM, "founder_national_codes": ["0084575948", "0067749828", "0013542419"]}
DOSSIER = NGO_DOSSIER
REPLIES = [{"authority": f"مرجع {n}", "letter_number": str(100 + n), "answered_on": "1405/02/20"} for n in range(1, 5)]
REPRESENTATIVE = {"full_name": "زهرا احمدی", "national_code": "0084575948", "mobile": "09121234567"}
EXTENSION = {"ngo_name": NGO["name"], "registration_number": "1234", "licence_number": "5678",
             "licence_expires_on": "1405/03/01", "general_assembly_held_on": "1405/01/20", **REPRESENTATIVE}
UPGRADE = {"ngo_name": NGO["name"], "registration_number": "1234", "licence_number": "5678",
           "current_status": "شهرستانی", "requested_status": "استانی", "reasons": "فعالیت در چند شهرستان",
           **REPRESENTATIVE}
COMPLAINT = {**REPRESENTATIVE, "ngo_name": NGO["name"], "subject": "جمع‌آوری کمک بدون مجوز",
             "description": "این سازمان در خیابان کمک نقدی جمع می‌کند."}
ASSEMBLY = {"ngo_name": NGO["name"], "registration_number": "1234", "licence_number": "5678",
            "assembly_kind": "GENERAL_ASSEMBLY_KIND_ANNUAL", "scheduled_for": "1405/02/10", "venue": "قزوین",
            "agenda": ["انتخاب هیأت مدیره", "تصویب صورت‌های مالی"], **REPRESENTATIVE}
MEMBERS = [
    {"name": "الف", "organisation": "اداره کل فرهنگ و ارشاد اسلامی", "position": "member"},
    {"name": "ب", "organisation": "اداره کل بهزیستی", "position": "member"},
    {"name": "ج", "organisation": "دانشگاه علوم پزشکی", "position": "member"},
]
MEETING = {"commission": "کارگروه اجتماعی و فرهنگی استان", "meeting_number": 12, "scheduled_for": "1405/02/10",
           "members": MEMBERS}


async def act(engine, actor, case, action, key, comment="", **data):
    return (await engine.act(actor, case.code, action, case.version, comment, data, key)).message


async def attach(engine, actor, case, *kinds):
    for kind in kinds:
        await engine.attach(actor, case.code, kind, f"{kind}.pdf", "application/pdf", PDF, f"{case.code}-{kind}")
    return await engine.get(actor, case.code)


async def escalates(engine, clock, case, days: int = 10) -> None:
    await breach(engine, clock, case, days, HEAD)
    assert f"ostan.social.{case.process}.sla-breached" in await event_subjects(engine)


def test_every_definition_is_bound_to_its_catalogue_entries(book):
    assert {entry: book.by_entry[entry].slug for entry in book.by_entry} == {
        "social-cultural-02": "ngo-activity-licence",
        "card-000-s-03": "ngo-activity-licence",
        "social-cultural-11": "ngo-licence-extension",
        "social-cultural-07": "ngo-status-upgrade",
        "social-cultural-06": "ngo-complaint",
        "social-cultural-08": "ngo-general-assembly",
        "card-000-s-05": "social-cultural-working-group",
        "social-cultural-14": "social-cultural-working-group",
        "social-cultural-16": "social-vitality-programme",
        "social-cultural-17": "informal-settlements-programme",
        "card-000-s-04": "social-harms-headquarters",
        "card-000-s-06": "social-moral-security-commission",
        "card-000-s-07": "special-patients-meetings",
        "card-000-s-09": "informal-settlements-committee",
        "card-000-s-01": "citizens-rights-inspection",
        "card-000-s-02": "special-occasions-headquarters",
        "card-000-s-08": "ngo-oversight",
    }
    assert book.latest["social-cultural-working-group"].form == "ostan.common.v1.CommissionMeeting"


# -- the NGO activity licence (card S-03) ------------------------------------------------------


async def dossier_stage(engine, key: str, **changes):
    case = (await engine.start(CITIZEN, "card-000-s-03", {**NGO, **changes}, key)).message
    case = await act(engine, SECRETARIAT, case, "prepare-for-board", f"{key}-1")
    return await act(engine, BOARD, case, "approve", f"{key}-2")


async def test_the_licence_from_the_portal_request_to_the_governors_signature(engine):
    case = (await engine.start(CITIZEN, "social-cultural-02", NGO, "n1")).message
    assert (case.definition, case.state, case.assigned_role) == ("ngo-activity-licence", "submitted", "secretariat")
    case = await act(engine, SECRETARIAT, case, "prepare-for-board", "n2")
    assert case.assigned_role == "supervisory-board"
    case = await act(engine, BOARD, case, "approve", "n3")
    assert (case.state, case.assigned_role) == ("dossier", "applicant")
    with pytest.raises(InvalidArgument) as caught:  # the dossier's documents and forms (lines 108, 110)
        await act(engine, CITIZEN, case, "submit-dossier", "n4")
    assert {v.field for v in caught.value.violations} == {f"documents.{kind}" for kind in DOSSIER}
    case = await act(engine, CITIZEN, await attach(engine, CITIZEN, case, *DOSSIER), "submit-dossier", "n5")
    case = await act(engine, SECRETARIAT, case, "send-inquiries", "n6")
    assert await answer_inquiries(engine, case.code) == ["recorded"] * 4
    assert case.state == "inquiring"
    case = await act(engine, SECRETARIAT, case, "record-inquiry-replies", "n7", replies=REPLIES)
    case = await act(engine, SECRETARIAT, case, "record-registration", "n8", registration_number="۱۲۳۴",
                     registration_notice_on="1405/03/10")
    assert case.assigned_role == "governor"
    with pytest.raises(PermissionDenied):  # the governor signs, not the secretariat
        await act(engine, SECRETARIAT, case, "issue-licence", "n9", licence_number="1", valid_from="1405/03/15",
                  term_years=2)
    case = await act(engine, GOVERNOR, case, "issue-licence", "n10", licence_number="77", valid_from="1405/03/15",
                     term_years=2)
    assert (case.state, case.outcome) == ("licensed", "granted")
    assert [h.event for h in await engine.history(GOVERNOR, case.code)] == [
        "submitted", "prepare-for-board", "approve", *["document-attached"] * len(DOSSIER), "submit-dossier",
        "send-inquiries", *["inquiry-answered"] * 4, "record-inquiry-replies", "record-registration", "issue-licence",
    ]
    assert (await event_subjects(engine))[-1] == "ostan.social.ngo-activity-licence.issue-licence"


async def test_the_board_may_approve_on_conditions_or_reject(engine):
    # The card names no minimum number of founders: one founder is not refused.
    case = (await engine.start(CITIZEN, "card-000-s-03", {**NGO, "founder_national_codes": ["0084575948"]}, "b1")).message
    case = await act(engine, SECRETARIAT, case, "prepare-for-board", "b2")
    with pytest.raises(InvalidArgument):  # a conditional approval states its conditions
        await act(engine, BOARD, case, "approve-conditionally", "b3")
    case = await act(engine, BOARD, case, "approve-conditionally", "b4", "نام پیشنهادی تکراری است")
    assert (case.state, case.assigned_role) == ("editing", "applicant")
    case = await act(engine, CITIZEN, case, "resubmit", "b5")
    assert (case.state, case.assigned_role) == ("submitted", "secretariat")
    case = await act(engine, SECRETARIAT, case, "prepare-for-board", "b6")
    with pytest.raises(InvalidArgument) as caught:
        await act(engine, BOARD, case, "reject", "b7")
    assert caught.value.violations[0].field == "data.reason"
    case = await act(engine, BOARD, case, "reject", "b8", reason="اهداف با آیین‌نامه مغایر است")
    assert (case.state, case.outcome) == ("refused", "refused")

    withdrawn = await act(engine, CITIZEN, await dossier_stage(engine, "w"), "withdraw", "w3")
    assert withdrawn.outcome == "withdrawn"


async def test_the_licence_is_refused_on_a_negative_inquiry_and_needs_all_four_replies(engine):
    case = await dossier_stage(engine, "q")
    case = await act(engine, CITIZEN, await attach(engine, CITIZEN, case, *DOSSIER), "submit-dossier", "q3")
    with pytest.raises(FailedPrecondition):  # no registration before the inquiries
        await act(engine, SECRETARIAT, case, "record-registration", "q4", registration_number="1",
                  registration_notice_on="1405/03/10")
    case = await act(engine, SECRETARIAT, case, "send-inquiries", "q5")
    assert (await event_subjects(engine)).count("ostan.social.ngo-activity-licence.inquiry-requested") == 4
    # Three of the four authorities answer, positively: the fourth is still awaited.
    assert await answer_inquiries(engine, case.code, {"irgc": "silent"}) == ["recorded"] * 3
    with pytest.raises(InvalidArgument) as caught:
        await act(engine, SECRETARIAT, case, "record-inquiry-replies", "q6")
    broken(caught, "four-authorities-answered", "seed 000 lines 133–134")
    # The fourth answers negatively; a second answer from the same authority changes nothing.
    assert await answer_inquiries(engine, case.code, {"irgc": "negative"}) == ["recorded"]
    with pytest.raises(InvalidArgument) as caught:
        await act(engine, SECRETARIAT, case, "record-inquiry-replies", "q7",
                  replies=[*REPLIES[:3], {"authority": "مرجع ۴", "answered_on": "1405/02/20"}])
    broken(caught, "four-authorities-positive", "seed 000 line 134")
    broken(caught, "reply-names-authority-and-letter", "platform default")
    case = await act(engine, SECRETARIAT, case, "refuse-after-inquiries", "q8", reason="پاسخ منفی یکی از مراجع")
    assert (case.state, case.outcome) == ("refused", "refused")
    history = [entry.event for entry in await engine.history(SECRETARIAT, case.code)]
    assert history.count("inquiry-answered") == 4


async def test_the_licence_runs_two_years_and_an_overdue_request_escalates(engine, clock):
    case = await dossier_stage(engine, "t")
    case = await act(engine, CITIZEN, await attach(engine, CITIZEN, case, *DOSSIER), "submit-dossier", "t3")
    case = await act(engine, SECRETARIAT, case, "send-inquiries", "t4")
    await answer_inquiries(engine, case.code)
    case = await act(engine, SECRETARIAT, case, "record-inquiry-replies", "t5", replies=REPLIES)
    case = await act(engine, SECRETARIAT, case, "record-registration", "t6", registration_number="1",
                     registration_notice_on="1405/03/10")
    for years in (3, 1):
        with pytest.raises(InvalidArgument) as caught:
            await act(engine, GOVERNOR, case, "issue-licence", f"t7-{years}", licence_number="1",
                      valid_from="1405/03/15", term_years=years)
        broken(caught, "licence-term-two-years", "seed 000 line 135")

    waiting = (await engine.start(CITIZEN, "social-cultural-02", NGO, "t8")).message
    await escalates(engine, clock, waiting)


# -- the licence extension and the status upgrade (review flows) --------------------------------

REVIEWS = [
    ("social-cultural-11", EXTENSION, ["identity-documents", "assembly-minutes"], "approved", "governor"),
    ("social-cultural-07", UPGRADE, ["identity-documents"], "approved", "clerk"),
]


@pytest.mark.parametrize(("entry", "form", "documents", "approved", "next_role"), REVIEWS, ids=["extension", "upgrade"])
async def test_extension_and_upgrade_review_paths(engine, clock, entry, form, documents, approved, next_role):
    case = (await engine.start(CITIZEN, entry, form, "r1")).message
    with pytest.raises(InvalidArgument) as caught:
        await act(engine, CLERK, case, "start-review", "r2")
    assert {v.field for v in caught.value.violations} == {f"documents.{kind}" for kind in documents}
    case = await act(engine, CLERK, await attach(engine, CITIZEN, case, *documents), "start-review", "r3")
    case = await act(engine, CLERK, case, "request-correction", "r4", "صورتجلسه امضا ندارد")
    assert case.assigned_role == "applicant"
    case = await act(engine, CITIZEN, case, "resubmit", "r5")
    case = await act(engine, CLERK, case, "start-review", "r6")
    with pytest.raises(PermissionDenied):
        await act(engine, CLERK, case, "refuse", "r7", reason="x")
    refused = await act(engine, HEAD, case, "refuse", "r8", reason="مدارک کافی نیست")
    assert refused.outcome == "refused"

    case = (await engine.start(CITIZEN, entry, form, "h1")).message
    case = await act(engine, CLERK, await attach(engine, CITIZEN, case, *documents), "start-review", "h2")
    data = {"new_status": "استانی"} if entry == "social-cultural-07" else {}
    case = await act(engine, HEAD, case, "approve", "h3", **data)
    assert (case.state, case.assigned_role) == (approved, next_role)
    if entry == "social-cultural-11":
        case = await act(engine, GOVERNOR, case, "sign-extension", "h4", licence_number="5678",
                         valid_from="1405/03/01", term_years=2)
    else:
        case = await act(engine, CLERK, case, "notify", "h4")
    assert case.outcome == "granted"

    withdrawn = await act(engine, CITIZEN, (await engine.start(CITIZEN, entry, form, "x1")).message, "withdraw", "x2")
    assert withdrawn.outcome == "withdrawn"
    await escalates(engine, clock, (await engine.start(CITIZEN, entry, form, "e1")).message)


async def test_an_extended_licence_runs_two_years(engine):
    case = (await engine.start(CITIZEN, "social-cultural-11", EXTENSION, "g1")).message
    case = await attach(engine, CITIZEN, case, "identity-documents", "assembly-minutes")
    case = await act(engine, HEAD, await act(engine, CLERK, case, "start-review", "g2"), "approve", "g3")
    with pytest.raises(InvalidArgument) as caught:
        await act(engine, GOVERNOR, case, "sign-extension", "g4", licence_number="5678", valid_from="1405/03/01",
                  term_years=5)
    broken(caught, "licence-term-two-years", "seed 000 lines 104, 135")


# -- complaints about an NGO (card S-08's sanctions) ---------------------------------------------


async def inspected(engine, key: str):
    case = (await engine.start(CITIZEN, "social-cultural-06", COMPLAINT, key)).message
    case = await attach(engine, CITIZEN, case, "complaint-letter")
    case = await act(engine, CLERK, case, "start-inspection", f"{key}-1")
    case = await attach(engine, CLERK, case, "inspection-report")
    return await act(engine, CLERK, case, "record-findings", f"{key}-2", findings="تخلف احراز شد")


async def test_a_complaint_is_inspected_and_sanctioned_in_stages(engine):
    case = (await engine.start(CITIZEN, "social-cultural-06", COMPLAINT, "k1")).message
    case = await act(engine, CLERK, case, "request-details", "k2", "نشانی سازمان را بنویسید")
    assert case.assigned_role == "applicant"
    case = await act(engine, CITIZEN, case, "resubmit", "k3")
    with pytest.raises(InvalidArgument):  # the complaint letter first
        await act(engine, CLERK, case, "start-inspection", "k4")
    case = await act(engine, CLERK, await attach(engine, CITIZEN, case, "complaint-letter"), "start-inspection", "k5")
    with pytest.raises(InvalidArgument):  # the inspection's report
        await act(engine, CLERK, case, "record-findings", "k6", findings="x")
    case = await attach(engine, CLERK, case, "inspection-report")
    case = await act(engine, CLERK, case, "record-findings", "k7", findings="تخلفی دیده نشد")
    assert case.assigned_role == "head-of-office"
    case = await act(engine, HEAD, case, "dismiss", "k8", reason="تخلفی احراز نشد")
    assert (case.state, case.outcome) == ("dismissed", "closed")

    warned = await act(engine, HEAD, await inspected(engine, "wa"), "warn", "wa3", warning="تذکر کتبی")
    assert warned.state == "warned"

    case = await inspected(engine, "su")
    with pytest.raises(InvalidArgument) as caught:
        await act(engine, HEAD, case, "suspend", "su3", prior_warnings=0, suspended_from="1405/02/01",
                  suspension_months=3)
    broken(caught, "warning-before-suspension", "seed 000 line 326")
    with pytest.raises(InvalidArgument) as caught:
        await act(engine, HEAD, case, "suspend", "su4", prior_warnings=1, suspended_from="1405/02/01",
                  suspension_months=6)
    broken(caught, "suspension-three-months", "seed 000 line 326")
    case = await act(engine, HEAD, case, "suspend", "su5", prior_warnings=1, suspended_from="1405/02/01",
                     suspension_months=3)
    assert case.state == "suspended"

    case = await inspected(engine, "re")
    with pytest.raises(InvalidArgument) as caught:
        await act(engine, HEAD, case, "refer", "re3", prior_suspensions=0, referred_to="هیأت نظارت")
    broken(caught, "suspension-before-referral", "seed 000 line 326")
    case = await act(engine, HEAD, case, "refer", "re4", prior_suspensions=1, referred_to="هیأت نظارت")
    assert (case.state, case.outcome) == ("referred", "closed")


async def test_a_complaint_may_be_withdrawn_and_an_overdue_inspection_escalates(engine, clock):
    withdrawn = await act(engine, CITIZEN, (await engine.start(CITIZEN, "social-cultural-06", COMPLAINT, "x1")).message,
                          "withdraw", "x2")
    assert withdrawn.outcome == "withdrawn"
    case = (await engine.start(CITIZEN, "social-cultural-06", COMPLAINT, "o1")).message
    case = await act(engine, CLERK, await attach(engine, CITIZEN, case, "complaint-letter"), "start-inspection", "o2")
    await escalates(engine, clock, case, days=16)  # 10 working days of inspection


# -- oversight of a general assembly -------------------------------------------------------------


async def test_an_assembly_is_overseen_and_notified_to_the_registry(engine, clock):
    with pytest.raises(InvalidArgument) as caught:  # notice on the day itself is too late
        await engine.start(CITIZEN, "social-cultural-08", {**ASSEMBLY, "scheduled_for": "1405/01/29"}, "a0")
    broken(caught, "notice-before-assembly", "platform default")
    case = (await engine.start(CITIZEN, "social-cultural-08", ASSEMBLY, "a1")).message
    assert (case.definition, case.state) == ("ngo-general-assembly", "notified")
    case = await act(engine, CLERK, case, "request-correction", "a2", "دستور جلسه ناقص است")
    case = await act(engine, CITIZEN, case, "resubmit", "a3")
    case = await act(engine, CLERK, case, "assign-observer", "a4", observer="کارشناس امور سمن‌ها")
    with pytest.raises(InvalidArgument):  # the minutes and identity documents first
        await act(engine, CLERK, case, "record-oversight", "a5", held_on="1405/02/10", observer_report="x")
    case = await attach(engine, CITIZEN, case, "assembly-minutes", "identity-documents")
    case = await act(engine, CLERK, case, "record-oversight", "a6", held_on="1405/02/10",
                     observer_report="مجمع با حد نصاب برگزار شد")
    case = await act(engine, HEAD, case, "notify-registry", "a7", letter_number="4455")
    assert (case.state, case.outcome) == ("reported-to-registry", "closed")

    case = (await engine.start(CITIZEN, "social-cultural-08", ASSEMBLY, "d1")).message
    case = await act(engine, CLERK, case, "assign-observer", "d2", observer="ناظر")
    case = await attach(engine, CLERK, case, "assembly-minutes", "identity-documents")
    case = await act(engine, CLERK, case, "record-oversight", "d3", held_on="1405/02/10", observer_report="بدون حد نصاب")
    case = await act(engine, HEAD, case, "decline", "d4", reason="حد نصاب نداشت")
    assert case.outcome == "refused"

    withdrawn = await act(engine, CITIZEN, (await engine.start(CITIZEN, "social-cultural-08", ASSEMBLY, "x1")).message,
                          "withdraw", "x2")
    assert withdrawn.outcome == "withdrawn"
    await escalates(engine, clock, (await engine.start(CITIZEN, "social-cultural-08", ASSEMBLY, "e1")).message)


# -- the social and cultural working group (card S-05, the commission pattern) -------------------


async def test_a_working_group_meeting_from_invitation_to_report(engine):
    case = (await engine.start(SECRETARY, "card-000-s-05", MEETING, "m1")).message
    assert (case.process, case.definition) == ("social-cultural-working-group", "social-cultural-working-group")
    assert (await engine.start(SECRETARY, "social-cultural-14", MEETING, "m0")).message.process == case.process
    case = await attach(engine, SECRETARY, case, "invitation")
    case = await act(engine, SECRETARY, case, "send-invitations", "m2")
    receipts = [{"member": m["name"], "received_on": "1405/02/05"} for m in MEMBERS]
    case = await act(engine, SECRETARY, case, "confirm-receipts", "m3", receipts=receipts)
    with pytest.raises(InvalidArgument) as caught:
        await act(engine, CHAIR, case, "open-meeting", "m4", attendees=["الف"])
    broken(caught, "quorum", "platform default")
    case = await act(engine, CHAIR, case, "open-meeting", "m5", attendees=["الف", "ب"])
    resolutions = [{"text": "برنامه اوقات فراغت تابستان", "owner": "اداره کل ورزش و جوانان",
                    "owner_role": "sport-youth-liaison", "deadline": "1405/03/31"}]
    case = await act(engine, SECRETARY, case, "record-minutes", "m6", minutes="...", resolutions=resolutions)
    case = await attach(engine, SECRETARY, case, "signed-minutes")
    case = await act(engine, SECRETARY, case, "distribute-minutes", "m7",
                     sent_to=["مرکز امور اجتماعی و فرهنگی وزارت کشور", "اعضای کارگروه"])
    assert (await event_subjects(engine))[-1] == "ostan.social.social-cultural-working-group-resolution.assigned"
    case = await act(engine, SECRETARY, case, "report-follow-up", "m8")
    assert (case.state, case.outcome) == ("reported", "closed")
    assert case.data["report"][0]["status"] == "assigned"  # not reported yet: open, carried to the next meeting
    assert (await event_subjects(engine))[-1] == "ostan.social.social-cultural-working-group.report-follow-up"


# -- the social vitality and the informal settlements programmes (social-cultural-16, -17) -----

EXPERT = officer("expert", "expert")
PROGRAMME = {"title": "طرح ارتقای نشاط اجتماعی ۱۴۰۵", "year": 1405, "counties": ["قزوین", "تاکستان"]}


async def test_the_social_vitality_programme_from_data_to_the_report_to_the_ministry(engine):
    case = (await engine.start(EXPERT, "social-cultural-16", PROGRAMME, "v1")).message
    assert (case.definition, case.state) == ("social-vitality-programme", "collecting-data")
    case = await act(engine, EXPERT, case, "data-collected", "v2", findings="افزایش شاخص افسردگی")
    with pytest.raises(InvalidArgument, match="documents"):
        await act(engine, EXPERT, case, "propose-plan", "v3")
    case = await attach(engine, EXPERT, case, "proposed-plan", "evaluation-report")
    case = await act(engine, EXPERT, case, "propose-plan", "v4")
    case = await act(engine, HEAD, case, "return-plan", "v5", "شاخص‌های ارزیابی اضافه شود")
    assert case.state == "drafting"
    case = await act(engine, EXPERT, case, "propose-plan", "v6")
    case = await act(engine, HEAD, case, "record-approval", "v7", think_tank_on="1405/02/01", committee_on="1405/02/05",
                     working_group_resolution="مصوبه ۳/۱۴۰۵")
    case = await act(engine, EXPERT, case, "record-supervision", "v8", activity="بازدید میدانی شهرستان تاکستان")
    case = await act(engine, EXPERT, case, "evaluate", "v9")
    case = await act(engine, HEAD, case, "report-to-ministry", "v10")
    assert (case.state, case.outcome) == ("reported", "delivered")


async def test_the_informal_settlements_programme_meets_the_four_agencies(engine, clock):
    case = (await engine.start(EXPERT, "social-cultural-17", PROGRAMME, "s1")).message
    assert case.definition == "informal-settlements-programme"
    case = await attach(engine, EXPERT, case, "neighbourhood-map", "agencies-report")
    with pytest.raises(InvalidArgument) as caught:
        await act(engine, EXPERT, case, "hold-strategic-meetings", "s2", agencies_met=["هلال احمر", "بهزیستی"])
    broken(caught, "four-responsible-agencies", "seed 001 line 1603")
    case = await act(engine, EXPERT, case, "hold-strategic-meetings", "s3",
                     agencies_met=["هلال احمر", "کمیته امداد", "بهزیستی", "ستاد اجرای فرمان امام"])
    case = await act(engine, EXPERT, case, "select-neighbourhoods", "s4", neighbourhoods=["محله منتظری"], houses_formed=2)
    case = await act(engine, EXPERT, case, "record-supervision", "s5", activity="گزارش کمیته امداد")
    case = await act(engine, EXPERT, case, "report-to-deputy", "s6")
    with pytest.raises(PermissionDenied):
        await act(engine, EXPERT, case, "report-to-governor", "s7")
    case = await act(engine, HEAD, case, "report-to-governor", "s8")
    assert (case.state, case.outcome) == ("reported", "delivered")
    late = (await engine.start(EXPERT, "informal-settlements-programme", PROGRAMME, "s9")).message
    await breach(engine, clock, late, 31, HEAD)


@pytest.mark.parametrize("card", ["card-000-s-02", "card-000-s-04", "card-000-s-06", "card-000-s-07", "card-000-s-09"])
async def test_each_card_of_meetings_runs_as_a_commission_in_the_social_office(engine, book, card):
    definition = book.by_entry[card]
    assert definition.form == "ostan.common.v1.CommissionMeeting" and definition.opens()
    case = (await engine.start(SECRETARY, card, MEETING, f"c-{card}")).message
    assert (case.definition, case.state, case.assigned_role) == (definition.slug, "planned", "secretary")
    with pytest.raises(PermissionDenied):
        await engine.start(citizen("0084575948"), card, MEETING, f"x-{card}")


async def test_the_citizens_rights_inspections_run_as_an_oversight_round(engine, clock):
    round_ = {"subject": "بازرسی ستاد صیانت ۱۴۰۵", "scope": ["اداره کل آموزش و پرورش"], "instruction": "آیین‌نامه صیانت"}
    case = (await engine.start(EXPERT, "card-000-s-01", round_, "r1")).message
    assert (case.definition, case.state) == ("citizens-rights-inspection", "planning")
    case = await attach(engine, EXPERT, case, "plan", "report")
    case = await act(engine, EXPERT, case, "communicate", "r2", sent_to=["دستگاه‌های اجرایی", "فرمانداری‌ها"])
    case = await act(engine, EXPERT, case, "record-activity", "r3", activity="بازدید و چک‌لیست", agency="آموزش و پرورش",
                     done_on="1405/02/10")
    case = await act(engine, EXPERT, case, "assess", "r4", findings="رتبه‌بندی دستگاه‌ها")
    case = await act(engine, HEAD, case, "report", "r5", sent_to=["دستگاه‌ها", "استاندار"])
    assert (case.state, case.outcome) == ("reported", "delivered")
    late = (await engine.start(EXPERT, "citizens-rights-inspection", round_, "r6")).message
    await breach(engine, clock, late, 16, HEAD)



async def test_the_ngo_oversight_round_sends_warnings_as_notices(engine):
    round_ = {"subject": "ارزیابی عملکرد سازمان‌های مردم‌نهاد ۱۴۰۴", "period": "۱۴۰۴"}
    case = (await engine.start(EXPERT, "card-000-s-08", round_, "n1")).message
    assert case.definition == "ngo-oversight"
    case = await attach(engine, EXPERT, case, "plan")
    case = await act(engine, EXPERT, case, "communicate", "n2", sent_to=["سازمان‌های مردم‌نهاد استان"])
    with pytest.raises(InvalidArgument):  # a warning names its NGO and finding
        await act(engine, EXPERT, case, "send-notice", "n3", agency="انجمن نمونه")
    case = await act(engine, EXPERT, case, "send-notice", "n4", agency="انجمن نمونه", finding="تذکر: گزارش مالی ارائه نشد")
    assert case.state == "supervising"
    assert "ostan.social.ngo-oversight.notice-sent" in await event_subjects(engine)
