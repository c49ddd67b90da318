"""Benchmark: what each layer a request crosses costs by itself, in CPU per call, in one run.

The platform's benches compare whole paths with bare baselines (bench/steps.py, bench/catalogue.py);
this one says where such a ratio's floor lies, layer by layer, each beside the layer under it:

- a SQL statement: the bare driver (asyncpg, prepared), SQLAlchemy Core through an AsyncConnection
  and through an AsyncSession, and both with OpenTelemetry's SQLAlchemy instrumentation (a span
  per statement, as the services run);
- a gRPC unary call (the health check, no work in it): the server's CPU, plain and with
  OpenTelemetry's server interceptor;
- an HTTP request to a FastAPI endpoint returning fixed bytes (driven in-process, no socket):
  plain and with FastAPI's native server span;
- an OpenTelemetry span by itself, recorded and not sampled.

    .venv/bin/python bench/layers.py [--postgres postgresql://127.0.0.1:5432/test] [--calls 3000]

Spans go to no exporter here: exporting costs more again (bench/telemetry.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import timeit
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK")


def _tracing() -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())


def line(what: str, micros: float, under: float | None = None) -> str:
    times = f"   {micros / under:4.1f}x the first line" if under else ""
    return f"  {what:<44} {micros:7.1f} us{times}"


# -- SQL ------------------------------------------------------------------------------------
async def per_call(run: Callable[[int], Awaitable[Any]], calls: int) -> float:
    """CPU microseconds per ``run(number)``, after a warm-up."""
    for number in range(200):
        await run(number)
    started = time.process_time()
    for number in range(calls):
        await run(number)
    return (time.process_time() - started) / calls * 1e6


async def sql(url: str, calls: int) -> None:
    import asyncpg
    from sqlalchemy import Integer, bindparam, select
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(plain)
    prepared = await connection.prepare("SELECT $1::int + 1")
    driver = await per_call(prepared.fetchval, calls)
    await connection.close()
    print(f"a SQL statement (SELECT $1 + 1 on {make_url(url).render_as_string()}), CPU of the client:")
    print(line("asyncpg, prepared", driver))
    query = select(bindparam("x", type_=Integer) + 1)
    for traced in (False, True):
        engine = create_async_engine(make_url(url).set(drivername="postgresql+asyncpg"))
        if traced:
            from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

            _tracing()
            SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine, enable_commenter=False, skip_dep_check=True)
        autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        suffix = ", a span each" if traced else ""
        async with autocommit.connect() as core:
            micros = await per_call(lambda number: core.execute(query, {"x": number}), calls)  # noqa: B023
            print(line(f"SQLAlchemy Core, AsyncConnection{suffix}", micros, driver))
        async with async_sessionmaker(autocommit)() as session:
            micros = await per_call(lambda number: session.execute(query, {"x": number}), calls)  # noqa: B023
            print(line(f"SQLAlchemy Core, AsyncSession{suffix}", micros, driver))
        await engine.dispose()


# -- gRPC -----------------------------------------------------------------------------------
def grpc_server(port: int, traced: bool) -> None:
    import grpc
    from grpc_health.v1 import health, health_pb2_grpc

    async def serve() -> None:
        interceptors = []
        if traced:
            from opentelemetry.instrumentation.grpc import aio_server_interceptor

            _tracing()
            interceptors = [aio_server_interceptor()]
        server = grpc.aio.server(interceptors=interceptors)
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    asyncio.run(serve())


def process_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def grpc_calls(port: int, pid: int, calls: int, concurrency: int = 16) -> float:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        await channel.channel_ready()
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest()
        for _ in range(500):
            await stub.Check(request)
        before = process_cpu(pid)

        async def caller() -> None:
            for _ in range(calls // concurrency):
                await stub.Check(request)

        await asyncio.gather(*(caller() for _ in range(concurrency)))
        return (process_cpu(pid) - before) / (calls // concurrency * concurrency) * 1e6


def grpc_layers(calls: int) -> None:
    from ostan_devstack.stack import free_port

    print("a gRPC unary call (grpc.aio, the health check), CPU of the server process:")
    plain = None
    for traced in (False, True):
        port = free_port()
        server = subprocess.Popen([sys.executable, __file__, "--grpc-server", str(port), "--traced" if traced else ""])
        try:
            micros = asyncio.run(grpc_calls(port, server.pid, calls * 3))
        finally:
            server.terminate()
            server.wait()
        print(line("with OpenTelemetry's server span" if traced else "plain", micros, plain))
        plain = micros


# -- HTTP -----------------------------------------------------------------------------------
def http_layers(calls: int) -> None:
    from fastapi import FastAPI, Response
    from opentelemetry import trace

    body = b"x" * 100_000
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "/page", "raw_path": b"/page", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8080"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_message: dict) -> None:
        pass

    async def cost(app: FastAPI) -> float:
        for _ in range(1000):
            await app(dict(scope), receive, send)
        started = time.process_time()
        for _ in range(calls * 3):
            await app(dict(scope), receive, send)
        return (time.process_time() - started) / (calls * 3) * 1e6

    def app() -> FastAPI:
        made = FastAPI(telemetry={"tracing": True, "operation_spans": False, "metrics": False, "logs": False})

        @made.get("/page")
        async def page() -> Response:
            return Response(body, media_type="application/json")

        return made

    print("an HTTP request to a FastAPI endpoint of fixed bytes (in-process, no socket), CPU:")
    plain = asyncio.run(cost(app()))  # no tracer provider yet: FastAPI's telemetry stays out
    print(line("plain", plain))
    _tracing()
    print(line("with FastAPI's native server span", asyncio.run(cost(app())), plain))
    del trace


def span_layers(calls: int) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
    from opentelemetry.trace import SpanKind

    attributes = {"http.request.method": "GET", "url.path": "/v1/catalogue", "url.scheme": "http",
                  "server.address": "127.0.0.1", "server.port": 8080, "network.protocol.version": "1.1"}
    print("an OpenTelemetry span (six attributes at start, two at the end), CPU:")
    for name, provider in (("recorded", TracerProvider()), ("not sampled", TracerProvider(sampler=ALWAYS_OFF))):
        tracer = provider.get_tracer("bench")

        def one() -> None:
            span = tracer.start_span("GET", kind=SpanKind.SERVER, attributes=attributes)  # noqa: B023
            span.set_attributes({"http.route": "/v1/catalogue", "http.response.status_code": 200})
            span.end()

        print(line(name, timeit.timeit(one, number=calls * 10) / (calls * 10) * 1e6))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default=os.environ.get("OSTAN_TEST_DATABASE_URL", ""))
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--grpc-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.grpc_server:
        grpc_server(args.grpc_server, args.traced)
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    span_layers(args.calls)
    http_layers(args.calls)
    grpc_layers(args.calls)
    if args.postgres:
        asyncio.run(sql(args.postgres, args.calls))
    else:
        print("a SQL statement: skipped (give --postgres URL)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
