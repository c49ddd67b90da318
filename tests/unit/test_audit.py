"""The audit chain: every change to a case, staff read and inquiry in one chain per service whose
every record carries the hash of the one before; editing, deleting, reordering or inserting a
record is caught, and the command names the first broken record."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from sqlalchemy import delete, select, update

from ostan.foreign_nationals.v1 import forms_pb2  # noqa: F401 — registers the forms
from ostan_kit.audit.chain import AuditChain, append, record_hash, verify
from ostan_kit.persistence.models import AuditHeadRow, AuditRecordRow, OutboxRow
from tests.unit.cases_support import staff

SERVICE = "foreign-nationals"
FORM = {
    "full_name": "محمد رضايي",
    "father_name": "علی",
    "nationality": "AFG",
    "document_type": "RESIDENCE_DOCUMENT_TYPE_AMAYESH_CARD",
    "document_number": "12345678",
    "document_expires_on": "1405/09/01",
    "mobile": "09121234567",
    "address": "قزوین",
}
CLERK = staff("clerk-1", "foreign-nationals", "clerk")


@pytest.fixture
async def chained(engine):
    """Five records: three starts, a staff read and its history read."""
    for key in ("a", "b", "c"):
        code = (await engine.start(CLERK, "residence-document-extension", FORM, key)).message.code
    await engine.get(CLERK, code)
    await engine.history(CLERK, code)
    return engine.database


async def rows(database) -> list[AuditRecordRow]:
    async with database.session() as session:
        return list(await session.scalars(select(AuditRecordRow).order_by(AuditRecordRow.sequence)))


async def run(database, *statements) -> None:
    async with database.transaction() as session:
        for statement in statements:
            await session.execute(statement)


def command(url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ostan_kit.audit", "verify", "--database-url", url],
        capture_output=True, text=True, timeout=60,
    )


async def test_a_sound_chain_verifies_and_the_command_says_so(chained):
    records = await rows(chained)
    assert [r.kind for r in records] == ["case.transition"] * 3 + ["case.read"] * 2
    assert all(r.previous_hash == p.hash for p, r in zip(records, records[1:], strict=False))
    assert await verify(chained) == (5, None)
    checked = await asyncio.to_thread(command, chained.url)
    assert checked.returncode == 0 and checked.stdout.startswith("ok: 5 records")


async def test_an_edited_record_is_caught(chained):
    await run(chained, update(AuditRecordRow).where(AuditRecordRow.sequence == 2).values(actor="staff:someone-else"))
    assert (await verify(chained))[1].sequence == 2
    checked = await asyncio.to_thread(command, chained.url)
    assert checked.returncode == 1 and "record 2" in checked.stderr


async def test_an_edited_detail_is_caught_even_with_its_hash_recomputed_naively(chained):
    records = await rows(chained)
    detail = {**records[0].detail, "to": "delivered"}
    await run(chained, update(AuditRecordRow).where(AuditRecordRow.sequence == 1).values(detail=detail))
    assert (await verify(chained))[1].sequence == 1


async def test_a_deleted_record_is_caught(chained):
    await run(chained, delete(AuditRecordRow).where(AuditRecordRow.sequence == 3))
    broken = (await verify(chained))[1]
    assert broken.sequence == 3 and "missing" in broken.problem


async def test_a_deleted_tail_is_caught_by_the_head(chained):
    await run(chained, delete(AuditRecordRow).where(AuditRecordRow.sequence == 5))
    broken = (await verify(chained))[1]
    assert broken is not None and "head" in broken.problem


async def test_reordered_records_are_caught(chained):
    second, third = (await rows(chained))[1:3]
    swap = {column: getattr(third, column) for column in ("at", "kind", "actor", "about", "detail", "previous_hash", "hash")}
    back = {column: getattr(second, column) for column in swap}
    await run(
        chained,
        update(AuditRecordRow).where(AuditRecordRow.sequence == 2).values(**swap),
        update(AuditRecordRow).where(AuditRecordRow.sequence == 3).values(**back),
    )
    assert (await verify(chained))[1].sequence == 2


async def test_an_inserted_record_is_caught(chained):
    records = await rows(chained)
    forged = records[2]
    # Make room after record 3 and slip a copy of it in as record 4.
    for sequence in (5, 4):
        await run(chained, update(AuditRecordRow).where(AuditRecordRow.sequence == sequence).values(sequence=sequence + 1))
    async with chained.transaction() as session:
        session.add(
            AuditRecordRow(
                sequence=4, at=forged.at, kind="case.read", actor="staff:intruder", about=forged.about,
                detail={}, previous_hash=forged.hash, hash=forged.hash,
            )
        )
    assert (await verify(chained))[1].sequence == 4


async def test_concurrent_appends_make_one_unbroken_chain(engine):
    """Transactions of one, two and three records at once (on PostgreSQL each on a connection of
    its own, serialised by the head's row lock only when they write)."""

    async def one(n: int) -> None:
        async with engine.database.transaction() as session:
            for part in range(n % 3 + 1):
                await append(
                    session, at=engine.clock(), kind="test", actor="system", about=str(n), detail={"n": n, "part": part}
                )

    await asyncio.gather(*(one(n) for n in range(20)))
    assert await verify(engine.database) == (sum(n % 3 + 1 for n in range(20)), None)
    records = await rows(engine.database)
    # A transaction's records are consecutive and in the order it appended them.
    for first, second in zip(records, records[1:], strict=False):
        if first.about == second.about:
            assert second.detail["part"] == first.detail["part"] + 1


async def test_concurrent_transitions_and_reads_make_one_unbroken_chain(engine):
    async def one(n: int) -> None:
        clerk = staff(f"clerk-{n}", "foreign-nationals", "clerk")
        case = (await engine.start(clerk, "residence-document-extension", FORM, f"k{n}")).message
        await engine.get(clerk, case.code)

    await asyncio.gather(*(one(n) for n in range(12)))
    records = await rows(engine.database)
    assert [r.kind for r in records].count("case.transition") == 12
    assert [r.kind for r in records].count("case.read") == 12
    assert await verify(engine.database) == (24, None)


async def test_a_record_hashes_the_same_in_the_database_as_record_hash_does(chained):
    """The hash is made by the database from the canonical JSON made here; verify() recomputes it."""
    for row in await rows(chained):
        assert row.hash == record_hash(row.previous_hash, row.sequence, row.at, row.kind, row.actor, row.about, row.detail)
    async with chained.session() as session:
        head = await session.get(AuditHeadRow, 1)
    last = (await rows(chained))[-1]
    assert (head.sequence, head.hash, head.previous_hash) == (last.sequence, last.hash, last.previous_hash)


async def test_the_head_is_published_as_an_event_when_it_has_moved(chained):
    chain = AuditChain(SERVICE, chained)
    assert await chain.publish_head() is True
    assert await chain.publish_head() is False  # nothing new since
    async with chained.session() as session:
        subjects = list(await session.scalars(select(OutboxRow.subject)))
        head = await session.get(AuditHeadRow, 1)
    assert subjects.count(f"ostan.{SERVICE}.audit.head-recorded") == 1
    assert (head.sequence, head.published_sequence) == (5, 5)
