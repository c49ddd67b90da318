"""The commission pattern, written once in kit and run by any office's commission."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import json_format

from ostan.common.v1 import case_pb2
from ostan.political.v1 import forms_pb2  # noqa: F401 — registers the political forms
from ostan_kit.persistence.models import CaseRow
from ostan_kit.processes.definitions import load_processes
from ostan_kit.runtime.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from tests.unit.cases_support import Clock, count_rows, event_subjects, service_folder, staff

SERVICE = "political"
SECRETARY = staff("sec-1", "security-law-enforcement", "secretary", name="دبیر")
CHAIR = staff("chair-1", "security-law-enforcement", "chair", name="رئیس")
MEMBERS = [
    {"name": "الف", "organisation": "فرماندهی انتظامی", "position": "member"},
    {"name": "ب", "organisation": "اداره کل آموزش و پرورش", "position": "member"},
    {"name": "ج", "organisation": "دانشگاه", "position": "member"},
]
MEETING = {"commission": "کمیسیون حفاظت از آزمون‌ها", "meeting_number": 3, "scheduled_for": "1405/09/10",
           "members": MEMBERS}
PDF = b"%PDF-1.4"


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 21, 6, 0, tzinfo=UTC))


@pytest.fixture
def book(tmp_path):
    """One commission of the political service's, written only as an extension of the pattern."""
    folder = tmp_path / "processes"
    folder.mkdir()
    (folder / "exam-protection.yaml").write_text(
        "extends: commission@2\nslug: exam-protection-commission\ncatalogue: [security-law-enforcement-11]\n"
        "title_fa: کمیسیون حفاظت از آزمون‌ها\ntitle_en: Exam protection commission\n",
        "utf-8",
    )
    return load_processes(folder)


async def step(engine, actor, case, action, key, **data):
    return (await engine.act(actor, case.code, action, case.version, "", data, key)).message


OWNER = staff("police-1", "security-law-enforcement", "police-liaison", name="رابط فرماندهی انتظامی")
EDUCATION = staff("edu-1", "security-law-enforcement", "education-liaison", name="رابط آموزش و پرورش")
RESOLUTIONS = [
    {"text": "تشدید کنترل حوزه‌ها", "owner": "فرماندهی انتظامی", "owner_role": "police-liaison", "deadline": "1405/09/20"},
    {"text": "آموزش عوامل اجرایی", "owner": "آموزش و پرورش", "owner_role": "education-liaison", "deadline": "1405/09/25"},
]


async def meeting_with_minutes(engine, prefix, resolutions=RESOLUTIONS, number=3):
    """A meeting walked to its distributed minutes; the resolutions' cases are opened."""
    case = (await engine.start(SECRETARY, "security-law-enforcement-11", {**MEETING, "meeting_number": number},
                               f"{prefix}1")).message
    assert (case.process, case.definition) == ("exam-protection-commission", "exam-protection-commission")
    await engine.attach(SECRETARY, case.code, "invitation", "دعوت.pdf", "application/pdf", PDF, f"{prefix}2")
    case = await engine.get(SECRETARY, case.code)
    case = await step(engine, SECRETARY, case, "send-invitations", f"{prefix}3")
    receipts = [{"member": m["name"], "received_on": "1405/09/05"} for m in MEMBERS]
    case = await step(engine, SECRETARY, case, "confirm-receipts", f"{prefix}4", receipts=receipts)
    case = await step(engine, CHAIR, case, "open-meeting", f"{prefix}5", attendees=["الف", "ب"])
    case = await step(engine, SECRETARY, case, "record-minutes", f"{prefix}6", minutes="...", resolutions=resolutions)
    await engine.attach(SECRETARY, case.code, "signed-minutes", "صورتجلسه.pdf", "application/pdf", PDF, f"{prefix}7")
    case = await engine.get(SECRETARY, case.code)
    return await step(engine, SECRETARY, case, "distribute-minutes", f"{prefix}8", sent_to=["اعضا", "وزارت کشور"])


async def inbox(engine, actor, role):
    cases, _ = await engine.list(actor, case_pb2.ListCasesRequest(role=role))
    return cases


