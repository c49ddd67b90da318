"""The one consumer of the platform's events, for its services and for agencies.

* a durable pull consumer with explicit acks, resumed where it stopped after its own restart or
  the broker's (after a reconnect the pull subscription is made again: pull consumers can stall
  after a server restart, nats.py#504);
* an inbox table: the event's ``ce-id`` is recorded in the same transaction as its effect, so a
  redelivery, or the same event published again after JetStream's duplicate window, does nothing
  twice;
* a malformed event (bad CloudEvents headers, data that is not JSON or fails its schema) or one of
  an unknown type is parked at once in a dead-letter subject with the reason; a handler that keeps
  failing is parked after ``max_deliver`` attempts; the consumer goes on either way;
* ``replay_parked`` runs what was parked through the handler again (already applied ones are
  skipped by the inbox), e.g. once the handler is fixed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ostan_kit.messaging import cloudevents
from ostan_kit.persistence.db import Database
from ostan_kit.persistence.models import InboxRow

log = logging.getLogger(__name__)

REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type")
DEAD_HEADER_PREFIX = "Ostan-Dead-"


class Rejected(Exception):
    """An event that can never be handled as it is: it is parked with this reason."""


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    source: str
    subject: str
    time: str
    data: Any
    attributes: dict[str, str]
    nats_subject: str
    stream_sequence: int


Handler = Callable[[AsyncSession, Event], Awaitable[None]]


@dataclass(frozen=True)
class StartFrom:
    """Where a new durable consumer begins: the beginning, a stream sequence, a time, or new only."""

    policy: str = "all"
    sequence: int = 0
    time: datetime | None = None

    def config(self) -> dict[str, Any]:
        if self.policy == "sequence":
            return {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": self.sequence}
        if self.policy == "time":
            assert self.time is not None
            stamp = self.time.astimezone(UTC).isoformat().replace("+00:00", "Z")
            return {"deliver_policy": DeliverPolicy.BY_START_TIME, "opt_start_time": stamp}
        if self.policy == "new":
            return {"deliver_policy": DeliverPolicy.NEW}
        return {"deliver_policy": DeliverPolicy.ALL}

    @classmethod
    def parse(cls, text: str) -> StartFrom:
        """``beginning``, ``new``, ``sequence:<n>`` or ``time:<ISO 8601>``."""
        if text in ("beginning", "all"):
            return cls()
        if text == "new":
            return cls("new")
        kind, _, value = text.partition(":")
        if kind == "sequence" and value.isdigit() and int(value) > 0:
            return cls("sequence", sequence=int(value))
        if kind == "time" and value:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return cls("time", time=moment if moment.tzinfo else moment.replace(tzinfo=UTC))
        raise ValueError(f"start from 'beginning', 'new', 'sequence:<n>' or 'time:<ISO 8601>', not {text!r}")


@dataclass
class Counts:
    handled: int = 0
    duplicates: int = 0
    parked: int = 0
    retried: int = 0
    reasons: list[str] = field(default_factory=list)


class Consumer:
    def __init__(
        self,
        *,
        database: Database,
        stream: str,
        durable: str,
        filter_subjects: list[str],
        handlers: dict[str, Handler],
        dead_letter_stream: str,
        dead_letter_subject: str,
        validate: Callable[[Event], None] | None = None,
        max_deliver: int = 5,
        ack_wait: float = 30.0,
        batch: int = 100,
        fetch_timeout: float = 1.0,
        start: StartFrom | None = None,
    ) -> None:
        self.database = database
        self.stream = stream
        self.durable = durable
        self.filter_subjects = filter_subjects
        self.handlers = handlers
        self.dead_letter_stream = dead_letter_stream
        self.dead_letter_subject = dead_letter_subject
        self.validate = validate
        self.max_deliver = max_deliver
        self.ack_wait = ack_wait
        self.batch = batch
        self.fetch_timeout = fetch_timeout
        self.start_from = start or StartFrom()
        self.counts = Counts()
        self._task: asyncio.Task | None = None
        self._client: Client | None = None
        self._stopping = False

    # -- the consumer on the server ----------------------------------------------------------------
    def _config(self) -> ConsumerConfig:
        config: dict[str, Any] = {
            "name": self.durable,
            "durable_name": self.durable,
            "ack_policy": AckPolicy.EXPLICIT,
            "ack_wait": self.ack_wait,
            # The server keeps redelivering; the consumer itself parks after max_deliver tries.
            "max_deliver": -1,
            **self.start_from.config(),
        }
        if len(self.filter_subjects) == 1:
            config["filter_subject"] = self.filter_subjects[0]
        else:
            config["filter_subjects"] = self.filter_subjects
        return ConsumerConfig(**config)

    async def ensure(self, client: Client) -> None:
        """Create the durable consumer if the server does not have it (it keeps its position)."""
        js = client.jetstream(timeout=5)
        try:
            await js.consumer_info(self.stream, self.durable)
        except NotFoundError:
            await js.add_consumer(self.stream, self._config())

    async def reset(self, client: Client, start: StartFrom) -> None:
        """Start over from ``start``: the durable consumer is made again (the inbox still skips
        what this consumer already applied)."""
        js = client.jetstream(timeout=5)
        try:
            await js.delete_consumer(self.stream, self.durable)
        except NotFoundError:
            pass
        self.start_from = start
        await js.add_consumer(self.stream, self._config())

    # -- running -----------------------------------------------------------------------------------
    def start(self, client: Client) -> None:
        self._client = client
        self._task = asyncio.create_task(self.run(client), name=f"consumer-{self.durable}")

    async def run(self, client: Client) -> None:
        """Fetch and handle until cancelled; every failure of the bus is waited out."""
        subscription = None
        reconnects = -1
        delay = 0.2
        while not self._stopping:
            try:
                if subscription is None or client.stats["reconnects"] != reconnects:
                    # After a reconnect the old pull subscription may never be answered again.
                    if subscription is not None:
                        await _quietly(subscription.unsubscribe())
                    reconnects = client.stats["reconnects"]
                    await self.ensure(client)
                    subscription = await client.jetstream(timeout=5).pull_subscribe_bind(
                        self.durable, self.stream
                    )
                try:
                    messages = await subscription.fetch(self.batch, timeout=self.fetch_timeout)
                except (NatsTimeout, TimeoutError):
                    continue
                await self.handle_batch(client, messages)
                delay = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the bus or database is away: wait and make everything again
                log.warning("consumer round failed", extra={"consumer": self.durable, "error": repr(error)})
                subscription = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        if subscription is not None:
            await _quietly(subscription.unsubscribe())

    async def stop(self) -> None:
        """Let the fetch under way end and its messages be handled (a message the server handed
        to a fetch nobody reads would wait out the ack wait), then stop."""
        if self._task is None:
            return
        self._stopping = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=self.fetch_timeout + 5)
        except (TimeoutError, Exception):
            self._task.cancel()
            await _quietly(self._task)

    # -- one message -------------------------------------------------------------------------------
    def read(self, message: Msg) -> Event:
        """The CloudEvent in ``message``, or Rejected saying what is wrong with it."""
        headers = message.headers or {}
        attributes = cloudevents.attributes(headers)
        missing = [name for name in REQUIRED_ATTRIBUTES if not attributes.get(name)]
        if missing:
            raise Rejected(f"not a CloudEvent in binary mode: missing ce-{', ce-'.join(missing)}")
        if attributes["specversion"] != cloudevents.SPEC_VERSION:
            raise Rejected(f"unsupported CloudEvents specversion {attributes['specversion']!r}")
        content_type = attributes.get("datacontenttype", "application/json")
        if not content_type.startswith("application/json"):
            raise Rejected(f"unsupported content type {content_type!r}")
        try:
            data = json.loads(message.data) if message.data else None
        except ValueError as error:
            raise Rejected(f"data is not JSON: {error}") from error
        if attributes["type"] not in self.handlers:
            raise Rejected(f"unknown event type {attributes['type']!r}")
        event = Event(
            id=attributes["id"],
            type=attributes["type"],
            source=attributes["source"],
            subject=attributes.get("subject", ""),
            time=attributes.get("time", ""),
            data=data,
            attributes=attributes,
            nats_subject=message.subject,
            stream_sequence=_sequence(message),
        )
        if self.validate is not None:
            try:
                self.validate(event)
            except Rejected:
                raise
            except Exception as error:
                raise Rejected(f"data fails its schema: {error}") from error
        return event

    async def handle_batch(self, client: Client, messages: list[Msg]) -> None:
        """A fetched batch: what cannot be read is parked; the rest is applied in one transaction
        (or, when that fails, each on its own to find the one that fails), then acknowledged."""
        ready: list[tuple[Msg, Event]] = []
        for message in messages:
            try:
                ready.append((message, self.read(message)))
            except Rejected as rejected:
                await self._park(client, message, str(rejected))
        if len(ready) > 1:
            try:
                applied = await self.apply_many([event for _, event in ready])
            except Exception:  # one of them fails (or a replica raced us): one by one
                applied = None
            if applied is not None:
                self.counts.handled += applied
                self.counts.duplicates += len(ready) - applied
                for message, _ in ready:
                    await message.ack()
                return
        for message, event in ready:
            await self._apply_and_ack(message, event, client)

    async def handle(self, client: Client, message: Msg) -> None:
        try:
            event = self.read(message)
        except Rejected as rejected:
            await self._park(client, message, str(rejected))
            return
        await self._apply_and_ack(message, event, client)

    async def _apply_and_ack(self, message: Msg, event: Event, client: Client) -> None:
        try:
            applied = await self.apply(event)
        except Exception as error:
            delivered = message.metadata.num_delivered if message.reply else self.max_deliver
            if delivered >= self.max_deliver:
                await self._park(client, message, f"failed {delivered} times: {error!r}"[:1000])
            else:
                self.counts.retried += 1
                await message.nak(delay=min(0.5 * 2**delivered, 30))
            return
        if applied:
            self.counts.handled += 1
        else:
            self.counts.duplicates += 1
        await message.ack()

    async def apply_many(self, events: list[Event]) -> int:
        """Apply those of ``events`` not applied before, all in one transaction; how many."""
        ids = {event.id for event in events}
        async with self.database.transaction() as session:
            seen = set(
                await session.scalars(
                    select(InboxRow.event_id).where(InboxRow.consumer == self.durable, InboxRow.event_id.in_(ids))
                )
            )
            applied = 0
            for event in events:
                if event.id in seen:
                    continue
                seen.add(event.id)
                session.add(self._inbox_row(event))
                await self.handlers[event.type](session, event)
                applied += 1
        return applied

    def _inbox_row(self, event: Event) -> InboxRow:
        return InboxRow(
            consumer=self.durable,
            event_id=event.id,
            event_type=event.type[:255],
            stream_sequence=event.stream_sequence,
            received_at=datetime.now(UTC),
        )

    async def apply(self, event: Event) -> bool:
        """Run the handler and record the event in one transaction; False when it was applied before."""
        async with self.database.session() as session:
            seen = await session.scalar(
                select(InboxRow.event_id).where(InboxRow.consumer == self.durable, InboxRow.event_id == event.id)
            )
        if seen:
            return False
        try:
            async with self.database.transaction() as session:
                session.add(self._inbox_row(event))
                await session.flush()
                await self.handlers[event.type](session, event)
        except IntegrityError:
            return False  # another replica applied it at the same moment
        return True

    async def _park(self, client: Client, message: Msg, reason: str) -> None:
        """Keep the message in the dead-letter subject with why, then stop its redelivery."""
        headers = {key: value for key, value in (message.headers or {}).items() if key != "Nats-Msg-Id"}
        sequence = _sequence(message)
        headers.update(
            {
                DEAD_HEADER_PREFIX + "Reason": cloudevents.encode(reason),
                DEAD_HEADER_PREFIX + "Consumer": self.durable,
                DEAD_HEADER_PREFIX + "Stream": self.stream,
                DEAD_HEADER_PREFIX + "Sequence": str(sequence),
                DEAD_HEADER_PREFIX + "Subject": message.subject,
                DEAD_HEADER_PREFIX + "At": datetime.now(UTC).isoformat(),
                # Parked once per original message, even if the park is retried.
                "Nats-Msg-Id": f"dead:{self.durable}:{self.stream}:{sequence}",
            }
        )
        try:
            await client.jetstream(timeout=5).publish(self.dead_letter_subject, message.data, headers=headers)
        except Exception as error:  # cannot park now: it comes back and is tried again
            log.warning("could not park an event", extra={"consumer": self.durable, "error": repr(error)})
            if message.reply:
                await message.nak(delay=1)
            return
        self.counts.parked += 1
        self.counts.reasons.append(reason)
        log.warning(
            "event parked",
            extra={"consumer": self.durable, "subject": message.subject, "sequence": sequence, "reason": reason},
        )
        if message.reply:
            await message.term()

    async def replay_parked(self, client: Client) -> Counts:
        """Run every message this consumer parked through it again, oldest first."""
        js = client.jetstream(timeout=5)
        name = f"{self.durable}-replay-{uuid.uuid4().hex[:8]}"
        await js.add_consumer(
            self.dead_letter_stream,
            ConsumerConfig(
                name=name,
                filter_subject=self.dead_letter_subject,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                inactive_threshold=60,
            ),
        )
        replayer = Consumer(
            database=self.database,
            stream=self.stream,
            durable=self.durable,
            filter_subjects=self.filter_subjects,
            handlers=self.handlers,
            dead_letter_stream=self.dead_letter_stream,
            dead_letter_subject=self.dead_letter_subject,
            validate=self.validate,
            max_deliver=1,
        )
        try:
            subscription = await js.pull_subscribe_bind(
                name, self.dead_letter_stream
            )
            while True:
                try:
                    messages = await subscription.fetch(self.batch, timeout=1.0)
                except (NatsTimeout, TimeoutError):
                    break
                for parked in messages:
                    await replayer._replay_one(client, parked)
                    await parked.ack()
        finally:
            await _quietly(js.delete_consumer(self.dead_letter_stream, name))
        return replayer.counts

    async def _replay_one(self, client: Client, parked: Msg) -> None:
        original = Msg(
            _client=client,
            subject=(parked.headers or {}).get(DEAD_HEADER_PREFIX + "Subject", parked.subject),
            data=parked.data,
            headers={k: v for k, v in (parked.headers or {}).items() if not k.startswith(DEAD_HEADER_PREFIX)},
        )
        try:
            event = self.read(original)
            applied = await self.apply(event)
        except Exception as error:
            self.counts.parked += 1
            self.counts.reasons.append(f"still failing: {error}")
            return
        if applied:
            self.counts.handled += 1
        else:
            self.counts.duplicates += 1


def _sequence(message: Msg) -> int:
    try:
        return message.metadata.sequence.stream
    except Exception:  # not a JetStream message (a replayed one)
        return 0


async def _quietly(awaitable: Awaitable[Any]) -> None:
    try:
        await awaitable
    except (Exception, asyncio.CancelledError):
        pass
