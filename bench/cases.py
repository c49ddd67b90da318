"""Benchmark: cases through the gateway — a start and three transitions each — with every event
delivered to a JetStream consumer, on SQLite and on PostgreSQL, beside a plain loop that inserts
a row and publishes an event for each step against the same database and bus in the same run.

    make bench-cases   (or: .venv/bin/python bench/cases.py [--cases 10000] [--concurrency 16]
                        [--postgres postgresql://127.0.0.1:5432/test])

Prints cases per second, p50/p99 per transition, the ratio to the plain loop, errors (aim: none
in 10,000 cases), events delivered, and the foreign-nationals service's memory before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import httpx
import nats
from sqlalchemy import text

from common import bench_nats_options, platform, rss
from ostan_gateway.auth import issue_token
from ostan_kit.persistence.db import create_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.conftest import postgres_databases  # noqa: E402

ENTRY = "foreign-nationals-32"  # run by the generic request: start, start-review, decide, deliver
FORM = {"full_name": "بنچ مارک", "national_code": "0084575948", "mobile": "09121234567", "subject": "گواهی"}
STEPS = [("start-review", "clerk", {}), ("decide", "head", {"decision": "موافقت"}), ("deliver", "clerk", {})]


# The local issuer's secret of the benchmark's gateway.
BENCH_SECRET = secrets.token_urlsafe(32)


def headers(role: str) -> dict[str, str]:
    roles = {"clerk": ["clerk"], "head": ["head-of-office"]}[role]
    token = issue_token(BENCH_SECRET, subject=f"bench-{role}", kind="staff", name="bench", roles=roles, office="foreign-nationals")
    return {"Authorization": f"Bearer {token}"}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000 if ordered else float("nan")


async def through_gateway(url: str, cases: int, concurrency: int) -> tuple[float, dict[str, list[float]], int]:
    latencies: dict[str, list[float]] = defaultdict(list)
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(cases):
        queue.put_nowait(number)
    run = uuid.uuid4().hex[:8]
    auth = {role: headers(role) for role in ("clerk", "head")}

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while not queue.empty():
            number = queue.get_nowait()
            started = time.perf_counter()
            answer = await client.post(
                "/v1/cases", json={"process": ENTRY, "data": FORM},
                headers={"Idempotency-Key": f"{run}-{number}", **auth["clerk"]},
            )
            latencies["start"].append(time.perf_counter() - started)
            if answer.status_code != 201:
                errors += 1
                continue
            case = answer.json()
            for action, role, data in STEPS:
                started = time.perf_counter()
                answer = await client.post(
                    f"/v1/cases/{case['code']}/actions/{action}",
                    json={"version": case["version"], "data": data},
                    headers={"Idempotency-Key": f"{run}-{number}-{action}", **auth[role]},
                )
                latencies[action].append(time.perf_counter() - started)
                if answer.status_code != 200:
                    errors += 1
                    break
                case = answer.json()

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return cases / elapsed, latencies, errors


async def plain_loop(database_url: str, nats_url: str, cases: int, concurrency: int, options: dict) -> float:
    """Per step: insert a row (own transaction) and publish an event with its ack."""
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE IF NOT EXISTS bench_plain (id VARCHAR(80) PRIMARY KEY, body TEXT)"))
    connection = await nats.connect(nats_url, **options)
    js = connection.jetstream()
    stream = f"BENCH_PLAIN_{uuid.uuid4().hex[:6].upper()}"
    await js.add_stream(name=stream, subjects=[f"bench.{stream}.>"])
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(cases * 4):
        queue.put_nowait(number)

    async def worker() -> None:
        while not queue.empty():
            step_id = f"{uuid.uuid4()}-{queue.get_nowait()}"
            async with engine.begin() as transaction:
                await transaction.execute(
                    text("INSERT INTO bench_plain (id, body) VALUES (:id, :body)"), {"id": step_id, "body": "x" * 200}
                )
            await js.publish(f"bench.{stream}.step", b"x" * 200, headers={"Nats-Msg-Id": step_id})

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await js.delete_stream(stream)
    await connection.close()
    async with engine.begin() as transaction:
        await transaction.execute(text("DROP TABLE bench_plain"))
    await engine.dispose()
    return cases / elapsed


async def delivered(nats_url: str, stream: str, expected: int, options: dict, timeout: float = 120) -> int:
    """Events a durable pull consumer receives (and acks), until ``expected`` or ``timeout``."""
    connection = await nats.connect(nats_url, **options)
    js = connection.jetstream()
    subscription = await js.pull_subscribe(f"ostan.foreign-nationals.{ENTRY}.>", durable="bench", stream=stream)
    count = 0
    deadline = time.monotonic() + timeout
    while count < expected and time.monotonic() < deadline:
        with contextlib.suppress(nats.errors.TimeoutError):
            for message in await subscription.fetch(500, timeout=2):
                await message.ack()
                count += 1
    await connection.close()
    return count


def measure(label: str, database_urls: dict[str, str], cases: int, concurrency: int) -> None:
    environment = {"OSTAN_GATEWAY_CATALOGUE_TTL_SECONDS": "3600", "OSTAN_GATEWAY_JWT_SECRET": BENCH_SECRET}
    with platform(environment, database_urls=database_urls) as stack:
        service = stack.processes["foreign-nationals"]
        before = rss(service.pid)
        rate, latencies, errors = asyncio.run(through_gateway(stack.config.gateway_url, cases, concurrency))
        after = rss(service.pid)
        events = asyncio.run(
            delivered(stack.config.nats_url, "OSTAN_FOREIGN_NATIONALS", cases * 4, bench_nats_options(stack))
        )
        # The same PostgreSQL database; for SQLite a file of its own beside the service's, since
        # SQLite has one writer per file.
        plain_database = database_urls.get("foreign-nationals") or (
            f"sqlite+aiosqlite:///{stack.config.state_dir / 'db' / 'bench-plain.db'}"
        )
        plain = asyncio.run(
            plain_loop(plain_database, stack.config.nats_url, cases, concurrency, bench_nats_options(stack))
        )
    print(f"{label}: {cases} cases, {concurrency} clients")
    print(f"  through the gateway: {rate:8.1f} cases/s   errors {errors}   events delivered {events} of {cases * 4}")
    for step, values in latencies.items():
        print(f"    {step:<14} p50 {percentile(values, 0.5):7.2f} ms   p99 {percentile(values, 0.99):7.2f} ms")
    print(f"  plain insert-and-publish loop: {plain:8.1f} cases/s (4 steps each)   ratio {rate / plain:.2f}")
    print(f"  foreign-nationals service RSS: {before:.1f} MB before -> {after:.1f} MB after")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--postgres", default=os.environ.get("OSTAN_TEST_DATABASE_URL", ""))
    args = parser.parse_args()
    measure("SQLite", {}, args.cases, args.concurrency)
    if args.postgres:
        with postgres_databases(["foreign-nationals"], args.postgres) as urls:
            measure("PostgreSQL", urls, args.cases, args.concurrency)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