async def test_a_meeting_from_invitation_to_its_follow_up_report(engine):
    case = await meeting_with_minutes(engine, "m")
    assert case.state == "following-up"
    # Each resolution is a case of its own, in its owner's inbox, due when its deadline ends.
    [police] = await inbox(engine, OWNER, "police-liaison")
    [education] = await inbox(engine, EDUCATION, "education-liaison")
    assert (police.process, police.definition, police.state) == (
        "exam-protection-commission-resolution", "resolution", "assigned")
    assert police.data["meeting"] == case.code and police.data["number"] == 1
    assert police.data["commission"] == MEETING["commission"]
    # 1405/09/20 is Friday 2026-12-11, a closed day: it is due when Saturday ends (midnight Tehran).
    assert police.state_due_at.ToDatetime(UTC) == datetime(2026, 12, 12, 20, 30, tzinfo=UTC)
    with pytest.raises(PermissionDenied):  # not the owner
        await step(engine, EDUCATION, police, "report-done", "f1", report="x")
    done = await step(engine, OWNER, police, "report-done", "f2", report="گشت‌ها افزایش یافت")
    assert (done.state, done.outcome) == ("done", "closed")
    with pytest.raises(InvalidArgument):  # a resolution not done needs its reason
        await step(engine, EDUCATION, education, "report-not-done", "f3")
    not_done = await step(engine, EDUCATION, education, "report-not-done", "f4", reason="اعتبار تخصیص نیافت")
    assert (not_done.state, not_done.assigned_role, not_done.outcome) == ("not-done", "secretary", "")
    case = await step(engine, SECRETARY, case, "report-follow-up", "m9")
    assert (case.state, case.outcome) == ("reported", "closed")
    report = {item["number"]: item for item in json_format.MessageToDict(case.data)["report"]}
    assert (report[1]["status"], report[1]["open"], report[1]["reason"]) == ("done", False, "گشت‌ها افزایش یافت")
    assert (report[2]["status"], report[2]["open"], report[2]["reason"]) == ("not-done", True, "اعتبار تخصیص نیافت")
    subjects = await event_subjects(engine)
    assert "ostan.political.exam-protection-commission-resolution.assigned" in subjects
    assert "ostan.political.exam-protection-commission-resolution.reported-done" in subjects
    assert "ostan.political.exam-protection-commission-resolution.reported-not-done" in subjects


async def test_the_next_meeting_opens_with_the_open_resolutions_of_the_last(engine):
    first = await meeting_with_minutes(engine, "a")
    [police] = await inbox(engine, OWNER, "police-liaison")
    [education] = await inbox(engine, EDUCATION, "education-liaison")
    await step(engine, OWNER, police, "report-done", "a10", report="انجام شد")
    education = await step(engine, EDUCATION, education, "report-not-done", "a11", reason="اعتبار تخصیص نیافت")
    second = (await engine.start(SECRETARY, "exam-protection-commission", {**MEETING, "meeting_number": 4}, "b1")).message
    await engine.attach(SECRETARY, second.code, "invitation", "i.pdf", "application/pdf", PDF, "b2")
    second = await step(engine, SECRETARY, await engine.get(SECRETARY, second.code), "send-invitations", "b3")
    receipts = [{"member": m["name"], "received_on": "1405/09/05"} for m in MEMBERS]
    second = await step(engine, SECRETARY, second, "confirm-receipts", "b4", receipts=receipts)
    second = await step(engine, CHAIR, second, "open-meeting", "b5", attendees=["الف", "ب"])
    carried = json_format.MessageToDict(second.data)["open_resolutions"]
    assert [(item["case"], item["status"], item["reason"]) for item in carried] == [
        (education.code, "not-done", "اعتبار تخصیص نیافت")]
    moved = await engine.get(SECRETARY, education.code)
    assert moved.data["followed_up_by"] == second.code and moved.data["meeting"] == first.code
    assert "ostan.political.exam-protection-commission-resolution.carried-forward" in await event_subjects(engine)
    # The meeting renews it: back in its owner's inbox with a new deadline.
    renewed = await step(engine, CHAIR, moved, "renew", "b6", deadline="1405/10/15")
    assert (renewed.state, renewed.assigned_role, renewed.data["deadline"]) == ("assigned", "education-liaison", "1405/10/15")
    # The second meeting's report lists it beside its own new resolution.
    new = [{"text": "گزارش آمادگی", "owner_role": "police-liaison", "deadline": "1405/10/20"}]
    second = await step(engine, SECRETARY, second, "record-minutes", "b7", minutes="...", resolutions=new)
    await engine.attach(SECRETARY, second.code, "signed-minutes", "s.pdf", "application/pdf", PDF, "b8")
    second = await step(engine, SECRETARY, await engine.get(SECRETARY, second.code), "distribute-minutes", "b9",
                        sent_to=["اعضا"])
    second = await step(engine, SECRETARY, second, "report-follow-up", "b10")
    report = json_format.MessageToDict(second.data)["report"]
    assert [(item["case"], item["status"], item["open"]) for item in report][0] == (education.code, "assigned", True)
    assert [item["text"] for item in report] == ["آموزش عوامل اجرایی", "گزارش آمادگی"]
    assert len(await inbox(engine, OWNER, "police-liaison")) == 1  # the new one; the first is done


async def test_a_resolutions_deadline_warns_then_breaches_to_the_secretary(engine, clock):
    await meeting_with_minutes(engine, "d")
    [police] = await inbox(engine, OWNER, "police-liaison")
    due = police.state_due_at.ToDatetime(UTC)
    clock.now = clock.now + (due - clock.now) * 0.85
    assert await engine.fire_due_timers() >= 1  # the warning
    assert not (await engine.get(OWNER, police.code)).breached
    clock.now = due + timedelta(minutes=1)
    await engine.fire_due_timers()
    overdue = await engine.get(SECRETARY, police.code)
    assert overdue.breached and overdue.assigned_role == "secretary"
    assert [c.code for c in await inbox(engine, SECRETARY, "secretary") if c.breached] == [police.code]
    subjects = await event_subjects(engine)
    assert "ostan.political.exam-protection-commission-resolution.sla-warning" in subjects
    assert "ostan.political.exam-protection-commission-resolution.sla-breached" in subjects
    # Late, its owner still reports it.
    done = await step(engine, OWNER, overdue, "report-done", "d9", report="با تاخیر انجام شد")
    assert done.state == "done"


