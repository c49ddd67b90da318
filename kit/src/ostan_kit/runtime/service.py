"""Running an office service: migrate, serve gRPC with health and reflection, relay the outbox,
and stop gracefully on SIGTERM. Each service's entry point is ``run(name, package)``."""

from __future__ import annotations

import asyncio
import functools
import importlib.resources
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from nats.js.api import StreamConfig

from ostan.common.v1 import (
    case_pb2,
    case_pb2_grpc,
    catalogue_pb2,
    catalogue_pb2_grpc,
    event_contracts_pb2,
    event_contracts_pb2_grpc,
    inquiry_pb2,
    inquiry_pb2_grpc,
    issued_pb2,
    issued_pb2_grpc,
    process_pb2,
    process_pb2_grpc,
    stats_pb2,
    stats_pb2_grpc,
)
from ostan_kit.audit.chain import AuditChain
from ostan_kit.cases import figures
from ostan_kit.cases.documents import LocalDocumentStore
from ostan_kit.cases.engine import CaseEngine
from ostan_kit.cases.issued import Issuer
from ostan_kit.catalogue.entries import load_catalogue
from ostan_kit.inquiries.desk import InquiryDesk
from ostan_kit.inquiries.outbound import AnswerIntake, answers_consumer, answers_stream, load_outbound
from ostan_kit.inquiries.signatures import AgencyKeys
from ostan_kit.inquiries.types import load_inquiry_types
from ostan_kit.messaging.bus import DAY, Bus
from ostan_kit.messaging.consumer import Consumer
from ostan_kit.messaging.grants import EventGrants, grants_file, read_grants
from ostan_kit.messaging.natsauth import DEAD_LETTER_STREAM, agency_stream, agency_subject_root
from ostan_kit.messaging.outbox import OutboxRelay
from ostan_kit.persistence.db import Database
from ostan_kit.persistence.migrations import upgrade
from ostan_kit.processes.definitions import load_processes
from ostan_kit.runtime import heap, metrics, telemetry
from ostan_kit.runtime.logs import configure_logging
from ostan_kit.runtime.registry import SERVICES
from ostan_kit.runtime.servicers import (
    CallerInterceptor,
    CaseServicer,
    CaseStatsServicer,
    CatalogueServicer,
    EventContractServicer,
    InquiryServicer,
    IssuedDocumentServicer,
    ProcessServicer,
    VerificationServicer,
)
from ostan_kit.runtime.settings import ServiceSettings, load_settings
from ostan_kit.runtime.telemetry import configure_tracing, grpc_server_interceptors, untraced
from ostan_kit.runtime.workers import run_workers
from ostan_kit.security.assertions import AssertionVerifier, load_public_key
from ostan_kit.text.workdays import WorkingCalendar

log = logging.getLogger(__name__)

# How long each step of a shutdown after the gRPC grace period may take.
STEP_SECONDS = 3.0

# Room in a gRPC message for what travels beside a document's bytes (the case, the form, names).
ENVELOPE_BYTES = 1 << 20

CATALOGUE = catalogue_pb2.DESCRIPTOR.services_by_name["CatalogueService"].full_name
CASES = case_pb2.DESCRIPTOR.services_by_name["CaseService"].full_name
PROCESSES = process_pb2.DESCRIPTOR.services_by_name["ProcessService"].full_name
ISSUED = issued_pb2.DESCRIPTOR.services_by_name["IssuedDocumentService"].full_name
VERIFICATION = issued_pb2.DESCRIPTOR.services_by_name["VerificationService"].full_name
INQUIRIES = inquiry_pb2.DESCRIPTOR.services_by_name["InquiryService"].full_name
STATS = stats_pb2.DESCRIPTOR.services_by_name["CaseStatsService"].full_name
CONTRACTS = event_contracts_pb2.DESCRIPTOR.services_by_name["EventContractService"].full_name
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass(frozen=True)
class ServiceLayout:
    """Where a service keeps its data: inside its own package, so a wheel carries it."""

    root: Path

    @classmethod
    def of_package(cls, package: str) -> ServiceLayout:
        root = importlib.resources.files(package)
        if not isinstance(root, Path):  # Alembic and the loaders read folders on disk
            raise RuntimeError(f"{package} must be installed as files, not inside an archive")
        return cls(root)

    @property
    def catalogue(self) -> Path:
        return self.root / "catalogue"

    @property
    def processes(self) -> Path:
        return self.root / "processes"

    @property
    def inquiries(self) -> Path:
        return self.root / "inquiries"

    @property
    def migrations(self) -> Path:
        return self.root / "migrations"

    @property
    def grants(self) -> Path:
        return grants_file(self.root)


