"""Benchmark: what tracing costs. Three platforms run side by side in one run: one exporting every
span (full sampling) over OTLP/HTTP to a receiver, one exporting a parent-based 10% sample (the
production setting), one with OpenTelemetry off (``OTEL_SDK_DISABLED=true``); rounds take them
in turn:

- a case step: a case through the gateway, its start and three transitions (each an HTTP call,
  a gRPC call, a transaction of SQL statements and an event the relay publishes);
- a catalogue page: ``GET /v1/catalogue?limit=20`` (the aggregate as the gateway caches it).

    .venv/bin/python bench/telemetry.py [--rounds 3] [--cases 150] [--seconds 5] [--concurrency 8]

Prints the best round of each, the ratios traced/off (aim at full sampling: >= 0.8, i.e.
tracing costs at most 20% of throughput) and how many spans the receiver got. Since throughput on a shared machine moves
with whatever else runs, it also prints the CPU time the platform's processes (gateway, services,
nats-server) spent per request or step, summed over the rounds, and the ratio off/traced of that:
on a machine of its own the throughput ratio follows it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
from cases import BENCH_SECRET, ENTRY, FORM, STEPS, headers

from common import fetch, line, platform, wait_http
from httpload import LoadResult, run_load
from ostan_devstack.stack import free_port

CATALOGUE_PAGE = "/v1/catalogue?limit=20"
# What failed, by step and status (a benchmark should see none).
failures: Counter[str] = Counter()
QUIET = {"OSTAN_GATEWAY_LOG_LEVEL": "WARNING", "OSTAN_GATEWAY_JWT_SECRET": BENCH_SECRET}


@contextlib.contextmanager
def sink() -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("otlp_sink.py")), str(port)])
    try:
        wait_http(f"http://127.0.0.1:{port}/stats")
        yield port
    finally:
        process.terminate()
        process.wait()


async def case_steps(url: str, cases: int, concurrency: int) -> tuple[float, int]:
    """Cases through the gateway, four steps each; (steps per second, errors)."""
    run = uuid.uuid4().hex[:8]
    auth = {role: headers(role) for role in ("clerk", "head")}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(cases):
        queue.put_nowait(number)
    errors = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while not queue.empty():
            number = queue.get_nowait()
            answer = await client.post(
                "/v1/cases", json={"process": ENTRY, "data": FORM}, headers={"Idempotency-Key": f"{run}-{number}", **auth["clerk"]}
            )
            if answer.status_code != 201:
                errors += 1
                failures[f"start {answer.status_code}"] += 1
                continue
            case = answer.json()
            for action, role, data in STEPS:
                answer = await client.post(
                    f"/v1/cases/{case['code']}/actions/{action}",
                    json={"version": case["version"], "data": data},
                    headers={"Idempotency-Key": f"{run}-{number}-{action}", **auth[role]},
                )
                if answer.status_code != 200:
                    errors += 1
                    failures[f"{action} {answer.status_code}"] += 1
                    break
                case = answer.json()

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = loop.time() - started
    return cases * (1 + len(STEPS)) / elapsed, errors


def cpu_seconds(stack) -> float:
    """User and system CPU time the stack's processes have used so far."""
    total = 0.0
    for process in stack.processes.values():
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(process.pid).cpu_times()
            total += times.user + times.system
    return total


OFF, FULL, RATIO = "tracing off", "traced, all spans", "traced, 10% sampled"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    with sink() as sink_port:
        export = {
            **QUIET,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        }
        with (
            platform({**QUIET, "OTEL_SDK_DISABLED": "true"}, local_traces=False) as off,
            platform({**export, "OTEL_TRACES_SAMPLER": "parentbased_always_on"}, local_traces=False) as full,
            platform(
                {**export, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"},
                local_traces=False,
            ) as ratio,
        ):
            stacks = {OFF: off, FULL: full, RATIO: ratio}
            catalogue: dict[str, list[LoadResult]] = {name: [] for name in stacks}
            steps: dict[str, list[float]] = {name: [] for name in stacks}
            # CPU seconds and how many requests (pages) or steps they served.
            cpu = {(name, kind): [0.0, 0] for name in stacks for kind in ("page", "step")}
            errors = 0
            for stack in stacks.values():  # warm-up: caches, connections, first cases
                fetch(stack.config.gateway_url + CATALOGUE_PAGE)
                errors += asyncio.run(case_steps(stack.config.gateway_url, 10, 2))[1]
            for number in range(args.rounds):
                order = list(stacks)[number % len(stacks) :] + list(stacks)[: number % len(stacks)]
                for name in order:
                    stack = stacks[name]
                    before = cpu_seconds(stack)
                    result = asyncio.run(
                        run_load(stack.config.gateway_port, CATALOGUE_PAGE, concurrency=args.concurrency, seconds=args.seconds)
                    )
                    catalogue[name].append(result)
                    cpu[(name, "page")][0] += cpu_seconds(stack) - before
                    cpu[(name, "page")][1] += result.requests
                    before = cpu_seconds(stack)
                    rate, failed = asyncio.run(case_steps(stack.config.gateway_url, args.cases, args.concurrency))
                    # Spans still in the batch processors (5 s delay) are part of the cost: let
                    # them go out; every variant waits the same.
                    time.sleep(6)
                    cpu[(name, "step")][0] += cpu_seconds(stack) - before
                    cpu[(name, "step")][1] += args.cases * (1 + len(STEPS))
                    steps[name].append(rate)
                    errors += failed
            received = json.loads(fetch(f"http://127.0.0.1:{sink_port}/stats"))

    print(f"tracing cost: {args.rounds} rounds in turn, {args.concurrency} clients, best round of each")
    print(f"GET {CATALOGUE_PAGE} ({args.seconds:.0f} s a round)")
    best_page = {name: max(results, key=lambda r: r.throughput) for name, results in catalogue.items()}
    for name, result in best_page.items():
        print(line(name, result))
    for name in (FULL, RATIO):
        print(f"  ratio {name}/off: {best_page[name].throughput / best_page[OFF].throughput:.2f} (aim >= 0.80)")
    print(f"case steps ({args.cases} cases a round, start + {len(STEPS)} transitions each)")
    for name, rates in steps.items():
        print(f"  {name:<26} {max(rates):9.1f} steps/s   rounds: {', '.join(f'{r:.1f}' for r in rates)}")
    for name in (FULL, RATIO):
        print(f"  ratio {name}/off: {max(steps[name]) / max(steps[OFF]):.2f} (aim >= 0.80)")
    print("CPU time of the platform's processes per request or step (all rounds)")
    per = {key: spent / count * 1000 for key, (spent, count) in cpu.items()}
    for kind, unit in (("page", "catalogue page"), ("step", "case step")):
        figures = "   ".join(f"{name} {per[(name, kind)]:6.2f} ms" for name in stacks)
        ratios = ", ".join(f"{per[(OFF, kind)] / per[(name, kind)]:.2f}" for name in (FULL, RATIO))
        print(f"  {unit:<15} {figures}   off/traced: {ratios} (aim >= 0.80)")
    print(f"the receiver got {received['spans']} spans in {received['requests']} exports; errors {errors}")
    if failures:
        print(f"  failed: {dict(failures)}")
    return 0 if not errors and received["spans"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
