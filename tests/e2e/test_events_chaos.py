"""Chaos under load: the broker SIGKILLed and restarted, then the service SIGKILLed as if between
publishing events and marking them, and kept down longer than JetStream's duplicate window (2 s
here, by configuration), so those events really are published twice. What must hold: no case a
client was answered for is lost or at another version, no event is lost (every history row has
its ce-id on the stream), and a consumer with kit's inbox applies every event exactly once."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import nats
import pytest
from sqlalchemy import String, bindparam, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ostan_devstack.stack import NATS
from ostan_kit.messaging.consumer import Consumer, Event
from ostan_kit.messaging.natsauth import DEAD_LETTER_STREAM, service_dead_letter_subject
from ostan_kit.persistence.db import Database
from ostan_kit.persistence.models import InboxRow
from ostan_kit.runtime.registry import SERVICES
from tests.e2e.conftest import CLERK, STREAM, count_rows, nats_options, running_stack, stream_messages, wait_for

pytestmark = pytest.mark.e2e
CASES = 240
WORKERS = 4
WINDOW_SECONDS = 2
SERVICE = "foreign-nationals"
PROCESS = "residence-document-extension"
# The cases' events: the stream also carries the service's other events (its audit chain's head,
# published at intervals and as soon as the restarted service finds that it has moved).
CASE_EVENTS = f"ostan.{SERVICE}.{PROCESS}."
RESIDENCE = {
    "full_name": "مریم حسینی", "father_name": "حسن", "nationality": "IRQ",
    "document_type": "RESIDENCE_DOCUMENT_TYPE_AMAYESH_CARD", "document_number": "87654321",
    "document_expires_on": "1405/10/01", "mobile": "09351234567", "address": "قزوین",
}


class Base(DeclarativeBase):
    pass


class Effect(Base):
    """What the checking consumer does per event: one row, in the inbox's transaction."""

    __tablename__ = "effects"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64))


class EveryEventOf(dict):
    def __init__(self, prefix: str, handler) -> None:
        super().__init__()
        self.prefix, self.handler = prefix, handler

    def __contains__(self, event_type: object) -> bool:
        return isinstance(event_type, str) and event_type.startswith(self.prefix)

    def __getitem__(self, event_type: str):
        return self.handler


