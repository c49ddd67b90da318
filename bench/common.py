"""What the benchmarks share: the platform on free ports, a bare FastAPI baseline serving fixed
bytes, memory readings and result lines."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil

from httpload import LoadResult
from ostan_devstack.stack import Stack, StackConfig, free_port
from ostan_kit.messaging.bus import connect_options
from ostan_kit.messaging.natsauth import Identity

MB = 1024 * 1024


def rss(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / MB


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as answer:
        return answer.read()


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            fetch(url)
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


# The benchmarks' own bus identity: publishes and reads anything, like the bare baselines need.
BENCH_IDENTITY = Identity("bench", (">",), (">",), description="the benchmarks")


def bench_nats_options(stack: Stack) -> dict:
    return connect_options(BENCH_IDENTITY.name, stack.config.seed_file(BENCH_IDENTITY.name))


@contextlib.contextmanager
def platform(
    environment: dict[str, str] | None = None,
    ready_timeout: float = 120,
    database_urls: dict[str, str] | None = None,
    local_traces: bool = True,
) -> Iterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="ostan-bench-") as state:
        config = StackConfig.on_free_ports(
            Path(state), environment=environment or {}, database_urls=database_urls or {}, local_traces=local_traces,
            nats_identities=[BENCH_IDENTITY],
        )
        stack = Stack(config)
        stack.start(ready_timeout)
        try:
            yield stack
        finally:
            stack.stop()


@contextlib.contextmanager
def bare_endpoint(path: str, body: bytes) -> Iterator[int]:
    """A bare FastAPI app answering ``path`` with ``body``; yields its port."""
    with tempfile.NamedTemporaryFile(suffix=".json") as body_file:
        body_file.write(body)
        body_file.flush()
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("bare_app.py")), body_file.name, str(port), path]
        )
        try:
            wait_http(f"http://127.0.0.1:{port}{path}")
            yield port
        finally:
            process.terminate()
            process.wait()


@contextlib.contextmanager
def untraced_gateway(stack: Stack) -> Iterator[int]:
    """A second gateway in front of the same services with OpenTelemetry off
    (``OTEL_SDK_DISABLED=true``), to measure what tracing costs; yields its port."""
    port = free_port()
    environment = {
        **os.environ,
        "OTEL_SDK_DISABLED": "true",
        "OSTAN_GATEWAY_PORT": str(port),
        "OSTAN_GATEWAY_LOCAL_KEYS_DIR": str(stack.config.keys_dir),
        "OSTAN_GATEWAY_METRICS_PORT": "0",
        "OSTAN_GATEWAY_SERVICES": json.dumps(
            {name: f"127.0.0.1:{service_port}" for name, service_port in stack.config.service_ports.items()}
        ),
        **stack.config.environment,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ostan_gateway"], env=environment, stderr=subprocess.DEVNULL
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        yield port
    finally:
        process.terminate()
        process.wait()


def line(name: str, result: LoadResult) -> str:
    return (
        f"  {name:<26} {result.throughput:9.1f} req/s   p50 {result.percentile(0.5) * 1000:7.2f} ms"
        f"   p99 {result.percentile(0.99) * 1000:7.2f} ms   errors {result.errors}"
    )
