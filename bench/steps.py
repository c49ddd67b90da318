"""Benchmark: what one case step costs, process by process, beside a by-hand baseline.

Cases go through the gateway (a start and three transitions each, as bench/cases.py), while the
CPU time of every process of the run is read from /proc: the foreign-nationals service (all its
workers), the gateway, nats-server, the PostgreSQL backends of the service's database, and this
bench's own HTTP client. In the same run, a by-hand baseline makes the writes a step must make
(read and lock the case, update it guarded by its version, insert history, audit, outbox event
and idempotency answer) in one transaction of plain SQL through the bare driver, and the plain
insert-and-publish loop of bench/cases.py gives the throughput to compare with.

    .venv/bin/python bench/steps.py [--cases 300] [--concurrency 16] [--workers 1,2]
                                    [--postgres postgresql://127.0.0.1:5432/test] [--sqlite]
                                    [--profile]

The machine is shared: read the ratios and the CPU per step, not the raw rates. ``--profile``
samples the service with py-spy during the gateway run and says where its time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psutil
from cases import BENCH_SECRET, ENTRY, plain_loop, through_gateway
from sqlalchemy.engine import make_url

from common import bench_nats_options, platform
from ostan_kit.audit.chain import record_hash

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.conftest import postgres_databases  # noqa: E402

SERVICE = "foreign-nationals"
TICKS = os.sysconf("SC_CLK_TCK")


# -- CPU per process, from /proc ------------------------------------------------------------
def cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process (all its threads), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def tree(pid: int) -> list[int]:
    """A process and its descendants (a service's workers)."""
    try:
        return [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


class CpuMeter:
    """CPU seconds each group of processes spends between ``start`` and ``stop``. A process seen
    for the first time after the start counts from zero (it began within the window)."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]], interval: float = 0.25) -> None:
        self.groups = groups
        self.interval = interval
        self.first: dict[str, dict[int, float]] = {name: {} for name in groups}
        self.last: dict[str, dict[int, float]] = {name: {} for name in groups}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self, initial: bool) -> None:
        for name, pids in self.groups.items():
            for pid in pids():
                seconds = cpu_seconds(pid)
                if seconds is None:
                    continue
                self.first[name].setdefault(pid, seconds if initial else 0.0)
                self.last[name][pid] = seconds

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample(initial=False)

    def start(self) -> CpuMeter:
        self._sample(initial=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        self._sample(initial=False)
        return {
            name: sum(self.last[name][pid] - self.first[name][pid] for pid in self.last[name]) for name in self.groups
        }


def postgres_backends(database_url: str) -> Callable[[], list[int]]:
    """The pids of the server processes serving ``database_url`` (asked of the server through
    its maintenance database, so the asking itself is not counted)."""
    import psycopg

    url = make_url(database_url)
    name = url.database
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    connection = psycopg.connect(admin, autocommit=True)
    lock = threading.Lock()

    def pids() -> list[int]:
        with lock:
            rows = connection.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,)).fetchall()
        return [row[0] for row in rows]

    return pids


# -- the by-hand baseline ---------------------------------------------------------------------
HEADERS = json.dumps({"ce-specversion": "1.0", "ce-type": f"ostan.{SERVICE}.{ENTRY}.decided", "ce-source": "/bench"})
DETAIL = json.dumps({"event": "decided", "from": "review", "to": "decided", "version": 2, "decision": "موافقت"})
AUDIT_DETAIL = json.loads(DETAIL)


class ByHand:
    """One step as plain SQL through the bare driver, in one transaction: lock the case, update
    it guarded by its version, insert history, audit, outbox event and idempotency answer."""

    def __init__(self, database_url: str) -> None:
        self.url = make_url(database_url)
        self.sqlite = self.url.get_backend_name() == "sqlite"

    async def run(self, case_ids: list[int], steps: int, concurrency: int) -> float:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for number in range(steps):
            queue.put_nowait(case_ids[number % len(case_ids)])
        run = uuid.uuid4().hex[:8]
        counter = iter(range(10**9))
        if self.sqlite:
            import aiosqlite

            connection = await aiosqlite.connect(self.url.database, isolation_level=None)
            writer = asyncio.Lock()

            async def step(case_id: int) -> None:
                number = next(counter)
                now = datetime.now(UTC).isoformat()
                async with writer:
                    await connection.execute("BEGIN IMMEDIATE")
                    cursor = await connection.execute("SELECT version, state, data FROM cases WHERE id = ?", (case_id,))
                    version, _state, data = await cursor.fetchone()
                    cursor = await connection.execute(
                        "UPDATE cases SET state = ?, data = ?, version = ?, updated_at = ?, assigned_role = ?,"
                        " state_version = ?, state_entered_at = ? WHERE id = ? AND version = ?",
                        ("decided", data, version + 1, now, "clerk", version + 1, now, case_id, version),
                    )
                    await connection.execute(
                        "INSERT INTO case_history (case_id, event, from_state, to_state, actor_role, at, action, actor_id,"
                        " comment, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (case_id, "decided", "review", "decided", "head", now, "decide", "bench", "", version + 1),
                    )
                    # The audit chain's next record, chained onto the head by hand (the migration's
                    # trigger moves the head to it).
                    cursor = await connection.execute("SELECT sequence, hash FROM audit_head WHERE id = 1")
                    sequence, previous = await cursor.fetchone()
                    at = datetime.fromisoformat(now)
                    await connection.execute(
                        "INSERT INTO audit_log (sequence, at, kind, actor, about, detail, previous_hash, hash)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (sequence + 1, now, "case.transition", "staff:bench", "bench", DETAIL, previous,
                         record_hash(previous, sequence + 1, at, "case.transition", "staff:bench", "bench", AUDIT_DETAIL)),
                    )
                    await connection.execute(
                        "INSERT INTO outbox (id, subject, headers, payload, created_at, published_at, attempts, last_error)"
                        " VALUES (?, ?, ?, ?, ?, ?, 0, '')",
                        (str(uuid.uuid4()), f"bench.{ENTRY}.decided", HEADERS, DETAIL.encode(), now, now),
                    )
                    await connection.execute(
                        "INSERT INTO idempotency_keys (caller, key, operation, request_hash, case_code, created_at, response)"
                        " VALUES ('staff:bench', ?, ?, ?, ?, ?, ?)",
                        (f"{run}-{number}", "act", "0" * 64, "bench", now, data.encode() if isinstance(data, str) else b""),
                    )
                    await connection.execute("COMMIT")

            close = connection.close
        else:
            import asyncpg

            pool = await asyncpg.create_pool(
                host=self.url.host, port=self.url.port or 5432, user=self.url.username, password=self.url.password,
                database=self.url.database, min_size=concurrency, max_size=concurrency,
            )

            async def step(case_id: int) -> None:
                number = next(counter)
                now = datetime.now(UTC)
                async with pool.acquire() as connection, connection.transaction():
                    row = await connection.fetchrow(
                        "SELECT version, state, data FROM cases WHERE id = $1 FOR UPDATE", case_id
                    )
                    version = row["version"]
                    await connection.execute(
                        "UPDATE cases SET state = $1, data = $2, version = $3, updated_at = $4, assigned_role = $5,"
                        " state_version = $6, state_entered_at = $7 WHERE id = $8 AND version = $9",
                        "decided", row["data"], version + 1, now, "clerk", version + 1, now, case_id, version,
                    )
                    await connection.execute(
                        "INSERT INTO case_history (case_id, event, from_state, to_state, actor_role, at, action, actor_id,"
                        " comment, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                        case_id, "decided", "review", "decided", "head", now, "decide", "bench", "", version + 1,
                    )
                    # The audit chain's next record, chained onto the locked head by hand.
                    head = await connection.fetchrow("SELECT sequence, hash FROM audit_head WHERE id = 1 FOR UPDATE")
                    sequence, previous = head["sequence"] + 1, head["hash"]
                    digest = record_hash(previous, sequence, now, "case.transition", "staff:bench", "bench", AUDIT_DETAIL)
                    await connection.execute(
                        "INSERT INTO audit_log (sequence, at, kind, actor, about, detail, previous_hash, hash)"
                        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        sequence, now, "case.transition", "staff:bench", "bench", DETAIL, previous, digest,
                    )
                    await connection.execute(
                        "UPDATE audit_head SET sequence = $1, previous_hash = $2, hash = $3 WHERE id = 1",
                        sequence, previous, digest,
                    )
                    await connection.execute(
                        "INSERT INTO outbox (id, subject, headers, payload, created_at, published_at, attempts, last_error)"
                        " VALUES ($1, $2, $3, $4, $5, $6, 0, '')",
                        str(uuid.uuid4()), f"bench.{ENTRY}.decided", HEADERS, DETAIL.encode(), now, now,
                    )
                    await connection.execute(
                        "INSERT INTO idempotency_keys (caller, key, operation, request_hash, case_code, created_at, response)"
                        " VALUES ('staff:bench', $1, $2, $3, $4, $5, $6)",
                        f"{run}-{number}", "act", "0" * 64, "bench", now, row["data"].encode(),
                    )

            close = pool.close

        async def worker() -> None:
            while not queue.empty():
                await step(queue.get_nowait())

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        await close()
        return steps / elapsed


async def case_ids(database_url: str) -> list[int]:
    from sqlalchemy import text

    from ostan_kit.persistence.db import create_engine

    engine = create_engine(database_url)
    async with engine.connect() as connection:
        ids = list((await connection.execute(text("SELECT id FROM cases ORDER BY id"))).scalars())
    await engine.dispose()
    return ids


# -- where the service's time goes (py-spy) --------------------------------------------------
# The innermost frame of a sample names what the process was doing then (its "self" time).
PARTS = [
    ("SQLAlchemy ORM", ("sqlalchemy/orm/",)),
    ("SQLAlchemy core and engine", ("sqlalchemy/",)),
    ("database driver", ("asyncpg/", "aiosqlite/", "sqlite3/")),
    ("gRPC", ("grpc/", "grpc_")),
    ("protobuf", ("google/protobuf/",)),
    ("OpenTelemetry", ("opentelemetry/",)),
    ("nats", ("nats/",)),
    ("caller assertion (jwt, crypto)", ("jwt/", "cryptography/")),
    ("event loop and gRPC callbacks (asyncio)", ("asyncio/", "selectors.py", "uvloop")),
    ("the engine and kit", ("ostan_kit/", "ostan_")),
]


def profile_parts(raw: Path) -> list[tuple[str, float]]:
    totals: collections.Counter[str] = collections.Counter()
    for entry in raw.read_text().splitlines():
        stack, _, count = entry.rpartition(" ")
        if not stack:
            continue
        innermost = stack.rsplit(";", 1)[-1]
        part = next((name for name, needles in PARTS if any(needle in innermost for needle in needles)), "other Python")
        totals[part] += int(count)
    everything = sum(totals.values()) or 1
    return [(name, count / everything) for name, count in totals.most_common()]


class Profiler:
    def __init__(self, pid: int, seconds: int, output: Path) -> None:
        spy = Path(sys.executable).with_name("py-spy")
        self.output = output
        self.process = subprocess.Popen(
            [str(spy), "record", "--pid", str(pid), "--subprocesses", "--duration", str(seconds), "--rate", "200",
             "--format", "raw", "--output", str(output), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def finish(self) -> list[tuple[str, float]]:
        self.process.wait(timeout=120)
        return profile_parts(self.output) if self.output.exists() else []


# -- one run ----------------------------------------------------------------------------------
def measure(label: str, database_urls: dict[str, str], cases: int, concurrency: int, workers: int,
            profile: bool, profile_file: str = "") -> dict[str, float]:
    environment = {
        "OSTAN_GATEWAY_CATALOGUE_TTL_SECONDS": "3600",
        "OSTAN_GATEWAY_JWT_SECRET": BENCH_SECRET,
        "OSTAN_FOREIGN_NATIONALS_WORKERS": str(workers),
    }
    steps = cases * 4
    with platform(environment, database_urls=database_urls) as stack:
        database_url = database_urls.get(SERVICE) or f"sqlite+aiosqlite:///{stack.config.state_dir / 'db' / f'{SERVICE}.db'}"
        groups: dict[str, Callable[[], list[int]]] = {
            "service": lambda: tree(stack.processes[SERVICE].pid),
            "gateway": lambda: tree(stack.processes["gateway"].pid),
            "nats-server": lambda: [stack.processes["nats-server"].pid],
            "bench client": lambda: [os.getpid()],
        }
        if SERVICE in database_urls:
            groups["database server"] = postgres_backends(database_url)
        # Warm up: connections, caches, the first case of the year.
        asyncio.run(through_gateway(stack.config.gateway_url, 8, 4))
        profiler = None
        if profile:
            estimate = max(5, int(steps / 150))
            raw = Path(profile_file) if profile_file else Path(stack.config.state_dir) / "service.raw"
            profiler = Profiler(stack.processes[SERVICE].pid, estimate, raw)
        meter = CpuMeter(groups).start()
        rate, latencies, errors = asyncio.run(through_gateway(stack.config.gateway_url, cases, concurrency))
        cpu = meter.stop()
        parts = profiler.finish() if profiler else []
        # Let the relay drain before the baselines use the database and bus.
        time.sleep(2)
        ids = asyncio.run(case_ids(database_url))
        by_hand_meter = CpuMeter({k: v for k, v in groups.items() if k in ("bench client", "database server")}).start()
        by_hand_rate = asyncio.run(ByHand(database_url).run(ids, steps, concurrency))
        by_hand_cpu = by_hand_meter.stop()
        plain_database = database_urls.get(SERVICE) or f"sqlite+aiosqlite:///{stack.config.state_dir / 'db' / 'bench-plain.db'}"
        plain = asyncio.run(plain_loop(plain_database, stack.config.nats_url, cases, concurrency, bench_nats_options(stack)))

    print(f"{label}: {cases} cases ({steps} steps), {concurrency} clients, {workers} service worker(s)")
    print(f"  through the gateway: {rate * 4:8.1f} steps/s   errors {errors}")
    for step, values in latencies.items():
        ordered = sorted(values)
        print(f"    {step:<14} p50 {ordered[len(ordered) // 2] * 1000:7.2f} ms" if ordered else "")
    print(f"  plain insert-and-publish loop: {plain * 4:8.1f} steps/s   gateway/plain ratio {rate / plain:.2f}")
    print(f"  by hand (the step's writes, plain SQL, one transaction): {by_hand_rate:8.1f} steps/s")
    print("  CPU per step (ms):")
    for name, seconds in cpu.items():
        print(f"    {name:<16} {seconds / steps * 1000:6.2f}")
    print(f"    {'all':<16} {sum(cpu.values()) / steps * 1000:6.2f}")
    by_hand_step = sum(by_hand_cpu.values()) / steps * 1000
    print(f"    by hand (client + database) {by_hand_step:6.2f}  "
          f"(client {by_hand_cpu['bench client'] / steps * 1000:.2f})")
    service_step = cpu["service"] / steps * 1000
    print(f"  service CPU per step / by-hand client CPU per step: "
          f"{service_step / (by_hand_cpu['bench client'] / steps * 1000):.2f} (aim <= 2)")
    if parts:
        print("  where the service's time goes (py-spy, innermost frame):")
        for name, share in parts:
            print(f"    {name:<34} {share * 100:5.1f}%")
    return {"rate": rate, "plain": plain, "service_ms": service_step, "by_hand_ms": by_hand_step}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", default="1", help="comma-separated worker counts to compare, e.g. 1,2")
    parser.add_argument("--postgres", default=os.environ.get("OSTAN_TEST_DATABASE_URL", ""))
    parser.add_argument("--sqlite", action="store_true", help="also (or, without --postgres, only) on SQLite")
    parser.add_argument("--profile", action="store_true", help="sample the service with py-spy")
    parser.add_argument("--profile-file", default="", help="keep py-spy's raw stacks here (folded, for a flame graph)")
    args = parser.parse_args()
    counts = [int(count) for count in args.workers.split(",")]
    results: dict[tuple[str, int], dict[str, float]] = {}
    for workers in counts:
        if args.sqlite or not args.postgres:
            results["SQLite", workers] = measure(
                "SQLite", {}, args.cases, args.concurrency, workers, args.profile, args.profile_file
            )
        if args.postgres:
            with postgres_databases([SERVICE], args.postgres) as urls:
                results["PostgreSQL", workers] = measure(
                    "PostgreSQL", urls, args.cases, args.concurrency, workers, args.profile, args.profile_file
                )
    if len(counts) > 1:
        for (label, workers), result in results.items():
            first = results[label, counts[0]]
            print(f"{label}: {workers} worker(s) {result['rate'] * 4:8.1f} steps/s, "
                  f"{result['rate'] / first['rate']:.2f}x of {counts[0]} (gateway/plain {result['rate'] / result['plain']:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
