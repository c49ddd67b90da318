"""The case engine against a real database (SQLite here, PostgreSQL in CI); no bus needed: the
events it publishes are read from its outbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from ostan.common.v1 import case_pb2
from ostan.foreign_nationals.v1 import forms_pb2  # noqa: F401 — registers the form
from ostan_kit.cases.engine import CaseEngine
from ostan_kit.persistence.models import (
    AuditRecordRow,
    CaseHistoryRow,
    CaseRow,
    CaseTimerRow,
    IdempotencyRow,
    IssuedDocumentRow,
    OutboxRow,
)
from ostan_kit.processes.definitions import load_processes
from ostan_kit.runtime.errors import (
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
)
from ostan_kit.text.tracking import make_code, parse_code
from tests.unit.cases_support import citizen, count_rows, event_subjects, service_folder, staff

SERVICE = "foreign-nationals"
PROCESS = "residence-document-extension"
FORM = {
    "full_name": "محمد رضایی",
    "father_name": "علی",
    "nationality": "AFG",
    "document_type": "RESIDENCE_DOCUMENT_TYPE_HOVIYAT",
    "document_number": "12345678",
    "document_expires_on": "1405/09/01",
    "mobile": "09121234567",
    "address": "قزوین",
}
CLERK = staff("clerk-1", "foreign-nationals", "clerk", name="سارا احمدی")
HEAD = staff("head-1", "foreign-nationals", "head-of-office", name="رئیس دفتر")
OTHER_OFFICE = staff("clerk-9", "social-cultural", "clerk", name="x")
CITIZEN = citizen("0084575948")
STRANGER = citizen("0067749828", "دیگری")
PDF = b"%PDF-1.4 residence document"
JPEG = b"\xff\xd8\xff photo"


async def counts(engine) -> list[int]:
    return [await count_rows(engine, t) for t in (CaseRow, CaseHistoryRow, AuditRecordRow, IdempotencyRow, OutboxRow)]


async def started(engine, actor=CLERK, key="start-1"):
    return (await engine.start(actor, PROCESS, FORM, key)).message


async def with_documents(engine, code):
    await engine.attach(CLERK, code, "residence-document-scan", "scan.pdf", "application/pdf", PDF, f"{code}-scan")
    answer = await engine.attach(CLERK, code, "photo", "photo.jpg", "image/jpeg", JPEG, f"{code}-photo")
    return answer.message.case


async def test_a_start_commits_case_history_audit_key_event_and_timers_together(engine):
    case = await started(engine)
    assert case.state == "submitted" and case.assigned_role == "clerk" and case.version == 1
    assert parse_code(case.code)[:2] == ("FN", 1405)
    assert await counts(engine) == [1, 1, 1, 1, 1]
    assert await event_subjects(engine) == ["ostan.foreign-nationals.residence-document-extension.submitted"]
    # The state's warning and breach, and the whole process's.
    assert await count_rows(engine, CaseTimerRow) == 4
    assert case.HasField("state_due_at") and case.HasField("process_due_at")


async def test_a_whole_case_from_submission_to_delivery(engine):
    case = await started(engine)
    case = await with_documents(engine, case.code)
    case = (await engine.act(CLERK, case.code, "start-review", case.version, "", {}, "a1")).message
    assert case.state == "under-review"
    case = (
        await engine.act(HEAD, case.code, "approve", case.version, "موافقت شد", {"extended_until": "۱۴۰۶/۰۹/۰۱"}, "a2")
    ).message
    case = (await engine.act(CLERK, case.code, "deliver", case.version, "", {}, "a3")).message
    assert (case.state, case.outcome, case.assigned_role) == ("delivered", "granted", "")
    history = await engine.history(CLERK, case.code)
    assert [h.event for h in history] == [
        "submitted", "document-attached", "document-attached", "start-review", "approve", "deliver",
    ]
    assert [h.actor_role for h in history][-3:] == ["clerk", "head-of-office", "clerk"]
    subjects = await event_subjects(engine)
    assert subjects[-1] == "ostan.foreign-nationals.residence-document-extension.deliver"
    assert [c.text for c in case.comments] == ["موافقت شد"]


async def granted_up_to_delivery(engine):
    case = await with_documents(engine, (await started(engine)).code)
    case = (await engine.act(CLERK, case.code, "start-review", case.version, "", {}, "g1")).message
    return (
        await engine.act(HEAD, case.code, "approve", case.version, "", {"extended_until": "۱۴۰۶/۰۹/۰۱"}, "g2")
    ).message


async def test_the_granting_transaction_issues_the_signed_permit(engine):
    case = await granted_up_to_delivery(engine)
    assert await count_rows(engine, IssuedDocumentRow) == 0
    await engine.act(CLERK, case.code, "deliver", case.version, "", {}, "g3")
    answer = await engine.issued(CLERK, case.code)
    assert answer.status.state == "valid" and answer.document.valid_until_jalali == "1406/09/01"
    assert [f.label_fa for f in answer.document.fields][-1] == "مدرک تا این تاریخ تمدید می‌شود"
    assert (await engine.verify(case.code)).status.authentic


async def test_granting_without_an_issuing_key_changes_nothing(engine):
    case = await granted_up_to_delivery(engine)
    engine.issuer = None
    before = await counts(engine)
    with pytest.raises(FailedPrecondition, match="no issuing key"):
        await engine.act(CLERK, case.code, "deliver", case.version, "", {}, "g3")
    # Counted before the clerk reads the case (a staff read is an audit record of its own).
    assert await counts(engine) == before and await count_rows(engine, IssuedDocumentRow) == 0
    assert (await engine.get(CLERK, case.code)).state == "decided"


async def test_the_generic_request_runs_any_catalogue_entry_with_clients(engine):
    generic = [e for e in engine.catalogue.values() if engine.runs_as(e)[0] == "generic" and e.service_id]
    entry = generic[0]
    form = {"full_name": "زهرا", "national_code": "0084575948", "mobile": "09121234567", "subject": "گواهی"}
    case = (await engine.start(CITIZEN, entry.slug, form, "g1")).message
    assert (case.process, case.definition, case.applicant_id) == (entry.slug, "generic-request", CITIZEN.subject)
    # by booklet ID too
    assert (await engine.start(CLERK, entry.service_id, form, "g2")).message.process == entry.slug
    with pytest.raises(InvalidArgument, match="record only|not run as a case"):
        await engine.start(CLERK, "foreign-nationals-19", form, "g3")  # the one FN service without clients


async def test_a_replay_returns_the_first_answer_and_changes_nothing(engine):
    first = await engine.start(CLERK, PROCESS, FORM, "k")
    again = await engine.start(CLERK, PROCESS, FORM, "k")
    assert again.replayed and again.message == first.message
    case = await with_documents(engine, first.message.code)
    acted = await engine.act(CLERK, case.code, "start-review", case.version, "", {}, "act")
    replay = await engine.act(CLERK, case.code, "start-review", case.version, "", {}, "act")
    assert replay.replayed and replay.message == acted.message
    assert await count_rows(engine, CaseHistoryRow) == 4
    with pytest.raises(InvalidArgument) as caught:
        await engine.start(CLERK, PROCESS, {**FORM, "mobile": "09350000000"}, "k")
    assert caught.value.violations[0].field == "idempotency_key"


async def test_two_officers_acting_at_once_get_one_success_and_one_conflict(engine):
    case = await with_documents(engine, (await started(engine)).code)
    results = await asyncio.gather(
        engine.act(CLERK, case.code, "start-review", case.version, "", {}, "x1"),
        engine.act(CLERK, case.code, "start-review", case.version, "", {}, "x2"),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) in (["Answer", "Conflict"], ["Answer", "FailedPrecondition"])
    assert await count_rows(engine, CaseHistoryRow, CaseHistoryRow.event == "start-review") == 1


async def test_a_stale_version_is_a_conflict_and_writes_nothing(engine):
    case = await with_documents(engine, (await started(engine)).code)
    before = await counts(engine)
    with pytest.raises(Conflict) as caught:
        await engine.act(CLERK, case.code, "start-review", case.version - 1, "", {}, "stale")
    assert caught.value.reason == "STALE_VERSION"
    assert await counts(engine) == before


async def test_refusals_name_what_is_wrong_and_write_nothing(engine):
    case = await started(engine)
    before = await counts(engine)
    with pytest.raises(FailedPrecondition) as caught:  # not allowed in this state
        await engine.act(CLERK, case.code, "deliver", case.version, "", {}, "r1")
    assert caught.value.metadata["allowed_actions"] == "start-review"
    with pytest.raises(FailedPrecondition) as caught:  # and the head of office has nothing to do yet
        await engine.act(HEAD, case.code, "approve", case.version, "", {"extended_until": "1406/01/01"}, "r2")
    assert caught.value.metadata["allowed_actions"] == ""
    with pytest.raises(InvalidArgument) as caught:  # required documents missing
        await engine.act(CLERK, case.code, "start-review", case.version, "", {}, "r3")
    assert {v.field for v in caught.value.violations} == {"documents.residence-document-scan", "documents.photo"}
    with pytest.raises(NotFound):  # another office's staff do not see it
        await engine.act(OTHER_OFFICE, case.code, "start-review", case.version, "", {}, "r4")
    with pytest.raises(NotFound):  # nor another citizen
        await engine.get(STRANGER, case.code)
    assert await counts(engine) == before

    case = await with_documents(engine, case.code)
    case = (await engine.act(CLERK, case.code, "start-review", case.version, "", {}, "r5")).message
    before = await counts(engine)
    with pytest.raises(PermissionDenied):  # the right state, the wrong role
        await engine.act(CLERK, case.code, "approve", case.version, "", {"extended_until": "1406/01/01"}, "r6")
    assert await counts(engine) == before


async def test_invalid_national_code_and_action_fields_are_named(engine):
    form = {"full_name": "زهرا", "national_code": "0084575949", "mobile": "09121234567", "subject": "گواهی"}
    with pytest.raises(InvalidArgument) as caught:
        await engine.start(CITIZEN, "foreign-nationals-32", form, "n1")
    assert caught.value.violations[0].field == "data.national_code"
    case = await with_documents(engine, (await started(engine)).code)
    case = (await engine.act(CLERK, case.code, "start-review", case.version, "", {}, "n2")).message
    with pytest.raises(InvalidArgument) as caught:
        await engine.act(HEAD, case.code, "refuse", case.version, "", {}, "n3")
    assert caught.value.violations[0].field == "data.reason"
    with pytest.raises(InvalidArgument) as caught:
        await engine.act(CLERK, case.code, "request-correction", case.version, "  ", {}, "n4")
    assert caught.value.violations[0].field == "comment"


async def test_documents_are_checked_before_anything_is_kept(engine, tmp_path):
    case = await started(engine)
    before = await counts(engine)
    with pytest.raises(OutOfRange) as caught:
        await engine.attach(CLERK, case.code, "photo", "big.jpg", "image/jpeg", b"x" * 2_000_001, "d1")
    assert caught.value.reason == "DOCUMENT_TOO_LARGE"
    with pytest.raises(InvalidArgument) as caught:
        await engine.attach(CLERK, case.code, "photo", "photo.gif", "image/gif", b"GIF89a", "d2")
    assert caught.value.reason == "DOCUMENT_TYPE_NOT_ALLOWED"
    with pytest.raises(InvalidArgument):
        await engine.attach(CLERK, case.code, "passport", "p.pdf", "application/pdf", PDF, "d3")
    assert await counts(engine) == before
    assert not (tmp_path / "documents").exists()
    answer = await engine.attach(CLERK, case.code, "photo", "عکس.jpg", "image/jpeg", JPEG, "d4")
    stored = engine.documents.get(answer.message.document.sha256)
    assert stored == JPEG


async def test_a_citizen_sees_and_acts_only_on_their_own_cases(engine):
    form = {"full_name": "زهرا", "national_code": "0084575948", "mobile": "09121234567", "subject": "گواهی"}
    mine = (await engine.start(CITIZEN, "foreign-nationals-32", form, "c1")).message
    await engine.start(CLERK, PROCESS, FORM, "c2")
    cases, _ = await engine.list(CITIZEN, case_pb2.ListCasesRequest())
    assert [case.code for case in cases] == [mine.code]
    withdrawn = (await engine.act(CITIZEN, mine.code, "withdraw", mine.version, "", {}, "c3")).message
    assert withdrawn.outcome == "withdrawn"


async def test_the_inbox_lists_a_roles_cases_nearest_deadline_first(engine, clock):
    first = await started(engine, key="i1")
    clock.now += timedelta(hours=3)
    second = await started(engine, key="i2")
    inbox, token = await engine.list(CLERK, case_pb2.ListCasesRequest(role="clerk"))
    assert [case.code for case in inbox] == [first.code, second.code] and token == ""
    with pytest.raises(PermissionDenied):
        await engine.list(CLERK, case_pb2.ListCasesRequest(role="head-of-office"))
    found, _ = await engine.list(CLERK, case_pb2.ListCasesRequest(code=second.code[:9], state="submitted"))
    assert {case.code for case in found} == {first.code, second.code}
    page, token = await engine.list(CLERK, case_pb2.ListCasesRequest(page_size=1))
    assert len(page) == 1 and token == "1"


@pytest.mark.parametrize("field", ["role", "state", "process"])
@pytest.mark.parametrize("value", ["\x00", "submitted\x00", "Clerk", "two words", "clerk\n", "-clerk", "a--b"])
async def test_a_list_filter_that_is_no_name_is_invalid_and_never_reaches_the_database(engine, field, value):
    """PostgreSQL refuses a NUL byte in text: sent on, it was an internal error."""
    with pytest.raises(InvalidArgument) as raised:
        await engine.list(CLERK, case_pb2.ListCasesRequest(**{field: value}))
    assert [violation.field for violation in raised.value.violations] == [field]


@pytest.mark.parametrize("field", ["created_from", "created_to"])
@pytest.mark.parametrize("seconds", [2**62, -(2**62), 253402300800])
async def test_a_list_bound_protobuf_cannot_read_as_a_date_is_invalid(engine, field, seconds):
    """A gRPC caller may send any seconds; reading them as a date raised a ValueError, an internal error."""
    request = case_pb2.ListCasesRequest()
    getattr(request, field).seconds = seconds
    with pytest.raises(InvalidArgument) as raised:
        await engine.list(CLERK, request)
    assert [violation.field for violation in raised.value.violations] == [field]


async def test_sla_warning_breach_and_escalation_across_a_weekend(engine, clock):
    # Submitted Wednesday 2026-04-22 09:00 Tehran with a 2-day SLA: by the day rule the 2 days are
    # Thursday and Friday; Friday is closed, so the limit ends with Saturday (Sunday 00:00 Tehran,
    # 04-25 20:30 UTC), and its 80% warning falls 80% of the way there, Saturday 06:36.
    clock.now = datetime(2026, 4, 22, 5, 30, tzinfo=UTC)
    case = await started(engine)
    assert case.state_due_at.ToDatetime(UTC) == datetime(2026, 4, 25, 20, 30, tzinfo=UTC)
    clock.now = datetime(2026, 4, 25, 3, 0, tzinfo=UTC)  # Saturday 06:30 Tehran
    assert await engine.fire_due_timers() == 0
    clock.now = datetime(2026, 4, 25, 3, 10, tzinfo=UTC)  # Saturday 06:40
    assert await engine.fire_due_timers() == 1
    clock.now = datetime(2026, 4, 25, 20, 29, tzinfo=UTC)  # Saturday 23:59: still in time
    assert await engine.fire_due_timers() == 0
    clock.now = datetime(2026, 4, 25, 20, 31, tzinfo=UTC)  # Sunday 00:01
    assert await engine.fire_due_timers() == 1
    assert await engine.fire_due_timers() == 0  # fired once only
    escalated = await engine.get(CLERK, case.code)
    assert escalated.breached and escalated.assigned_role == "supervisor"
    assert (await event_subjects(engine))[-2:] == [
        "ostan.foreign-nationals.residence-document-extension.sla-warning",
        "ostan.foreign-nationals.residence-document-extension.sla-breached",
    ]


async def test_a_limit_ending_in_nowruz_ends_with_the_first_working_day_after(engine, clock):
    clock.now = datetime(2026, 3, 18, 6, 30, tzinfo=UTC)  # Wednesday 10:00, before Nowruz
    case = await started(engine)
    # The 2 days are Thursday 03-19 and Friday 03-20 (closed); 03-21..24 are the Nowruz holidays
    # of 1405, so the limit ends with Wednesday 03-25 (Civil Procedure Law Art. 444).
    assert case.state_due_at.ToDatetime(UTC) == datetime(2026, 3, 25, 20, 30, tzinfo=UTC)


async def test_a_limit_ending_on_ashura_ends_with_the_next_working_day(engine, clock):
    clock.now = datetime(2026, 6, 23, 10, 30, tzinfo=UTC)  # Tuesday 14:00
    case = await started(engine)
    # Day 2 is Ashura (06-25), then Friday 06-26: the limit ends with Saturday 06-27.
    assert case.state_due_at.ToDatetime(UTC) == datetime(2026, 6, 27, 20, 30, tzinfo=UTC)


async def test_a_limit_ending_on_a_working_day_counts_calendar_days_through_closed_ones(engine, clock):
    clock.now = datetime(2026, 6, 21, 10, 30, tzinfo=UTC)  # Sunday 14:00
    case = await started(engine)
    # Monday and Tuesday are the 2 days; the holidays after do not lengthen a limit that ends before them.
    assert case.state_due_at.ToDatetime(UTC) == datetime(2026, 6, 23, 20, 30, tzinfo=UTC)


async def test_timers_of_a_state_left_in_time_do_nothing(engine, clock):
    case = await with_documents(engine, (await started(engine)).code)
    await engine.act(CLERK, case.code, "start-review", case.version, "", {}, "t1")
    clock.now += timedelta(days=3)  # the submitted-state timers are now due, but stale
    before = len(await event_subjects(engine))
    await engine.fire_due_timers()
    assert len(await event_subjects(engine)) == before


async def test_a_case_keeps_its_process_version(engine, tmp_path, database_url, clock):
    case = await started(engine)
    folder = tmp_path / "processes"
    folder.mkdir()
    text = (service_folder(SERVICE) / "processes" / f"{PROCESS}.yaml").read_text("utf-8")
    (folder / "v1.yaml").write_text(text, "utf-8")
    (folder / "v2.yaml").write_text(text.replace("version: 1", "version: 2").replace(
        "requires_documents: [residence-document-scan, photo]", "requires_documents: []"), "utf-8")
    newer = CaseEngine(
        "foreign-nationals", engine.database, load_processes(folder), list(engine.catalogue.values()),
        engine.documents, engine.calendar, clock=clock,
    )
    with pytest.raises(InvalidArgument):  # version 1 still wants its documents
        await newer.act(CLERK, case.code, "start-review", case.version, "", {}, "v1")
    fresh = (await newer.start(CLERK, PROCESS, FORM, "v2-start")).message
    assert fresh.process_version == 2
    assert (await newer.act(CLERK, fresh.code, "start-review", fresh.version, "", {}, "v2")).message.state == "under-review"


async def test_codes_are_sequential_and_unknown_codes_refused(engine):
    codes = [(await started(engine, key=f"s{i}")).code for i in range(3)]
    assert [parse_code(code)[2] for code in codes] == [1, 2, 3]
    with pytest.raises(NotFound):
        await engine.get(CLERK, make_code("FN", 1405, 999))
    with pytest.raises(InvalidArgument):
        await engine.get(CLERK, "not-a-code")


async def test_a_timer_whose_definition_version_is_gone_is_skipped_and_the_next_still_fires(engine, clock, caplog):
    clock.now = datetime(2026, 4, 22, 5, 30, tzinfo=UTC)
    orphan = await started(engine, key="orphan")
    clock.now += timedelta(minutes=5)
    kept = await started(engine, key="kept")
    # The first case runs under a version of its definition this service no longer has.
    async with engine.database.transaction() as session:
        row = await session.scalar(select(CaseRow).where(CaseRow.code == orphan.code))
        row.process_version = 99
    clock.now = datetime(2026, 4, 25, 8, 30, tzinfo=UTC)  # Saturday noon: both warnings are due (not the breaches), the orphan's first
    assert await engine.fire_due_timers() == 2
    skipped = [record for record in caplog.records if "definition version is gone" in record.getMessage()]
    assert [record.case for record in skipped] == [orphan.code]
    assert (await event_subjects(engine))[-1] == "ostan.foreign-nationals.residence-document-extension.sla-warning"
    async with engine.database.session() as session:
        fired = {
            code: fired_at is not None
            for code, fired_at in await session.execute(
                select(CaseRow.code, CaseTimerRow.fired_at)
                .join(CaseTimerRow, CaseTimerRow.case_id == CaseRow.id)
                .where(CaseTimerRow.kind == "state-warning")
            )
        }
    assert fired == {orphan.code: True, kept.code: True}  # the orphan's is marked, not retried
    assert await engine.fire_due_timers() == 0
    clock.now = datetime(2026, 4, 25, 20, 40, tzinfo=UTC)  # the breaches (the 2 days end with Saturday): the kept case still escalates
    assert await engine.fire_due_timers() == 2
    assert (await engine.get(CLERK, kept.code)).assigned_role == "supervisor"
