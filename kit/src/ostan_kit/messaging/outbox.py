"""The transactional outbox: an event is a row committed with the change it reports, and a relay
publishes it to JetStream once the bus is reachable (``Nats-Msg-Id`` = row id, so a republish
after a crash between publish and mark is dropped by the server)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import uuid_utils
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry import propagate
from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ostan_kit.messaging import cloudevents
from ostan_kit.messaging.bus import Bus
from ostan_kit.messaging.tracing import publish_span
from ostan_kit.persistence.db import Database, stage
from ostan_kit.persistence.models import OutboxRow
from ostan_kit.runtime.metrics import OUTBOX_PUBLISHED, OUTBOX_RELAY_ERRORS
from ostan_kit.runtime.telemetry import untraced

log = logging.getLogger(__name__)

_OUTBOX = OutboxRow.__table__


def message_json(message: Message) -> bytes:
    as_dict = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return json.dumps(as_dict, ensure_ascii=False, separators=(",", ":")).encode()


def add_event(
    session: AsyncSession,
    *,
    service: str,
    subject: str,
    ce_subject: str,
    message: Message,
    time: datetime,
) -> OutboxRow:
    """Stage a CloudEvent in ``session``; it commits, or not, with the caller's transaction. Its
    headers keep the transaction's ``traceparent``: the relay's publish span continues it. The row
    is staged (inserted with the transaction's other rows, not by the ORM); what is returned is
    its values, for what the caller derives from the event."""
    event_id = str(uuid_utils.uuid7())
    trace: dict[str, str] = {}
    propagate.inject(trace)
    headers = cloudevents.binary_headers(
        event_id=event_id,
        source=f"/ostan/services/{service}",
        event_type=subject,
        subject=ce_subject,
        time=time,
        data_schema=message.DESCRIPTOR.full_name,
        extra=trace,
    )
    values = dict(
        id=event_id,
        subject=subject,
        headers=headers,
        payload=message_json(message),
        created_at=time,
        published_at=None,
        attempts=0,
        last_error="",
    )
    stage(session, _OUTBOX, values)
    return OutboxRow(**values)


class OutboxRelay:
    def __init__(self, database: Database, bus: Bus, *, batch: int, poll_seconds: float) -> None:
        self.database = database
        self.bus = bus
        self.batch = batch
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        # Rows, not ORM objects: the relay reads what to publish and marks it, nothing else.
        self._pending = (
            select(_OUTBOX.c.id, _OUTBOX.c.subject, _OUTBOX.c.payload, _OUTBOX.c.headers)
            .where(_OUTBOX.c.published_at.is_(None))
            .order_by(_OUTBOX.c.created_at, _OUTBOX.c.id)
            .limit(batch)
        )
        self._claim = self._pending.with_for_update(skip_locked=True)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    def wake(self) -> None:
        """Tell the relay a transaction with events has committed."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            except TimeoutError:
                pass
            self._wake.clear()
            if not self.bus.connected:
                continue
            try:
                while await self.publish_pending() == self.batch:
                    pass
            except Exception as error:  # the database or bus failed mid-batch: retry next round
                OUTBOX_RELAY_ERRORS.inc()
                log.warning("outbox relay round failed", extra={"error": str(error)})

    async def publish_pending(self) -> int:
        """Publish up to one batch of unpublished events in order; return how many were sent.
        Its own queries are not traced; each publish is, in the trace of the event's transaction."""
        with untraced():
            return await self._publish_batch()

    async def _publish_batch(self) -> int:
        if self.database.is_sqlite:
            # SQLite has one writer: hold no transaction while publishing, mark afterwards; one
            # worker's relay at a time, so that no two publish the same rows.
            async with self.database.exclusive("outbox-relay"):
                async with self.database.session() as session:
                    rows = (await session.execute(self._pending)).all()
                sent, error = await self._publish(rows)
                async with self.database.transaction() as session:
                    await self._mark(session, rows, sent, error)
            return sent
        # PostgreSQL: rows are claimed (SKIP LOCKED) so that replicas share the work.
        async with self.database.transaction() as session:
            rows = (await session.execute(self._claim)).all()
            sent, error = await self._publish(rows)
            await self._mark(session, rows, sent, error)
            return sent

    async def _publish(self, rows: Sequence[Row]) -> tuple[int, str]:
        """Publish in order, pipelined, each in a publish span; (how many from the start were
        stored, the first failure). Only that prefix is marked: the rest waits for the next round,
        so order is kept."""
        if not rows:
            return 0, ""
        with contextlib.ExitStack() as spans:
            messages = [
                (
                    row.subject,
                    row.payload,
                    spans.enter_context(
                        publish_span(row.subject, row.headers, message_id=row.id, size=len(row.payload))
                    ),
                )
                for row in rows
            ]
            sent, error = await self.bus.publish_pipelined(messages)
        OUTBOX_PUBLISHED.inc(sent)
        if error:
            OUTBOX_RELAY_ERRORS.inc()
            log.warning("outbox publish failed", extra={"event_id": rows[sent].id, "error": error})
        return sent, error[:500]

    @staticmethod
    async def _mark(session: AsyncSession, rows: Sequence[Row], sent: int, error: str) -> None:
        """The first ``sent`` rows went out; the next one failed with ``error`` (if any)."""
        if sent:
            published = [row.id for row in rows[:sent]]
            await session.execute(
                update(_OUTBOX).where(_OUTBOX.c.id.in_(published)).values(published_at=datetime.now(UTC))
            )
        if error:
            await session.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.id == rows[sent].id)
                .values(attempts=_OUTBOX.c.attempts + 1, last_error=error)
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
