"""kit's consumer against a real nats-server (with identities, as the platform runs it): a handler
that keeps failing is parked after its tries and the consumer goes on; parked events replay once
the handler works; the same ce-id twice is applied once; it resumes after its own restart and
after the broker's (the pull-consumer stall after a server restart, nats.py#504)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import nats
import pytest
from nats.js.api import StreamConfig
from sqlalchemy import String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ostan_devstack.stack import NATS, Stack, StackConfig
from ostan_kit.messaging import cloudevents
from ostan_kit.messaging.bus import connect_options
from ostan_kit.messaging.consumer import Consumer, StartFrom
from ostan_kit.messaging.natsauth import Identity
from ostan_kit.persistence.db import Database
from ostan_kit.persistence.models import InboxRow

pytestmark = pytest.mark.e2e
TESTER = Identity("consumer-test", (">",), (">",), description="this test")
TYPE = "ir.ostan.test.happened.v1"


class Base(DeclarativeBase):
    pass


class Effect(Base):
    __tablename__ = "effects"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(64))


@pytest.fixture(scope="module")
def bus(tmp_path_factory):
    stack = Stack(StackConfig.on_free_ports(tmp_path_factory.mktemp("bus"), nats_identities=[TESTER]))
    stack.start_nats()
    yield stack
    stack.stop()


def event(value: str, event_id: str | None = None, msg_id: str | None = None) -> tuple[bytes, dict[str, str]]:
    event_id = event_id or str(uuid.uuid4())
    headers = cloudevents.binary_headers(
        event_id=event_id, source="/tests", event_type=TYPE, subject=value, time=datetime.now(UTC)
    )
    if msg_id:
        headers["Nats-Msg-Id"] = msg_id
    return json.dumps({"value": value}).encode(), headers


async def scenario(stack: Stack, tmp_path) -> dict:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'consumer.db'}")
    async with database.engine.begin() as schema:
        await schema.run_sync(lambda sync: InboxRow.__table__.create(sync, checkfirst=True))
        await schema.run_sync(Base.metadata.create_all)
    options = connect_options(TESTER.name, stack.config.seed_file(TESTER.name))
    client = await nats.connect(stack.config.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.2, **options)
    js = client.jetstream(timeout=5)
    stream = f"TEST_{uuid.uuid4().hex[:6].upper()}"
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{stream}.>"], duplicate_window=1))
    await js.add_stream(StreamConfig(name=f"{stream}_DEAD", subjects=[f"{stream}-dead.>"]))
    broken = {"poison"}

    async def apply(session, received) -> None:
        if received.data["value"] in broken:
            raise RuntimeError("cannot handle " + received.data["value"])
        session.add(Effect(event_id=received.id, value=received.data["value"]))

    def consumer() -> Consumer:
        return Consumer(
            database=database, stream=stream, durable="tester", filter_subjects=[f"{stream}.events.>"],
            handlers={TYPE: apply}, dead_letter_stream=f"{stream}_DEAD", dead_letter_subject=f"{stream}-dead.tester",
            max_deliver=3, fetch_timeout=0.3, start=StartFrom("all"),
        )

    async def effects() -> list[str]:
        async with database.session() as session:
            return list(await session.scalars(select(Effect.value).order_by(Effect.id)))

    async def until(predicate, seconds: float = 30) -> None:
        for _ in range(int(seconds / 0.1)):
            if await predicate():
                return
            await asyncio.sleep(0.1)
        raise AssertionError("not in time: " + repr(await effects()))

    async def publish(value: str, **ids) -> str:
        payload, headers = event(value, **ids)
        await js.publish(f"{stream}.events.x", payload, headers=headers)
        return headers["ce-id"]

    results: dict = {}
    first = consumer()
    first.start(client)
    await publish("one")
    await publish("poison")
    await publish("two")
    twice = await publish("three", msg_id="m-1")
    await asyncio.sleep(1.5)  # past the stream's 1 s duplicate window: JetStream keeps both
    await publish("three", event_id=twice, msg_id="m-2")
    await js.publish(f"{stream}.events.x", b"{}", headers={"ce-id": "x"})  # not a CloudEvent
    await until(lambda: _later(effects, ["one", "two", "three"]))
    await until(lambda: _true(first.counts.parked == 2))
    results["after_poison"] = await effects()
    results["reasons"] = list(first.counts.reasons)
    results["duplicates"] = first.counts.duplicates

    # Its own restart: a new consumer of the same durable resumes after what was acknowledged.
    await first.stop()
    await publish("four")
    second = consumer()
    second.start(client)
    await until(lambda: _later(effects, ["one", "two", "three", "four"]))

    # The broker's restart (SIGKILL): the pull subscription is made again and events flow.
    await asyncio.to_thread(stack.kill_process, NATS)
    await asyncio.sleep(0.5)
    stack.start_nats()  # in the test's own thread: PR_SET_PDEATHSIG belongs to the spawning thread
    await until(lambda: _true(client.is_connected), 30)
    await publish("five")
    await until(lambda: _later(effects, ["one", "two", "three", "four", "five"]), 30)
    await second.stop()

    # The handler is fixed: what was parked replays; the malformed one still cannot be read.
    broken.clear()
    replayed = await consumer().replay_parked(client)
    results["replayed"] = (replayed.handled, replayed.duplicates, replayed.parked)
    results["final"] = await effects()
    async with database.session() as session:
        results["inbox"] = await session.scalar(select(func.count()).select_from(InboxRow))
    again = await consumer().replay_parked(client)
    results["replayed_again"] = (again.handled, again.duplicates, again.parked)
    await client.close()
    await database.close()
    return results


async def _later(effects, expected: list[str]) -> bool:
    return await effects() == expected


async def _true(value: bool) -> bool:
    return value


def test_the_consumer_parks_replays_deduplicates_and_outlives_restarts(bus, tmp_path):
    results = asyncio.run(scenario(bus, tmp_path))
    assert results["after_poison"] == ["one", "two", "three"]
    assert any(reason.startswith("failed 3 times") and "cannot handle poison" in reason for reason in results["reasons"])
    assert any("not a CloudEvent" in reason for reason in results["reasons"])
    assert results["duplicates"] >= 1  # "three" came twice, past the window, and was applied once
    assert results["replayed"] == (1, 0, 1)
    assert results["final"] == ["one", "two", "three", "four", "five", "poison"]
    assert results["inbox"] == 6
    assert results["replayed_again"] == (0, 1, 1)
