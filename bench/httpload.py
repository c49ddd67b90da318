"""A small closed-loop HTTP/1.1 load driver over keep-alive connections, bounded in time.

It only targets 127.0.0.1 and stops by itself. Every response must be 200 (or the status asked
for); latencies are kept for percentiles.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


async def _worker(port: int, path: str, stop_at: float, result: LoadResult, expect: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n".encode()
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            result.latencies.append(time.perf_counter() - started)
            result.requests += 1
            if status != expect:
                result.errors += 1
    finally:
        writer.close()


async def run_load(port: int, path: str, *, concurrency: int, seconds: float, expect: int = 200) -> LoadResult:
    result = LoadResult(0, 0, seconds, [])
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(_worker(port, path, stop_at, result, expect) for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result
