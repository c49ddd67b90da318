"""The commission pattern, written once in kit and run by any office's commission."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ostan_kit.processes.definitions import load_processes
from ostan_kit.runtime.errors import FailedPrecondition, InvalidArgument
from tests.unit.cases_support import Clock, staff

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
        "extends: commission@1\nslug: exam-protection-commission\ncatalogue: [security-law-enforcement-11]\n"
        "title_fa: کمیسیون حفاظت از آزمون‌ها\ntitle_en: Exam protection commission\n",
        "utf-8",
    )
    return load_processes(folder)


async def step(engine, actor, case, action, key, **data):
    return (await engine.act(actor, case.code, action, case.version, "", data, key)).message


async def test_a_meeting_from_invitation_to_its_follow_up_report(engine):
    case = (await engine.start(SECRETARY, "security-law-enforcement-11", MEETING, "m1")).message
    assert (case.process, case.definition) == ("exam-protection-commission", "exam-protection-commission")
    await engine.attach(SECRETARY, case.code, "invitation", "دعوت.pdf", "application/pdf", PDF, "m2")
    case = await engine.get(SECRETARY, case.code)
    case = await step(engine, SECRETARY, case, "send-invitations", "m3")
    receipts = [{"member": m["name"], "received_on": "1405/09/05"} for m in MEMBERS]
    case = await step(engine, SECRETARY, case, "confirm-receipts", "m4", receipts=receipts)
    case = await step(engine, CHAIR, case, "open-meeting", "m5", attendees=["الف", "ب"])
    resolutions = [{"text": "تشدید کنترل حوزه‌ها", "owner": "فرماندهی انتظامی", "deadline": "1405/09/20"}]
    case = await step(engine, SECRETARY, case, "record-minutes", "m6", minutes="...", resolutions=resolutions)
    await engine.attach(SECRETARY, case.code, "signed-minutes", "صورتجلسه.pdf", "application/pdf", PDF, "m7")
    case = await engine.get(SECRETARY, case.code)
    case = await step(engine, SECRETARY, case, "distribute-minutes", "m8", sent_to=["اعضا", "وزارت کشور"])
    report = [{"resolution": "تشدید کنترل حوزه‌ها", "status": "done", "reason": "انجام شد"}]
    case = await step(engine, SECRETARY, case, "report-follow-up", "m9", report=report)
    assert (case.state, case.outcome) == ("reported", "closed")


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
