"""Benchmark: events from the transactional outbox to an agency's consumer, beside raw JetStream,
against the same nats-server (with its identities) in the same run.

    make bench-events   (or: .venv/bin/python bench/events.py [--events 5000] [--writers 4]
                         [--postgres postgresql://127.0.0.1:5432/test])

Ours: writers commit case events (the full event and the police's projection, as a transition
does) to the outbox of a database; the relay publishes them; the police's consumer (kit's: durable
pull, inbox table, explicit acks) applies them. Raw: ``publish_async`` of as many messages of the
same size, read by a pull consumer that acks. Prints events per second, p50/p99 from commit (or
publish) to the consumer, and the ratio of ours to raw (aim: at least 0.5), live (writers
committing one event per transaction while the relay and consumer run: bounded by the
database's commits) and from a backlog (the relay and the consumer alone).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import nats
import nats.errors

from common import BENCH_IDENTITY, bench_nats_options
from ostan.common.v1 import events_pb2
from ostan_devstack.stack import Stack, StackConfig
from ostan_kit.messaging.agency_events import stage_agency_events
from ostan_kit.messaging.bus import Bus, connect_options
from ostan_kit.messaging.consumer import Consumer, Event, StartFrom
from ostan_kit.messaging.grants import grants_file, read_grants, service_root
from ostan_kit.messaging.natsauth import agency_parked_subject, agency_stream
from ostan_kit.messaging.outbox import OutboxRelay, add_event
from ostan_kit.persistence.db import Database
from ostan_kit.persistence.migrations import upgrade
from ostan_kit.persistence.models import CaseRow
from ostan_kit.runtime.service import side_streams
from ostan_kit.runtime.settings import load_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.conftest import postgres_databases  # noqa: E402

SERVICE = "foreign-nationals"
PROCESS = "residence-document-extension"
FORM = {
    "full_name": "بنچ مارک", "father_name": "علی", "nationality": "AFG",
    "document_type": "RESIDENCE_DOCUMENT_TYPE_AMAYESH_CARD", "document_number": "12345678",
    "document_expires_on": "1405/09/01", "mobile": "09121234567", "address": "قزوین",
}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000 if ordered else float("nan")


async def through_the_outbox(
    stack: Stack, database_url: str, agency_database_url: str, events: int, writers: int, backlog: bool = False
) -> tuple[float, list[float]]:
    """Live: writers commit while the relay and the consumer run; events/s from the first commit
    to the last event applied. Backlog: the events are committed first (the bus was away), then
    the relay and the consumer drain them; events/s from the relay's start."""
    grants = read_grants(SERVICE, grants_file(service_root(SERVICE)))
    settings = load_settings(SERVICE)
    database = Database(database_url)
    bus = Bus(
        stack.config.nats_url, name="bench-relay", stream=f"OSTAN_{SERVICE.replace('-', '_').upper()}",
        subjects=[f"ostan.{SERVICE}.>"], identity=f"service-{SERVICE}", seed_file=stack.config.seed_file(f"service-{SERVICE}"),
        other_streams=side_streams(settings, grants),
    )
    bus.start()
    await asyncio.wait_for(bus.stream_ready.wait(), 30)
    relay = OutboxRelay(database, bus, batch=settings.outbox_batch, poll_seconds=0.05)

    committed: dict[str, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()

    async def apply(session, event: Event) -> None:
        latencies.append(time.perf_counter() - committed[event.subject])
        if len(latencies) == events:
            done.set()

    agency = await nats.connect(
        stack.config.nats_url, max_reconnect_attempts=-1,
        **connect_options("agency-police", stack.config.seed_file("agency-police")),
    )
    durable = f"bench-{uuid.uuid4().hex[:6]}"
    consumer = Consumer(
        database=Database(agency_database_url), stream=agency_stream("police"), durable=durable,
        filter_subjects=["ostan-agency.police.events.>"],
        handlers={f"ir.ostan.agency.{SERVICE}.{PROCESS}.deliver.v1": apply},
        dead_letter_stream=agency_stream("police"), dead_letter_subject=agency_parked_subject("police", durable),
        fetch_timeout=0.2, start=StartFrom("new"),
    )
    await consumer.ensure(agency)
    consumer.start(agency)

    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(events):
        queue.put_nowait(number)
    run = uuid.uuid4().hex[:6]

    async def writer() -> None:
        while not queue.empty():
            number = queue.get_nowait()
            now = datetime.now(UTC)
            case = CaseRow(code=f"FN-1405-{run}{number:05d}"[:32], process=PROCESS, process_version=1, data=FORM)
            message = events_pb2.CaseEvent(
                case_code=case.code, service=SERVICE, process=PROCESS, process_version=1, event="deliver",
                from_state="decided", to_state="delivered", actor_role="clerk", occurred_at_jalali="1405/09/09 10:00:00",
            )
            message.occurred_at.FromDatetime(now)
            message.data.update(FORM)
            async with database.transaction() as session:
                row = add_event(session, service=SERVICE, subject=f"ostan.{SERVICE}.{PROCESS}.deliver",
                                ce_subject=case.code, message=message, time=now)
                stage_agency_events(session, grants, case, row)
                # Taken as the commit starts: the event may reach the consumer before this task resumes.
                committed[case.code] = time.perf_counter()
            relay.wake()

    if backlog:
        await asyncio.gather(*(writer() for _ in range(writers)))
        started = time.perf_counter()
        relay.start()
    else:
        relay.start()
        started = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(writers)))
    await asyncio.wait_for(done.wait(), timeout=600)
    elapsed = time.perf_counter() - started
    await consumer.stop()
    await relay.stop()
    await agency.close()
    await bus.close()
    await consumer.database.close()
    await database.close()
    return events / elapsed, latencies


