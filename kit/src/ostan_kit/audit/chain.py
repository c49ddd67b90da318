"""An append-only audit log per service in which every record carries the hash of the one before.

A record's hash is SHA-256 over the previous hash and the record's RFC 8785 canonical JSON
(sequence, time, kind, actor, what it is about, detail), so editing, deleting, reordering or
inserting a record breaks the chain at that record; the head row names the last record, so
cutting the tail breaks it too. Appends are serialised: on PostgreSQL by a row lock on the head
(``SELECT … FOR UPDATE`` in the appending transaction), on SQLite by the database's one writer
queue (``Database.transaction``), which every append runs in.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ostan.common.v1 import events_pb2
from ostan_kit.messaging.outbox import add_event
from ostan_kit.persistence.db import Database, is_sqlite
from ostan_kit.persistence.models import AuditHeadRow, AuditRecordRow
from ostan_kit.security.actors import Actor

GENESIS = "0" * 64
HEAD_ID = 1


def _utc(instant: datetime) -> datetime:
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def record_hash(previous_hash: str, sequence: int, at: datetime, kind: str, actor: str, about: str, detail: Any) -> str:
    body = {
        "sequence": sequence,
        "at": _utc(at).isoformat(timespec="microseconds"),
        "kind": kind,
        "actor": actor,
        "about": about,
        "detail": detail,
    }
    return hashlib.sha256(previous_hash.encode() + rfc8785.dumps(body)).hexdigest()


def actor_label(actor: Actor) -> str:
    who = actor.agency or actor.office
    return f"{actor.kind}:{actor.subject}" + (f"@{who}" if who else "")


async def append(
    session: AsyncSession, *, at: datetime, kind: str, actor: Actor | str, about: str, detail: dict[str, Any]
) -> AuditRecordRow:
    """Append a record in the caller's transaction (which must be a ``Database.transaction``)."""
    query = select(AuditHeadRow).where(AuditHeadRow.id == HEAD_ID)
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        query = query.with_for_update()
    head = await session.scalar(query)
    if head is None:
        raise RuntimeError("the audit log has no head row: the database is not migrated to 0003")
    label = actor if isinstance(actor, str) else actor_label(actor)
    sequence = head.sequence + 1
    # The JSON column gives back what JSON can hold; hash exactly that.
    detail = rfc8785_safe(detail)
    digest = record_hash(head.hash, sequence, at, kind, label[:200], about[:200], detail)
    row = AuditRecordRow(
        sequence=sequence,
        at=at,
        kind=kind,
        actor=label[:200],
        about=about[:200],
        detail=detail,
        previous_hash=head.hash,
        hash=digest,
    )
    session.add(row)
    head.sequence, head.hash = sequence, digest
    return row


def rfc8785_safe(value: Any) -> Any:
    """``value`` with what canonical JSON cannot hold made plain: floats that are whole become
    integers (a JSON column may give 2.0 back as 2), anything else unknown becomes text."""
    if isinstance(value, dict):
        return {str(key): rfc8785_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [rfc8785_safe(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@dataclass(frozen=True)
class Broken:
    sequence: int
    problem: str

    def __str__(self) -> str:
        return f"record {self.sequence}: {self.problem}"


async def _records(session: AsyncSession, batch: int = 1000) -> AsyncIterator[AuditRecordRow]:
    last = -1
    while True:
        rows = (
            await session.scalars(
                select(AuditRecordRow).where(AuditRecordRow.sequence > last).order_by(AuditRecordRow.sequence).limit(batch)
            )
        ).all()
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].sequence
        session.expunge_all()


async def verify(database: Database) -> tuple[int, Broken | None]:
    """Walk the chain: how many records are sound, and the first broken one (or None)."""
    expected_previous, expected_sequence, count = GENESIS, 1, 0
    async with database.session() as session:
        async for row in _records(session):
            if row.sequence != expected_sequence:
                problem = (
                    f"record {expected_sequence} is missing (next found: {row.sequence})"
                    if row.sequence > expected_sequence
                    else "out of sequence"
                )
                return count, Broken(expected_sequence if row.sequence > expected_sequence else row.sequence, problem)
            if row.previous_hash != expected_previous:
                return count, Broken(row.sequence, "its previous_hash is not the hash of the record before")
            digest = record_hash(row.previous_hash, row.sequence, row.at, row.kind, row.actor, row.about, row.detail)
            if digest != row.hash:
                return count, Broken(row.sequence, "its content does not match its hash (edited)")
            expected_previous, expected_sequence, count = row.hash, row.sequence + 1, count + 1
        head = await session.get(AuditHeadRow, HEAD_ID)
    if head is None:
        return count, Broken(0, "the head row is missing")
    if head.sequence != count or head.hash != expected_previous:
        return count, Broken(count + 1 if head.sequence > count else head.sequence, (
            f"the head names record {head.sequence} ({head.hash[:12]}…) but the chain ends at {count}"
        ))
    return count, None


class AuditChain:
    """The service's side of the log: it publishes the head as an event when it has moved."""

    def __init__(self, service: str, database: Database) -> None:
        self.service = service
        self.database = database

    async def publish_head(self, now: datetime | None = None) -> bool:
        """Stage an ``audit.head-recorded`` event if records were appended since the last one."""
        now = now or datetime.now(UTC)
        async with self.database.transaction() as session:
            query = select(AuditHeadRow).where(AuditHeadRow.id == HEAD_ID)
            if not is_sqlite(self.database.url):
                query = query.with_for_update()
            head = await session.scalar(query)
            if head is None or head.sequence == head.published_sequence:
                return False
            message = events_pb2.AuditHeadRecorded(service=self.service, sequence=head.sequence, hash=head.hash)
            message.recorded_at.FromDatetime(now)
            add_event(
                session,
                service=self.service,
                subject=f"ostan.{self.service}.audit.head-recorded",
                ce_subject=str(head.sequence),
                message=message,
                time=now,
            )
            head.published_sequence = head.sequence
        return True
