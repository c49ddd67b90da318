"""Benchmark: GET /v1/catalogue through the gateway against a bare FastAPI endpoint returning the
same bytes, in one run on this machine, and the resident memory of every process.

    make bench        (or: .venv/bin/python bench/catalogue.py [--seconds 8] [--concurrency 16])

Prints each side's throughput and latency, the ratio gateway/bare (aim: >= 0.5) and each
process's RSS after start and after the load (aim: <= 150 MB per service).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from httpload import LoadResult, run_load  # noqa: E402
from ostan_kit.stack import Stack, StackConfig, free_port  # noqa: E402

MB = 1024 * 1024


def rss(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / MB


def wait_http(url: str, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


def line(name: str, result: LoadResult) -> str:
    return (
        f"  {name:<8} {result.throughput:9.1f} req/s   p50 {result.percentile(0.5) * 1000:7.2f} ms"
        f"   p99 {result.percentile(0.99) * 1000:7.2f} ms   errors {result.errors}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ostan-bench-") as state:
        stack = Stack(StackConfig.on_free_ports(Path(state)))
        stack.start()
        bare = None
        try:
            started_rss = {name: rss(process.pid) for name, process in stack.processes.items()}
            url = stack.config.gateway_url + "/v1/catalogue"
            with urllib.request.urlopen(url) as answer:
                body = answer.read()
            body_file = Path(state) / "catalogue.json"
            body_file.write_bytes(body)
            bare_port = free_port()
            bare = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("bare_app.py")), str(body_file), str(bare_port)]
            )
            wait_http(f"http://127.0.0.1:{bare_port}/v1/catalogue")

            async def measure() -> tuple[LoadResult, LoadResult]:
                await run_load(stack.config.gateway_port, "/v1/catalogue", concurrency=2, seconds=1)  # warm-up
                await run_load(bare_port, "/v1/catalogue", concurrency=2, seconds=1)
                gateway = await run_load(
                    stack.config.gateway_port, "/v1/catalogue", concurrency=args.concurrency, seconds=args.seconds
                )
                baseline = await run_load(bare_port, "/v1/catalogue", concurrency=args.concurrency, seconds=args.seconds)
                return gateway, baseline

            gateway, baseline = asyncio.run(measure())
            loaded_rss = {name: rss(process.pid) for name, process in stack.processes.items()}
        finally:
            if bare is not None:
                bare.terminate()
                bare.wait()
            stack.stop()

    print(f"GET /v1/catalogue ({len(body) / 1024:.0f} KiB, {args.concurrency} connections, {args.seconds:.0f} s each)")
    print(line("gateway", gateway))
    print(line("bare", baseline))
    ratio = gateway.throughput / baseline.throughput
    print(f"  ratio gateway/bare: {ratio:.2f} (aim >= 0.5)")
    print("resident memory, MB (after start -> after load; aim <= 150 per service)")
    for name in started_rss:
        print(f"  {name:<18} {started_rss[name]:6.1f} -> {loaded_rss[name]:6.1f}")
    return 0 if gateway.errors == 0 and baseline.errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
