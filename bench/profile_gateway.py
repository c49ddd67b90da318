"""Where the gateway's time goes on one path under load: py-spy samples the gateway (tracing on,
as it runs) while the load runs, and the innermost frames are summed.

    .venv/bin/python bench/profile_gateway.py [--path /v1/catalogue] [--seconds 6] [--raw FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import subprocess
import sys
import tempfile
from pathlib import Path

from common import platform
from httpload import run_load


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default="/v1/catalogue")
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--raw", default="", help="keep py-spy's folded stacks here")
    args = parser.parse_args()
    raw = Path(args.raw or tempfile.mktemp(suffix=".raw"))
    with platform() as stack:
        port = stack.config.gateway_port
        asyncio.run(run_load(port, args.path, concurrency=2, seconds=1))
        spy = subprocess.Popen(
            [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(stack.processes["gateway"].pid),
             "--duration", str(args.seconds), "--rate", "250", "--format", "raw", "--output", str(raw),
             "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        result = asyncio.run(run_load(port, args.path, concurrency=args.concurrency, seconds=args.seconds + 1))
        spy.wait(timeout=120)
    print(f"GET {args.path}: {result.throughput:.0f} req/s under the profiler")
    inner: collections.Counter[str] = collections.Counter()
    total = 0
    for entry in raw.read_text().splitlines():
        stack_text, _, count = entry.rpartition(" ")
        if not stack_text:
            continue
        frame = stack_text.rsplit(";", 1)[-1]
        name, _, where = frame.partition(" (")
        inner[f"{name} ({where.split('site-packages/')[-1].split(':')[0]}"] += int(count)
        total += int(count)
    for name, count in inner.most_common(30):
        print(f"  {count / total * 100:5.1f}%  {name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