class CheckingConsumer:
    """kit's consumer on the service's stream, in a thread of its own, as the governor's identity."""

    def __init__(self, stack, database_url: str) -> None:
        self.stack, self.database_url = stack, database_url
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.consumer: Consumer | None = None

    async def _start(self) -> None:
        self.database = Database(self.database_url)
        async with self.database.engine.begin() as schema:
            await schema.run_sync(lambda sync: InboxRow.__table__.create(sync, checkfirst=True))
            await schema.run_sync(Base.metadata.create_all)

        async def apply(session: AsyncSession, event: Event) -> None:
            session.add(Effect(event_id=event.id))

        self.client = await nats.connect(
            self.stack.config.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.3,
            **nats_options(self.stack, "service-governor"),
        )
        self.consumer = Consumer(
            database=self.database, stream=STREAM, durable="chaos-check", filter_subjects=[CASE_EVENTS + ">"],
            handlers=EveryEventOf(CASE_EVENTS, apply), dead_letter_stream=DEAD_LETTER_STREAM,
            dead_letter_subject=service_dead_letter_subject("governor", "chaos-check"), fetch_timeout=0.5,
        )
        self.consumer.start(self.client)

    async def _stop(self) -> None:
        assert self.consumer is not None
        await self.consumer.stop()
        await self.client.close()
        await self.database.close()

    def run(self, coroutine, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def __enter__(self) -> CheckingConsumer:
        self.thread.start()
        self.run(self._start())
        return self

    def __exit__(self, *_exc) -> None:
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def test_nothing_lost_and_nothing_applied_twice_through_broker_and_service_crashes(tmp_path_factory, tmp_path):
    window = {info.env_prefix + "DUPLICATE_WINDOW_SECONDS": str(WINDOW_SECONDS) for info in SERVICES.values()}
    with running_stack(tmp_path_factory, environment=window) as stack, CheckingConsumer(
        stack, f"sqlite+aiosqlite:///{tmp_path / 'checker.db'}"
    ) as checker:
        acknowledged: dict[str, int] = {}
        lock = threading.Lock()
        run = uuid.uuid4().hex[:8]

        def client_of_the_platform(worker: int) -> None:
            with httpx.Client(base_url=stack.config.gateway_url, timeout=10, headers=CLERK) as client:
                for number in range(worker, CASES, WORKERS):
                    body = {"service": SERVICE, "process": PROCESS, "data": RESIDENCE}
                    key = f"chaos-{run}-{number}"
                    while True:  # the same key until the platform answers: a replay is the first answer
                        try:
                            answer = client.post("/v1/cases", json=body, headers={"Idempotency-Key": key})
                        except httpx.HTTPError:
                            answer = None
                        if answer is not None and answer.status_code in (200, 201):
                            with lock:
                                acknowledged[answer.json()["code"]] = answer.json()["version"]
                            break
                        assert answer is None or answer.status_code in (502, 503, 504), answer.text
                        time.sleep(0.1)

        def answered() -> int:
            with lock:
                return len(acknowledged)

        with ThreadPoolExecutor(WORKERS) as pool:
            load = [pool.submit(client_of_the_platform, worker) for worker in range(WORKERS)]
            wait_for(lambda: answered() >= CASES // 5, timeout=60)
            stack.kill_process(NATS)  # the broker, mid-load
            time.sleep(1)
            stack.start_nats()
            wait_for(lambda: answered() >= CASES // 2, timeout=60)
            wait_for(lambda: count_rows(stack, SERVICE, "outbox", "WHERE published_at IS NOT NULL") >= 10, timeout=30)
            stack.kill_process(SERVICE)
            # As if it died after publishing its last events and before marking them published:
            engine = create_engine(_sync(stack.database_url(SERVICE)))
            with engine.begin() as connection:
                last = connection.execute(
                    text("SELECT id FROM outbox WHERE published_at IS NOT NULL ORDER BY created_at DESC LIMIT 5")
                ).scalars().all()
                connection.execute(
                    text("UPDATE outbox SET published_at = NULL WHERE id IN :ids").bindparams(
                        bindparam("ids", expanding=True)
                    ),
                    {"ids": list(last)},
                )
            engine.dispose()
            time.sleep(WINDOW_SECONDS + 1.5)  # down longer than the duplicate window
            stack.start_service(SERVICE)
            for future in load:
                future.result(timeout=120)

        assert len(acknowledged) == CASES
        wait_for(lambda: count_rows(stack, SERVICE, "outbox", "WHERE published_at IS NULL") == 0, timeout=60)
        history = count_rows(stack, SERVICE, "case_history")
        assert history == CASES  # one start per case, each with its event

        def stream_ids() -> Counter:
            found = Counter(
                message.headers["ce-id"]
                for message in stream_messages(stack, STREAM)
                if message.subject.startswith(CASE_EVENTS)
            )
            return found if len(found) == history else None

        on_stream = wait_for(stream_ids, timeout=60)
        republished = sum(count - 1 for count in on_stream.values())
        assert republished >= 5, "the events marked unpublished were not published again after the window"

        effects_url = _sync(f"sqlite+aiosqlite:///{tmp_path / 'checker.db'}")

        def effects() -> Counter | None:
            engine = create_engine(effects_url)
            with engine.connect() as connection:
                rows = connection.execute(text("SELECT event_id FROM effects")).scalars().all()
            engine.dispose()
            found = Counter(rows)
            return found if len(found) == history else None

        applied = wait_for(effects, timeout=60)
        assert set(applied) == set(on_stream)  # nothing lost on the way to the consumer
        assert [event for event, times in applied.items() if times != 1] == []  # nothing applied twice
        assert checker.consumer is not None
        # Every copy on the stream reached the consumer: the second copies were each recognised
        # (they may arrive after the last first copy, so wait for them too).
        wait_for(lambda: checker.consumer.counts.duplicates >= republished, timeout=60)
        assert checker.consumer.counts.parked == 0

        with httpx.Client(base_url=stack.config.gateway_url, timeout=10, headers=CLERK) as client:
            for code, version in acknowledged.items():
                case = client.get(f"/v1/cases/{code}")
                assert case.status_code == 200 and case.json()["version"] == version, (code, case.text)


def _sync(url: str) -> str:
    parsed = make_url(url)
    driver = "sqlite" if parsed.get_backend_name() == "sqlite" else "postgresql+psycopg"
    return parsed.set(drivername=driver).render_as_string(hide_password=False)
