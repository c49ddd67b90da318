"""Benchmark: GET /v1/catalogue through the gateway against a bare FastAPI endpoint returning the
same bytes, in one run on this machine, and the resident memory of every process.

    make bench-catalogue   (or: .venv/bin/python bench/catalogue.py [--seconds 8] [--concurrency 16])

Prints the throughput and latency of the gateway as it runs (OpenTelemetry on), of the same
gateway with OpenTelemetry off and of the bare endpoint, the ratios gateway/bare (aim: >= 0.5)
and each process's RSS after start and after the load (aim: <= 150 MB per service).
"""

from __future__ import annotations

import argparse
import asyncio

from common import bare_endpoint, fetch, line, platform, rss, untraced_gateway
from httpload import LoadResult, run_load

PATH = "/v1/catalogue"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    with platform() as stack:
        started_rss = {name: rss(process.pid) for name, process in stack.processes.items()}
        body = fetch(stack.config.gateway_url + PATH)
        with bare_endpoint(PATH, body) as bare_port, untraced_gateway(stack) as untraced_port:
            ports = {"gateway": stack.config.gateway_port, "gateway, tracing off": untraced_port, "bare": bare_port}

            async def measure() -> dict[str, LoadResult]:
                for port in ports.values():  # warm-up
                    await run_load(port, PATH, concurrency=2, seconds=1)
                return {
                    name: await run_load(port, PATH, concurrency=args.concurrency, seconds=args.seconds)
                    for name, port in ports.items()
                }

            results = asyncio.run(measure())
        loaded_rss = {name: rss(process.pid) for name, process in stack.processes.items()}

    print(f"GET {PATH} ({len(body) / 1024:.0f} KiB, {args.concurrency} connections, {args.seconds:.0f} s each)")
    for name, result in results.items():
        print(line(name, result))
    bare = results["bare"]
    for name in ("gateway", "gateway, tracing off"):
        print(f"  ratio {name}/bare: {results[name].throughput / bare.throughput:.2f} (aim >= 0.5)")
    print("resident memory, MB (after start -> after load; aim <= 150 per service)")
    for name in started_rss:
        print(f"  {name:<18} {started_rss[name]:6.1f} -> {loaded_rss[name]:6.1f}")
    return 0 if not any(result.errors for result in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