class Extension(Protocol):
    """What a service adds to the chassis: gRPC services and event consumers of its own."""

    service_names: tuple[str, ...]
    consumers: list[Consumer]

    def register(self, server: grpc.aio.Server) -> None: ...


ExtensionFactory = Callable[["OfficeService"], Extension]


def side_streams(settings: ServiceSettings, grants: EventGrants) -> list[StreamConfig]:
    """The streams a service uses besides its own: each granted agency's, the agencies' answers
    to its inquiries and the dead letters."""
    streams = [
        StreamConfig(
            name=agency_stream(agency),
            subjects=[f"{agency_subject_root(agency)}.>"],
            max_age=settings.agency_events_max_age_days * DAY,
            duplicate_window=settings.duplicate_window_seconds,
        )
        for agency in sorted({grant.agency for grant in grants.grants})
    ]
    streams.append(answers_stream(settings.duplicate_window_seconds))
    streams.append(
        StreamConfig(
            name=DEAD_LETTER_STREAM,
            subjects=["ostan-dead.>"],
            max_age=settings.dead_letter_max_age_days * DAY,
            duplicate_window=settings.duplicate_window_seconds,
        )
    )
    return streams


class OfficeService:
    def __init__(
        self, settings: ServiceSettings, layout: ServiceLayout, extensions: Sequence[ExtensionFactory] = ()
    ) -> None:
        info = SERVICES[settings.service]
        self.settings = settings
        self.layout = layout
        self.database = Database(settings.resolved_database_url)
        self.grants = read_grants(settings.service, layout.grants)
        self.bus = Bus(
            settings.nats_url,
            name=f"ostan-{settings.service}",
            stream=info.stream,
            subjects=[f"ostan.{settings.service}.>"],
            identity=f"service-{settings.service}",
            seed_file=settings.nats_seed_file,
            duplicate_window=settings.duplicate_window_seconds,
            max_age_days=settings.events_max_age_days,
            other_streams=side_streams(settings, self.grants),
        )
        self.relay = OutboxRelay(
            self.database, self.bus, batch=settings.outbox_batch, poll_seconds=settings.outbox_poll_seconds
        )
        self.catalogue = load_catalogue(settings.catalogue_dir or layout.catalogue)
        book = load_processes(layout.processes)
        self.engine = CaseEngine(
            settings.service,
            self.database,
            book,
            self.catalogue,
            LocalDocumentStore(settings.resolved_documents_dir),
            WorkingCalendar.from_names(settings.weekend),
            outbound=load_outbound(layout.inquiries, book),
            grants=self.grants,
            issuer=Issuer.configured(settings.issuing_key, settings.issuing_key_file),
        )
        if self.engine.issuer is None and any(d.issues for d in self.engine.book.latest.values()):
            log.warning(
                "no issuing key configured: cases whose definitions issue a document cannot be granted",
                extra={"setting": SERVICES[settings.service].env_prefix + "ISSUING_KEY[_FILE]"},
            )
        self.inquiries = InquiryDesk(
            settings.service,
            self.database,
            self.engine.book,
            load_inquiry_types(layout.inquiries, self.engine.book),
        )
        self.audit = AuditChain(settings.service, self.database)
        # The agencies' answers to the steps' inquiries.
        self.answers = answers_consumer(
            settings.service,
            self.database,
            AnswerIntake(settings.service, self.database, self.engine.clock, self._agency_keys()),
            settings.consumer_max_deliver,
        )
        self.extensions = [make(self) for make in extensions]
        self.health = health.aio.HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.port = 0
        self.metrics_port = 0
        self._probe: asyncio.Task | None = None
        self._timers: asyncio.Task | None = None
        self._consumers: asyncio.Task | None = None

    @property
    def consumers(self) -> list[Consumer]:
        return [self.answers, *(consumer for extension in self.extensions for consumer in extension.consumers)]

    def _agency_keys(self) -> AgencyKeys:
        settings = self.settings
        keys = AgencyKeys.from_file(settings.agency_keys_file)
        setting = SERVICES[settings.service].env_prefix + "AGENCY_KEYS_FILE"
        if settings.agency_keys_file is None:
            log.warning(
                "no agency keys configured: every agency's answer to an inquiry is refused", extra={"setting": setting}
            )
        else:
            unkeyed = sorted({agency for inquiry in self.engine.outbound.values() for agency in inquiry.agencies}
                             - set(keys.agencies()))
            if unkeyed:
                log.warning(
                    "no keys configured for agencies this service asks: their answers are refused",
                    extra={"setting": setting, "agencies": unkeyed},
                )
        return keys

    def _assertion_verifier(self) -> AssertionVerifier | None:
        settings = self.settings
        if not settings.gateway_public_key and not settings.gateway_public_key_file:
            log.warning(
                "no gateway public key configured: every call but the catalogue's and health's is refused",
                extra={"setting": SERVICES[settings.service].env_prefix + "GATEWAY_PUBLIC_KEY[_FILE]"},
            )
            return None
        key = load_public_key(settings.gateway_public_key, settings.gateway_public_key_file)
        return AssertionVerifier(key, audience=settings.service)

    def _listen(self, address: str) -> int:
        assert self.server is not None
        settings = self.settings
        if not settings.tls_cert_file and not settings.tls_key_file:
            if settings.tls_client_ca_file:
                raise ValueError("a client CA (mTLS) needs the server's own certificate and key as well")
            return self.server.add_insecure_port(address)
        if not settings.tls_cert_file or not settings.tls_key_file:
            raise ValueError("TLS needs both the certificate and the key file")
        client_ca = settings.tls_client_ca_file.read_bytes() if settings.tls_client_ca_file else None
        credentials = grpc.ssl_server_credentials(
            [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())],
            root_certificates=client_ca,
            require_client_auth=client_ca is not None,
        )
        return self.server.add_secure_port(address, credentials)

    @property
    def max_message_bytes(self) -> int:
        """The largest call the server takes: the service's largest document and its envelope,
        unless configured (gRPC's own default of 4 MiB would refuse documents the definitions allow)."""
        return self.settings.max_message_bytes or self.engine.book.largest_document() + ENVELOPE_BYTES

    async def start(self) -> None:
        limit = self.max_message_bytes
        # The span of a call comes first, so that a refused caller is in the trace too.
        options = [("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)]
        if self.settings.shares_port:  # several workers serve the one port
            options.append(("grpc.so_reuseport", 1))
        self.server = grpc.aio.server(
            interceptors=[*grpc_server_interceptors(), CallerInterceptor(self._assertion_verifier())], options=options
        )
        catalogue_pb2_grpc.add_CatalogueServiceServicer_to_server(
            CatalogueServicer(self.settings.service, self.catalogue, self.engine), self.server
        )
        case_pb2_grpc.add_CaseServiceServicer_to_server(CaseServicer(self.engine, self.relay.wake), self.server)
        process_pb2_grpc.add_ProcessServiceServicer_to_server(
            ProcessServicer(self.settings.service, self.engine.book), self.server
        )
        issued_pb2_grpc.add_IssuedDocumentServiceServicer_to_server(
            IssuedDocumentServicer(self.engine, self.relay.wake), self.server
        )
        issued_pb2_grpc.add_VerificationServiceServicer_to_server(VerificationServicer(self.engine), self.server)
        stats_pb2_grpc.add_CaseStatsServiceServicer_to_server(CaseStatsServicer(self.engine), self.server)
        event_contracts_pb2_grpc.add_EventContractServiceServicer_to_server(
            EventContractServicer(self.grants, self.engine.book), self.server
        )
        inquiry_pb2_grpc.add_InquiryServiceServicer_to_server(InquiryServicer(self.inquiries), self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        extra_names: list[str] = []
        for extension in self.extensions:
            extension.register(self.server)
            extra_names.extend(extension.service_names)
        if self.settings.reflection:
            reflection.enable_server_reflection(
                (
                    CATALOGUE,
                    CASES,
                    PROCESSES,
                    ISSUED,
                    VERIFICATION,
                    STATS,
                    CONTRACTS,
                    INQUIRIES,
                    *extra_names,
                    health.SERVICE_NAME,
                    reflection.SERVICE_NAME,
                ),
                self.server,
            )
        address = f"{self.settings.grpc_host}:{self.settings.grpc_port}"
        self.port = self._listen(address)
        if not self.port:
            raise RuntimeError(f"cannot listen on {address}")
        for name in ("", CATALOGUE, CASES, PROCESSES, STATS, INQUIRIES):
            await self.health.set(name, NOT_SERVING)
        # The catalogue and the processes are served from memory: they need neither the
        # database nor the bus.
        await self.health.set(CATALOGUE, SERVING)
        await self.health.set(PROCESSES, SERVING)
        await self.health.set(CONTRACTS, SERVING)
        await self.server.start()
        self.bus.start()
        self.relay.start()
        self._consumers = asyncio.create_task(self._start_consumers(), name="consumers")
        self._probe = asyncio.create_task(self._probe_dependencies(), name="health-probe")
        self._timers = asyncio.create_task(self._fire_timers(), name="sla-timers")
        self.metrics_port = self._serve_metrics()
        log.info(
            "serving",
            extra={
                "address": f"{self.settings.grpc_host}:{self.port}",
                "tls": bool(self.settings.tls_cert_file),
                "mtls": bool(self.settings.tls_client_ca_file),
                "reflection": self.settings.reflection,
                "metrics_port": self.metrics_port,
                "catalogue_entries": len(self.catalogue),
                "processes": self.engine.book.own(),
            },
        )

    def _serve_metrics(self) -> int:
        if not self.settings.metrics_port:
            return 0
        metrics.pool_gauges(self.database.engine)
        read = functools.partial(figures.gauges, self.database, self.engine.clock)
        metrics.register(metrics.DatabaseCollector(asyncio.get_running_loop(), read))
        return metrics.serve(self.settings.metrics_port, self.settings.grpc_host)

    async def _start_consumers(self) -> None:
        """The service's consumers start once the bus is there; each then outlives reconnects."""
        if not self.consumers:
            return
        await self.bus.stream_ready.wait()
        assert self.bus.client is not None
        for consumer in self.consumers:
            consumer.start(self.bus.client)

    async def _probe_dependencies(self) -> None:
        """Overall health needs the database and the bus; cases need the database."""
        last: tuple[bool, bool] | None = None
        while True:
            with untraced():
                database_ok = await self.database.ping()
            bus_ok = self.bus.connected
            if (database_ok, bus_ok) != last:
                for name in (CASES, STATS, INQUIRIES):
                    await self.health.set(name, SERVING if database_ok else NOT_SERVING)
                await self.health.set("", SERVING if database_ok and bus_ok else NOT_SERVING)
                log.info("health", extra={"database": database_ok, "bus": bus_ok})
                last = (database_ok, bus_ok)
            await asyncio.sleep(self.settings.health_interval_seconds)

    async def _fire_timers(self) -> None:
        """SLA warnings and breaches come due in the service's own database; it fires them. The
        audit chain's head, when it has moved, is published on the same round."""
        head_published = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if await self.engine.fire_due_timers():
                    self.relay.wake()
                if loop.time() - head_published >= self.settings.audit_head_seconds:
                    with untraced():  # polled: the head's event itself is traced when it leaves
                        published = await self.audit.publish_head()
                    if published:
                        self.relay.wake()
                    head_published = loop.time()
            except Exception as error:  # the database may be away: try again next round
                log.warning("SLA timers not fired this round", extra={"error": str(error)})
            await asyncio.sleep(self.settings.timer_poll_seconds)

    async def stop(self) -> None:
        """Refuse new calls, let in-flight calls finish within the grace period, then close;
        every step is bounded, so a stuck connection cannot keep the process from exiting."""
        await self.health.enter_graceful_shutdown()
        for task in (self._probe, self._timers, self._consumers):
            if task is not None:
                task.cancel()
        if self.server is not None:
            await self.server.stop(self.settings.shutdown_grace_seconds)
        # Together: each lets its fetch under way end (up to its fetch timeout), and the governor
        # reads the events of every office.
        await asyncio.gather(*(_bounded(consumer.stop(), f"consumer {consumer.durable}") for consumer in self.consumers))
        await _bounded(self.relay.stop(), "outbox relay")
        # Events committed by the last calls leave now if the bus is there; else they wait.
        if self.bus.connected:
            await _bounded(self.relay.publish_pending(), "final outbox flush")
        await _bounded(self.bus.close(), "bus")
        await _bounded(self.database.close(), "database")
        await _bounded(asyncio.to_thread(telemetry.shutdown), "trace export")
        log.info("stopped")


async def _bounded(step: Awaitable[object], name: str, seconds: float = STEP_SECONDS) -> None:
    try:
        await asyncio.wait_for(step, timeout=seconds)
    except TimeoutError:
        log.warning("shutdown step did not finish in time; going on", extra={"step": name, "seconds": seconds})
    except Exception as error:  # closing anyway: what is left is in the database or the outbox
        log.warning("shutdown step failed; going on", extra={"step": name, "error": str(error)})


async def serve(settings: ServiceSettings, layout: ServiceLayout, extensions: Sequence[ExtensionFactory] = ()) -> None:
    if settings.migrate_on_start:
        await asyncio.to_thread(upgrade, layout.migrations, settings.resolved_database_url)
    service = OfficeService(settings, layout, extensions)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await service.start()
    except Exception:  # a port taken, say: what had started stops in order, then the process exits
        log.exception("cannot start")
        await service.stop()
        raise SystemExit(1) from None
    heap.settle()
    await stop.wait()
    log.info("stopping")
    await service.stop()
    # Whatever is still running (a call's task stuck in a driver) gets a last chance, then the
    # process exits regardless: everything that matters is committed or waits in the outbox.
    leftovers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in leftovers:
        task.cancel()
    _, pending = await asyncio.wait(leftovers, timeout=STEP_SECONDS) if leftovers else (set(), set())
    if pending:
        log.warning("tasks did not stop; exiting anyway", extra={"tasks": len(pending)})
        logging.shutdown()
        os._exit(0)


async def replay_parked(settings: ServiceSettings, layout: ServiceLayout, extensions: Sequence[ExtensionFactory]) -> None:
    """Run what the service's consumers parked through them again and say what became of it."""
    service = OfficeService(settings, layout, extensions)
    service.bus.start()
    try:
        await asyncio.wait_for(service.bus.stream_ready.wait(), timeout=30)
        assert service.bus.client is not None
        for consumer in service.consumers:
            counts = await consumer.replay_parked(service.bus.client)
            print(
                f"{consumer.durable}: {counts.handled} applied, {counts.duplicates} applied before, "
                f"{counts.parked} still failing" + "".join(f"\n  {reason}" for reason in counts.reasons),
                flush=True,
            )
    finally:
        await service.bus.close()
        await service.database.close()


def run(name: str, package: str, extensions: Sequence[ExtensionFactory] = ()) -> None:
    """The entry point of the service ``name`` whose code and data are the package ``package``.

    ``python -m ostan_<name>`` serves; ``python -m ostan_<name> migrate`` only migrates;
    ``python -m ostan_<name> replay-parked`` runs what its consumers parked through them again.
    """
    settings = load_settings(name)
    configure_logging(name, settings.log_level)
    layout = ServiceLayout.of_package(package)
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command == "migrate":
        upgrade(layout.migrations, settings.resolved_database_url)
    elif command == "serve" and settings.workers == 1:
        configure_tracing(name, settings.traces_dir)
        asyncio.run(serve(settings, layout, extensions))
    elif command == "serve":
        # Once, before the workers start; each worker then has its own tracing, loop, server.
        if settings.migrate_on_start:
            upgrade(layout.migrations, settings.resolved_database_url)
        raise SystemExit(run_workers(settings.workers, SERVICES[name].package, SERVICES[name].env_prefix, settings))
    elif command == "replay-parked":
        configure_tracing(name, settings.traces_dir)
        asyncio.run(replay_parked(settings, layout, extensions))
    else:
        raise SystemExit(f"usage: python -m {SERVICES[name].package} [serve|migrate|replay-parked]")
