"""An append-only audit log per service in which every record carries the hash of the one before.

A record's hash is SHA-256 over the previous hash and the record's RFC 8785 canonical JSON
(sequence, time, kind, actor, what it is about, detail), so editing, deleting, reordering or
inserting a record breaks the chain at that record; the head row names the last record, so
cutting the tail breaks it too.

Appending costs no statement of its own: a transaction's records are staged (``append``) and
written with its other staged rows just before it commits, by statements that read the head,
chain the records onto it and move it in the database itself (the canonical JSON is made here;
the sequence and the previous hash, known only to the database, are spliced in, and the
database hashes). Appends are serialised by the head: on PostgreSQL the one statement's
``UPDATE audit_head`` takes the head's row lock, so a concurrent transaction's update waits and
then chains onto the head that transaction left; on SQLite a transaction holds the database's
one write lock from its first write until it commits, and a trigger moves the head as each
record goes in.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785
from sqlalchemy import (
    CTE,
    ColumnElement,
    Executable,
    Insert,
    Text,
    bindparam,
    cast,
    func,
    insert,
    literal,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from ostan.common.v1 import events_pb2
from ostan_kit.messaging.outbox import add_event
from ostan_kit.persistence.db import Database, following
from ostan_kit.persistence.models import AuditHeadRow, AuditRecordRow
from ostan_kit.security.actors import Actor
from ostan_kit.text.persian import as_utc

GENESIS = "0" * 64
HEAD_ID = 1


def record_hash(previous_hash: str, sequence: int, at: datetime, kind: str, actor: str, about: str, detail: Any) -> str:
    body = {
        "sequence": sequence,
        "at": as_utc(at).isoformat(timespec="microseconds"),
        "kind": kind,
        "actor": actor,
        "about": about,
        "detail": detail,
    }
    return hashlib.sha256(previous_hash.encode() + rfc8785.dumps(body)).hexdigest()


def actor_label(actor: Actor) -> str:
    who = actor.agency or actor.office
    return f"{actor.kind}:{actor.subject}" + (f"@{who}" if who else "")


def canonical_prefix(at: datetime, kind: str, actor: str, about: str, detail: Any) -> str:
    """The record's canonical JSON up to its sequence, which comes last (RFC 8785 sorts the keys):
    the hashed text is the previous hash, this, the sequence and ``}``."""
    body = rfc8785.dumps(
        {"sequence": 0, "at": as_utc(at).isoformat(timespec="microseconds"), "kind": kind, "actor": actor,
         "about": about, "detail": detail}
    ).decode()
    if not body.endswith('"sequence":0}'):
        raise AssertionError("the sequence is not the last key of the canonical record")
    return body[: -len("0}")]


async def append(
    session: AsyncSession, *, at: datetime, kind: str, actor: Actor | str, about: str, detail: dict[str, Any]
) -> None:
    """Stage a record in the caller's transaction (which must be a ``Database.transaction``): it
    is chained onto the head and written with the transaction's staged rows as it commits."""
    label = (actor if isinstance(actor, str) else actor_label(actor))[:200]
    # The JSON column gives back what JSON can hold; hash exactly that.
    detail = rfc8785_safe(detail)
    following(session, "audit", _Appends).records.append(
        _Staged(at, kind, label, about[:200], detail, canonical_prefix(at, kind, label, about[:200], detail))
    )


@dataclass(frozen=True)
class _Staged:
    at: datetime
    kind: str
    actor: str
    about: str
    detail: Any
    canonical: str


_LOG = AuditRecordRow.__table__
_HEAD = AuditHeadRow.__table__
_COLUMNS = ("sequence", "at", "kind", "actor", "about", "detail", "previous_hash", "hash")


