"""The case engine against a real database (SQLite here, PostgreSQL in CI); no bus needed."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ostan.foreign_nationals.v1 import forms_pb2  # noqa: F401 — registers the form
from ostan_kit.cases import CaseEngine
from ostan_kit.db import Database
from ostan_kit.errors import InvalidArgument, NotFound
from ostan_kit.migrations import upgrade
from ostan_kit.models import CaseHistoryRow, CaseRow, IdempotencyRow, OutboxRow
from ostan_kit.processes import load_processes
from ostan_kit.tracking import make_code, parse_code

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "services" / "foreign-nationals"
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


@pytest.fixture
async def engine(database_url):
    await asyncio.to_thread(upgrade, SERVICE / "migrations", database_url)
    database = Database(database_url)
    yield CaseEngine("foreign-nationals", database, load_processes(SERVICE / "processes"))
    await database.close()


async def _counts(engine):
    async with engine.database.session() as session:
        return [
            await session.scalar(select(func.count()).select_from(table))
            for table in (CaseRow, CaseHistoryRow, IdempotencyRow, OutboxRow)
        ]


async def test_a_start_commits_case_history_key_and_event_together(engine):
    result = await engine.start("residence-document-extension", FORM, "key-1")
    assert not result.replayed
    assert result.case.state == "submitted"
    assert parse_code(result.case.code)[0] == "FN"
    assert await _counts(engine) == [1, 1, 1, 1]
    async with engine.database.session() as session:
        event = await session.scalar(select(OutboxRow))
    assert event.subject == "ostan.foreign-nationals.residence-document-extension.submitted"
    assert event.headers["ce-subject"] == result.case.code
    assert event.published_at is None


async def test_a_replay_returns_the_first_case_and_changes_nothing(engine):
    first = await engine.start("residence-document-extension", FORM, "key-1")
    again = await engine.start("residence-document-extension", FORM, "key-1")
    assert again.replayed and again.case.code == first.case.code
    assert await _counts(engine) == [1, 1, 1, 1]


async def test_a_key_reused_for_another_request_is_refused(engine):
    await engine.start("residence-document-extension", FORM, "key-1")
    with pytest.raises(InvalidArgument) as caught:
        await engine.start("residence-document-extension", {**FORM, "mobile": "09350000000"}, "key-1")
    assert caught.value.violations[0].field == "idempotency_key"


async def test_sequences_give_distinct_codes(engine):
    codes = {(await engine.start("residence-document-extension", FORM, f"k{i}")).case.code for i in range(5)}
    assert len(codes) == 5
    assert sorted(parse_code(code)[2] for code in codes) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("process", "data", "key", "field"),
    [
        ("residence-document-extension", {**FORM, "mobile": "1"}, "k", "data.mobile"),
        ("no-such-process", FORM, "k", "process"),
        ("residence-document-extension", FORM, "  ", "idempotency_key"),
    ],
)
async def test_bad_input_writes_nothing(engine, process, data, key, field):
    with pytest.raises(InvalidArgument) as caught:
        await engine.start(process, data, key)
    assert field in {v.field for v in caught.value.violations}
    assert await _counts(engine) == [0, 0, 0, 0]


async def test_get_reads_back_and_refuses_unknown_or_malformed_codes(engine):
    started = await engine.start("residence-document-extension", FORM, "key-1")
    assert (await engine.get(started.case.code.lower())).id == started.case.id
    prefix, year, sequence = parse_code(started.case.code)
    with pytest.raises(NotFound):
        await engine.get(make_code(prefix, year, sequence + 1000))
    with pytest.raises(InvalidArgument):
        await engine.get("not-a-code")