async def raw_jetstream(stack: Stack, events: int) -> tuple[float, list[float]]:
    connection = await nats.connect(stack.config.nats_url, **bench_nats_options(stack))
    js = connection.jetstream()
    stream = f"BENCH_RAW_{uuid.uuid4().hex[:6].upper()}"
    await js.add_stream(name=stream, subjects=[f"bench.{stream}.>"])
    payload = b"x" * 700  # about an agency event with its CloudEvents headers
    sent: dict[str, float] = {}
    latencies: list[float] = []
    subscription = await js.pull_subscribe(f"bench.{stream}.>", durable="raw", stream=stream)

    async def consume() -> None:
        while len(latencies) < events:
            with contextlib.suppress(nats.errors.TimeoutError):
                for message in await subscription.fetch(100, timeout=0.2):
                    latencies.append(time.perf_counter() - sent[message.headers["Nats-Msg-Id"]])
                    await message.ack()

    reader = asyncio.create_task(consume())
    started = time.perf_counter()
    for number in range(events):
        key = f"{number}"
        sent[key] = time.perf_counter()
        await js.publish_async(f"bench.{stream}.event", payload, headers={"Nats-Msg-Id": key})
    await js.publish_async_completed()
    await asyncio.wait_for(reader, timeout=600)
    elapsed = time.perf_counter() - started
    await js.delete_stream(stream)
    await connection.close()
    return events / elapsed, latencies


def measure(label: str, database_url: str, agency_database_url: str, events: int, writers: int, state: Path) -> None:
    """The service's outbox in ``database_url``; the agency's inbox in a database of its own."""
    stack = Stack(StackConfig.on_free_ports(state, nats_identities=[BENCH_IDENTITY]))
    stack.start_nats()
    try:
        for url in (database_url, agency_database_url):
            upgrade(service_root(SERVICE) / "migrations", url)
        raw_rate, raw_latencies = asyncio.run(raw_jetstream(stack, events))
        ours_rate, ours_latencies = asyncio.run(
            through_the_outbox(stack, database_url, agency_database_url, events, writers)
        )
        for url in (database_url, agency_database_url):
            upgrade(service_root(SERVICE) / "migrations", url)
        drain_rate, _ = asyncio.run(
            through_the_outbox(stack, database_url, agency_database_url, events, writers, backlog=True)
        )
    finally:
        stack.stop()
    print(f"{label}: {events} events, {writers} writers")
    print(f"  outbox → relay → police consumer (inbox, ack): {ours_rate:8.1f} events/s   "
          f"p50 {percentile(ours_latencies, 0.5):7.2f} ms   p99 {percentile(ours_latencies, 0.99):7.2f} ms")
    print(f"  the same from a backlog of {events} (relay + consumer only): {drain_rate:8.1f} events/s")
    print(f"  raw JetStream publish_async → pull, ack:       {raw_rate:8.1f} events/s   "
          f"p50 {percentile(raw_latencies, 0.5):7.2f} ms   p99 {percentile(raw_latencies, 0.99):7.2f} ms")
    print(f"  ratio ours / raw: live {ours_rate / raw_rate:.2f}, backlog {drain_rate / raw_rate:.2f}"
          "  (aim: at least 0.5)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--postgres", help="also measure on PostgreSQL at this URL (a database of its own is made)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ostan-bench-events-") as state:
        service, agency = (f"sqlite+aiosqlite:///{Path(state) / name}" for name in ("service.db", "agency.db"))
        measure("SQLite", service, agency, args.events, args.writers, Path(state) / "sqlite")
        if args.postgres:
            with postgres_databases([SERVICE, "agency"], args.postgres) as urls:
                measure("PostgreSQL", urls[SERVICE], urls["agency"], args.events, args.writers, Path(state) / "postgres")


if __name__ == "__main__":
    main()