class _Appends:
    """A transaction's staged records, as the statements that chain them onto the head."""

    def __init__(self) -> None:
        self.records: list[_Staged] = []

    def shape(self) -> tuple[str, int]:
        """What the PostgreSQL statement depends on: how many records (their values are bound)."""
        return ("audit", len(self.records))

    def parameters(self) -> dict[str, Any]:
        """The bound values of ``postgresql()``'s statement."""
        values: dict[str, Any] = {}
        for number, record in enumerate(self.records, start=1):
            values.update(
                {
                    f"audit_{number}_at": record.at,
                    f"audit_{number}_kind": record.kind,
                    f"audit_{number}_actor": record.actor,
                    f"audit_{number}_about": record.about,
                    f"audit_{number}_detail": record.detail,
                    f"audit_{number}_canonical": record.canonical,
                }
            )
        return values

    @staticmethod
    def _values(number: int) -> list[ColumnElement]:
        return [bindparam(f"audit_{number}_{name}", type_=_LOG.c[name].type) for name in ("at", "kind", "actor", "about", "detail")]

    def postgresql(self) -> tuple[list[CTE], Insert]:
        """(Its values bound by the names ``parameters()`` gives.) Move the head past every record in one UPDATE (its row lock serialises appends; under
        READ COMMITTED a waiting update chains onto the head as the other left it), keeping the
        hash it moved from; the records are chained from that hash again in the INSERT."""

        def digest(previous: ColumnElement, sequence: ColumnElement, number: int) -> ColumnElement:
            canonical = bindparam(f"audit_{number}_canonical", type_=Text)
            text = previous.concat(canonical).concat(cast(sequence, Text)).concat(literal("}", Text))
            return func.encode(func.sha256(func.convert_to(text, literal_column("'UTF8'"))), literal_column("'hex'"))

        count = len(self.records)
        moved_hash: ColumnElement = _HEAD.c.hash
        for number in range(1, count + 1):
            moved_hash = digest(moved_hash, _HEAD.c.sequence + number, number)
        moved = (
            update(_HEAD)
            .where(_HEAD.c.id == HEAD_ID)
            .values(sequence=_HEAD.c.sequence + count, previous_hash=_HEAD.c.hash, hash=moved_hash)
            # What RETURNING sees is the new row: the sequence before is the new one less the count.
            .returning((_HEAD.c.sequence - count).label("base"), _HEAD.c.previous_hash.label("origin"))
            .cte("audit_head_moved")
        )
        rows, previous = [], moved.c.origin
        for number in range(1, count + 1):
            sequence = moved.c.base + number
            hashed = digest(previous, sequence, number)
            rows.append(select(sequence, *self._values(number), previous, hashed).select_from(moved))
            previous = hashed
        source = rows[0] if count == 1 else union_all(*rows)
        return [moved], insert(_LOG).from_select(_COLUMNS, source)

    def sqlite(self) -> tuple[Executable, list[dict[str, Any]]]:
        """One INSERT … SELECT from the head per record; the trigger ``audit_log_moves_head``
        moves the head to each record as it goes in, so the next one chains onto it."""
        sequence = _HEAD.c.sequence + 1
        text = _HEAD.c.hash.concat(bindparam("canonical", type_=Text)).concat(cast(sequence, Text)).concat("}")
        chained = select(
            sequence,
            bindparam("at", type_=_LOG.c.at.type),
            bindparam("kind", type_=_LOG.c.kind.type),
            bindparam("actor", type_=_LOG.c.actor.type),
            bindparam("about", type_=_LOG.c.about.type),
            bindparam("detail", type_=_LOG.c.detail.type),
            _HEAD.c.hash,
            func.ostan_sha256(text),
        ).where(_HEAD.c.id == HEAD_ID)
        parameters = [
            {"at": r.at, "kind": r.kind, "actor": r.actor, "about": r.about, "detail": r.detail, "canonical": r.canonical}
            for r in self.records
        ]
        return insert(_LOG).from_select(_COLUMNS, chained), parameters


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
            if not self.database.is_sqlite:
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
