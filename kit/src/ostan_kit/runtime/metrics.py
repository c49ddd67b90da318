"""Prometheus metrics of a process, served on a port of their own (``OSTAN_<SERVICE>_METRICS_PORT``;
0 turns them off). Every family is here, named by Prometheus's conventions (``ostan_`` prefix,
base units, ``_total`` counters), so that the gateway and every service export the same names.

Counters of what a transaction did move only when it commits (``after_commit``); figures read
from the database (open cases, outbox and timer lag) are read when Prometheus scrapes, on the
service's own event loop (``DatabaseCollector``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import grpc
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from ostan_kit.runtime.telemetry import untraced

log = logging.getLogger(__name__)

# -- requests ---------------------------------------------------------------------------------
RPC_REQUESTS = Counter(
    "ostan_rpc_server_requests", "gRPC calls served, by method and status code", ["rpc_method", "grpc_code"]
)
RPC_ERRORS = Counter(
    "ostan_rpc_server_errors", "gRPC calls that ended in an error status, by method and code", ["rpc_method", "grpc_code"]
)
RPC_DURATION = Histogram(
    "ostan_rpc_server_duration_seconds", "Time to answer a gRPC call, by method", ["rpc_method"]
)
HTTP_REQUESTS = Counter(
    "ostan_http_server_requests", "HTTP requests answered, by method, route and status", ["method", "route", "status"]
)
HTTP_ERRORS = Counter(
    "ostan_http_server_errors", "HTTP requests answered with a 5xx, by method, route and status", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "ostan_http_server_duration_seconds", "Time to answer an HTTP request, by method and route", ["method", "route"]
)

# -- cases ------------------------------------------------------------------------------------
CASES_STARTED = Counter("ostan_cases_started", "Cases started, by process", ["process"])
CASE_TRANSITIONS = Counter(
    "ostan_case_transitions", "Cases moved from one state to another, by process and action", ["process", "action"]
)
SLA_WARNINGS = Counter(
    "ostan_sla_warnings", "SLA warnings fired (80% of the time used), by process and scope", ["process", "scope"]
)
SLA_BREACHES = Counter("ostan_sla_breaches", "SLA breaches fired, by process and scope", ["process", "scope"])

# -- the outbox, the timers, the database and the bus -----------------------------------------
OUTBOX_PUBLISHED = Counter("ostan_outbox_published", "Events the outbox relay published")
OUTBOX_RELAY_ERRORS = Counter("ostan_outbox_relay_errors", "Failed publishes and failed relay rounds")
NATS_RECONNECTS = Counter("ostan_nats_reconnects", "Times the NATS connection came back after a loss")
NATS_DISCONNECTS = Counter("ostan_nats_disconnects", "Times the NATS connection was lost")
DB_POOL_IN_USE = Gauge("ostan_db_pool_connections_in_use", "Database connections checked out of the pool")
DB_POOL_OPEN = Gauge("ostan_db_pool_connections_open", "Database connections the pool holds open")


def serve(port: int, host: str = "127.0.0.1") -> int:
    """Serve ``/metrics`` on ``host:port`` from a thread; returns the port (0: not served)."""
    if not port:
        return 0
    try:
        server, _thread = start_http_server(port, addr=host)
    except OSError as error:
        raise OSError(error.errno, f"cannot serve metrics on {host}:{port}: {error.strerror}") from None
    return server.server_address[1]


def after_commit(session: AsyncSession, action: Callable[[], None]) -> None:
    """Run ``action`` (e.g. a counter's ``inc``) once ``session``'s transaction commits; dropped
    on a rollback."""
    pending: list[Callable[[], None]] | None = session.info.get("ostan_after_commit")
    if pending is None:
        pending = session.info["ostan_after_commit"] = []
        sync_session = session.sync_session

        def committed(_session: Any) -> None:
            actions, pending[:] = list(pending), []
            for run in actions:
                run()

        def rolled_back(_session: Any) -> None:
            pending.clear()

        event.listen(sync_session, "after_commit", committed)
        event.listen(sync_session, "after_rollback", rolled_back)
    pending.append(action)


def pool_gauges(engine: Any) -> None:
    """Connections of ``engine``'s pool in use and open (SQLAlchemy's QueuePool; SQLite's pool
    reports what it can)."""
    pool = engine.sync_engine.pool
    DB_POOL_IN_USE.set_function(lambda: _number(getattr(pool, "checkedout", None)))
    DB_POOL_OPEN.set_function(
        lambda: _number(getattr(pool, "checkedout", None)) + _number(getattr(pool, "checkedin", None))
    )


def _number(reading: Callable[[], int] | None) -> float:
    try:
        return float(reading()) if reading is not None else 0.0
    except Exception:  # a pool without the figure
        return 0.0


class DatabaseCollector(Collector):
    """Families read from the database when Prometheus scrapes: ``read`` runs on the service's
    event loop (which owns the database connections) and must answer within ``timeout``."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, read: Callable[[], Awaitable[Iterable[Metric]]], timeout: float = 3.0
    ) -> None:
        self.loop = loop
        self.read = read
        self.timeout = timeout

    def collect(self) -> Iterator[Metric]:
        if self.loop.is_closed():
            return
        future = asyncio.run_coroutine_threadsafe(self._read_untraced(), self.loop)
        try:
            yield from future.result(self.timeout)
        except Exception as error:  # the database is away: these families wait for the next scrape
            future.cancel()
            log.warning("metrics not read from the database", extra={"error": str(error)})

    async def _read_untraced(self) -> list[Metric]:
        with untraced():
            return list(await self.read())

    def describe(self) -> Iterator[Metric]:
        return iter(())  # read on collect only, never at registration


def register(collector: Collector) -> None:
    REGISTRY.register(collector)


def gauge(name: str, documentation: str, labels: list[str], samples: Iterable[tuple[list[str], float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


# -- gRPC servers -----------------------------------------------------------------------------


class RpcTimer:
    """Counts and times one gRPC call: ``with RpcTimer(method) as call: ... call.code = ...``."""

    __slots__ = ("method", "code", "_started")

    def __init__(self, method: str) -> None:
        self.method = method
        self.code = grpc.StatusCode.OK
        self._started = 0.0

    def __enter__(self) -> RpcTimer:
        self._started = time.perf_counter()
        return self

    def __exit__(self, kind: Any, error: Any, _traceback: Any) -> None:
        if kind is not None and self.code == grpc.StatusCode.OK:
            self.code = grpc.StatusCode.CANCELLED if issubclass(kind, asyncio.CancelledError) else grpc.StatusCode.INTERNAL
        code = self.code.name
        RPC_REQUESTS.labels(self.method, code).inc()
        if self.code != grpc.StatusCode.OK:
            RPC_ERRORS.labels(self.method, code).inc()
        RPC_DURATION.labels(self.method).observe(time.perf_counter() - self._started)
