"""Benchmark: catalogue search through the gateway, over the real catalogue and over a synthetic
one 100 times larger, at 1 and 16 concurrent clients, each beside a bare FastAPI endpoint
returning the same bytes in the same run.

    make bench-search   (or: .venv/bin/python bench/search.py [--seconds 5] [--scale 100])

Prints p50, p99 and throughput for each, the ratio gateway/bare (aim >= 0.5), p99 at one client
on the real catalogue (aim < 20 ms), and how much slower the larger catalogue is per entry
(aim: no worse than linear, i.e. a per-entry cost ratio <= 1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from importlib.resources import files
from pathlib import Path
from urllib.parse import quote

import yaml

from common import bare_endpoint, fetch, line, platform
from httpload import LoadResult, run_load
from ostan_kit.catalogue.entries import load_catalogue
from ostan_kit.runtime.registry import SERVICES

QUERY = "صدور مجوز"
PATH = f"/v1/catalogue/search?q={quote(QUERY)}"


def synthetic_catalogues(folder: Path, scale: int) -> dict[str, str]:
    """Each service's catalogue repeated ``scale`` times (copies get new slugs and no booklet
    ID); the environment that points the services at it."""
    environment = {}
    for name, info in SERVICES.items():
        entries = [entry.model_dump(mode="json") for entry in load_catalogue(Path(str(files(SERVICES[name].package))) / "catalogue")]
        copies = [
            {**entry, "slug": f"{entry['slug']}-copy-{n}", "service_id": "", "describes": None, "part_of": None}
            if n
            else entry
            for n in range(scale)
            for entry in entries
        ]
        target = folder / name
        target.mkdir(parents=True)
        (target / "synthetic.yaml").write_text(yaml.safe_dump({"entries": copies}, allow_unicode=True), "utf-8")
        environment[info.env_prefix + "CATALOGUE_DIR"] = str(target)
    return environment


def measure(environment: dict[str, str], seconds: float) -> tuple[int, dict[int, tuple[LoadResult, LoadResult]]]:
    with platform(environment) as stack:
        count = json.loads(fetch(stack.config.gateway_url + "/v1/catalogue?limit=1"))["count"]
        body = fetch(stack.config.gateway_url + PATH)
        results = {}
        with bare_endpoint("/v1/catalogue/search", body) as bare_port:

            async def run() -> None:
                await run_load(stack.config.gateway_port, PATH, concurrency=2, seconds=1)  # warm-up
                for clients in (1, 16):
                    gateway = await run_load(stack.config.gateway_port, PATH, concurrency=clients, seconds=seconds)
                    bare = await run_load(bare_port, PATH, concurrency=clients, seconds=seconds)
                    results[clients] = (gateway, bare)

            asyncio.run(run())
    return count, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--scale", type=int, default=100)
    args = parser.parse_args()
    slow = {"OSTAN_GATEWAY_CATALOGUE_TTL_SECONDS": "3600", "OSTAN_GATEWAY_CATALOGUE_DEADLINE": "120"}

    real_count, real = measure(slow, args.seconds)
    with tempfile.TemporaryDirectory(prefix="ostan-bench-catalogue-") as folder:
        big_count, big = measure({**slow, **synthetic_catalogues(Path(folder), args.scale)}, args.seconds)

    failed = False
    print(f"GET /v1/catalogue/search?q={QUERY} ({args.seconds:.0f} s a measurement)")
    for label, count, results in (("real", real_count, real), (f"{args.scale}x", big_count, big)):
        print(f"catalogue {label}: {count} entries")
        for clients, (gateway, bare) in results.items():
            print(line(f"gateway, {clients} client(s)", gateway))
            print(line(f"bare, {clients} client(s)", bare))
            print(f"  ratio gateway/bare at {clients}: {gateway.throughput / bare.throughput:.2f} (aim >= 0.5)")
            failed |= bool(gateway.errors or bare.errors)
    p99 = real[1][0].percentile(0.99) * 1000
    print(f"p99 at one client, real catalogue: {p99:.2f} ms (aim < 20 ms)")
    per_entry = (big[1][0].percentile(0.5) / big_count) / (real[1][0].percentile(0.5) / real_count)
    print(
        f"p50 at one client grows {big[1][0].percentile(0.5) / real[1][0].percentile(0.5):.1f}x for "
        f"{big_count / real_count:.0f}x the entries: per-entry cost ratio {per_entry:.2f} (aim <= 1, linear)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
