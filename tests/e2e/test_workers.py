"""A service of two worker processes on one port (SO_REUSEPORT), on the real platform: both take
calls, and between them no event is published twice and no SLA timer fires twice, on SQLite and
(OSTAN_TEST_DATABASE_URL) on PostgreSQL."""

from __future__ import annotations

import asyncio
import collections
from datetime import UTC, datetime, timedelta

import httpx
import nats
import psutil
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ostan_kit.messaging.natsauth import Identity
from ostan_kit.text.tracking import make_code
from tests.e2e.conftest import CLERK, RESIDENCE_FORM, count_rows, nats_options, running_stack, wait_for

pytestmark = pytest.mark.e2e

SERVICE = "foreign-nationals"
CASES = 40
SUBJECTS = "ostan.foreign-nationals.residence-document-extension."
# Sees every publish to the service's subjects, duplicates included.
WATCHER = Identity("test-workers", (), ("ostan.foreign-nationals.>",), description="the workers test")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    environment = {
        "OSTAN_FOREIGN_NATIONALS_WORKERS": "2",
        "OSTAN_FOREIGN_NATIONALS_TIMER_POLL_SECONDS": "0.2",
        # Sixteen connections: the kernel gives each to one of the two workers, so both get some.
        "OSTAN_GATEWAY_CHANNELS_PER_SERVICE": "16",
        # Correctness, not speed, is tested here: SQLite's writers in two processes wait for each
        # other, and on a loaded machine a start may take longer than the usual five seconds.
        "OSTAN_GATEWAY_CASE_DEADLINE": "30",
    }
    with running_stack(tmp_path_factory, environment, (WATCHER,)) as running:
        log = running.logs / f"{SERVICE}.log"
        wait_for(lambda: log.read_text().count('"message": "serving"') == 2)  # the gateway saw one ready
        # The gateway's channels that found the port still closed at start-up try again within a
        # second (failing fast meanwhile): wait until every one of them answers.
        absent = make_code("FN", 1405, 999_999)
        with httpx.Client(base_url=running.config.gateway_url, headers=CLERK, timeout=30) as client:
            wait_for(lambda: all(client.get(f"/v1/cases/{absent}").status_code == 404 for _ in range(32)))
        yield running


def sync_url(stack, service: str) -> str:
    parsed = make_url(stack.database_url(service))
    return parsed.set(drivername="sqlite" if parsed.get_backend_name() == "sqlite" else "postgresql+psycopg")


def workers(stack) -> list[psutil.Process]:
    return psutil.Process(stack.processes[SERVICE].pid).children()


def make_timers_due(stack) -> int:
    """One due state warning for each case still in its first state, as if its time had come."""
    engine = create_engine(sync_url(stack, SERVICE))
    past = datetime.now(UTC) - timedelta(minutes=1)
    with engine.begin() as connection:
        ids = list(connection.execute(text("SELECT id FROM cases WHERE state = 'submitted'")).scalars())
        for case_id in ids:
            connection.execute(
                text(
                    "INSERT INTO case_timers (case_id, kind, state, state_version, fire_at)"
                    " VALUES (:case_id, 'state-warning', 'submitted', 1, :at)"
                ),
                {"case_id": case_id, "at": past},
            )
    engine.dispose()
    return len(ids)


async def published(stack, work) -> collections.Counter:
    """How often each event id was published to the service's subjects while ``work`` ran and
    for a while after (a plain subscription sees every publish, duplicates included, which the
    stream would drop)."""
    seen: collections.Counter = collections.Counter()
    connection = await nats.connect(stack.config.nats_url, **nats_options(stack, WATCHER.name))

    async def note(message) -> None:
        seen[message.subject.rsplit(".", 1)[-1], message.headers["Nats-Msg-Id"]] += 1

    await connection.subscribe(SUBJECTS + ">", cb=note)
    await connection.flush()
    await work()
    await connection.flush()
    await connection.close()
    return seen


def test_two_workers_share_the_calls_and_publish_each_event_once(stack):
    assert len(workers(stack)) == 2

    async def start_cases() -> None:
        async with httpx.AsyncClient(base_url=stack.config.gateway_url, headers=CLERK, timeout=30) as client:
            body = {"service": SERVICE, "process": "residence-document-extension", "data": RESIDENCE_FORM}

            async def start(number: int) -> None:
                answer = await client.post("/v1/cases", json=body, headers={"Idempotency-Key": f"workers-{number}"})
                assert answer.status_code == 201, answer.text

            for first in range(0, CASES, 8):
                await asyncio.gather(*(start(number) for number in range(first, first + 8)))
        await asyncio.sleep(0)
        wait = asyncio.get_running_loop().run_in_executor
        await wait(None, lambda: wait_for(lambda: count_rows(stack, SERVICE, "outbox", "WHERE published_at IS NULL") == 0))
        await asyncio.sleep(1.5)  # time for a second publish, were there one

    seen = asyncio.run(published(stack, start_cases))
    port = stack.config.service_ports[SERVICE]
    serving = [
        worker for worker in workers(stack)
        if any(c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED for c in worker.net_connections())
    ]
    assert len(serving) == 2, "both workers hold connections of the gateway"
    submitted = {key: count for key, count in seen.items() if key[0] == "submitted"}
    assert len(submitted) == CASES
    assert set(submitted.values()) == {1}, "no event published twice"


def test_two_workers_fire_each_due_timer_once(stack):
    due = make_timers_due(stack)
    assert due >= CASES

    async def fire() -> None:
        wait = asyncio.get_running_loop().run_in_executor
        await wait(None, lambda: wait_for(
            lambda: count_rows(stack, SERVICE, "case_history", "WHERE event = 'sla-warning'") >= due
        ))
        await wait(None, lambda: wait_for(lambda: count_rows(stack, SERVICE, "outbox", "WHERE published_at IS NULL") == 0))
        await asyncio.sleep(1.5)

    seen = asyncio.run(published(stack, fire))
    warnings = {key: count for key, count in seen.items() if key[0] == "sla-warning"}
    assert len(warnings) == due
    assert set(warnings.values()) == {1}, "no event published twice"
    assert count_rows(stack, SERVICE, "case_history", "WHERE event = 'sla-warning'") == due, "no timer fired twice"