async def test_a_resolution_is_refused_whole_with_its_meeting_and_never_started_alone(engine):
    bad = [RESOLUTIONS[0], {**RESOLUTIONS[1], "deadline": "1405/01/01"}]
    with pytest.raises(InvalidArgument) as caught:
        await meeting_with_minutes(engine, "x", resolutions=bad)
    assert "resolutions item 2" in caught.value.message and "rule deadline-not-past" in caught.value.message
    assert caught.value.violations[0].field.startswith("data.resolutions[1]")
    case = (await engine.list(SECRETARY, case_pb2.ListCasesRequest()))[0][0]
    assert case.state == "minutes-recorded"  # the distribution wrote nothing
    assert await count_rows(engine, CaseRow) == 1
    with pytest.raises(InvalidArgument) as caught:
        await engine.start(SECRETARY, "resolution", RESOLUTIONS[0], "x9")
    bad_role = [{**RESOLUTIONS[0], "owner_role": "فرماندهی"}]
    with pytest.raises(InvalidArgument, match="resolutions item 1"):
        await meeting_with_minutes(engine, "y", resolutions=bad_role)


async def test_the_minutes_and_their_resolutions_are_one_change(engine):
    """A replayed distribution opens nothing twice; the meeting and its resolutions commit together."""
    case = await meeting_with_minutes(engine, "r")
    before = await count_rows(engine, CaseRow)
    replay = (await engine.act(SECRETARY, case.code, "distribute-minutes", case.version - 1, "",
                               {"sent_to": ["اعضا", "وزارت کشور"]}, "r8")).message
    assert replay.version == case.version and await count_rows(engine, CaseRow) == before == 3


async def _convened(engine):
    case = (await engine.start(SECRETARY, "security-law-enforcement-11", MEETING, "c1")).message
    await engine.attach(SECRETARY, case.code, "invitation", "i.pdf", "application/pdf", PDF, "c2")
    case = await step(engine, SECRETARY, await engine.get(SECRETARY, case.code), "send-invitations", "c3")
    return case


async def test_every_member_must_have_received_the_invitation(engine):
    case = await _convened(engine)
    with pytest.raises(InvalidArgument, match="every-member-received") as caught:
        await step(engine, SECRETARY, case, "confirm-receipts", "r1", receipts=[{"member": "الف", "received_on": "1405/09/05"}])
    assert "seed 002 P21, P22" in caught.value.message


async def test_no_quorum_no_meeting_and_no_minutes_before_the_meeting(engine):
    case = await _convened(engine)
    receipts = [{"member": m["name"], "received_on": "1405/09/05"} for m in MEMBERS]
    case = await step(engine, SECRETARY, case, "confirm-receipts", "q1", receipts=receipts)
    with pytest.raises(FailedPrecondition) as caught:  # minutes before the meeting
        await step(engine, SECRETARY, case, "record-minutes", "q2", minutes="x", resolutions=[])
    assert caught.value.reason == "ACTION_NOT_ALLOWED"
    with pytest.raises(InvalidArgument, match="quorum"):
        await step(engine, CHAIR, case, "open-meeting", "q3", attendees=["الف"])


async def test_a_resolution_without_owner_or_deadline_is_refused(engine):
    case = await _convened(engine)
    receipts = [{"member": m["name"], "received_on": "1405/09/05"} for m in MEMBERS]
    case = await step(engine, SECRETARY, case, "confirm-receipts", "o1", receipts=receipts)
    case = await step(engine, CHAIR, case, "open-meeting", "o2", attendees=["الف", "ب"])
    with pytest.raises(InvalidArgument, match="resolution-owner-and-deadline"):
        await step(engine, SECRETARY, case, "record-minutes", "o3", minutes="x", resolutions=[{"text": "بدون مسئول"}])
    with pytest.raises(InvalidArgument, match="resolution-owner-and-deadline"):  # an owner, but no role to own it
        await step(engine, SECRETARY, case, "record-minutes", "o4", minutes="x",
                   resolutions=[{"text": "x", "owner": "فرماندهی انتظامی", "deadline": "1405/09/20"}])


def test_a_body_that_moved_its_pin_to_commission_2_still_runs_its_cases_of_version_1():
    book = load_processes(service_folder("political") / "processes")
    newer, older = book.latest["exam-protection-commission"], book.version("exam-protection-commission", 1)
    assert (newer.version, bool(newer.opens())) == (2, True)  # new meetings follow their resolutions up
    assert (older.version, older.opens()) == (1, [])  # meetings started before the move run as they were
    assert older.action("report-follow-up").fields.keys() == {"report"}
    assert "resolution@1" in book.children and "resolution" not in book.latest
