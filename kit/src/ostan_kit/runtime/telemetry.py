"""Tracing: a W3C trace context follows a request from the gateway through gRPC, SQL and the
events a service publishes.

The SDK is configured by the standard ``OTEL_*`` variables only: ``OTEL_EXPORTER_OTLP_ENDPOINT``
(or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) turns the OTLP exporter on, with
``OTEL_EXPORTER_OTLP_PROTOCOL`` ``http/protobuf`` (the default) or ``grpc``;
``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` name the process, ``OTEL_TRACES_SAMPLER``
and ``OTEL_TRACES_SAMPLER_ARG`` sample, ``OTEL_BSP_*`` tune the batch span processor, and
``OTEL_TRACES_EXPORTER=none`` keeps spans in the process. A local run also writes its spans to a
folder as OTLP JSON lines (``python -m ostan_kit.runtime.traces`` shows them). With
``OTEL_SDK_DISABLED=true`` nothing is traced and no instrumentation is installed at all.

The spans come from the OpenTelemetry project's instrumentations (gRPC client and server,
SQLAlchemy, httpx) and from FastAPI's native telemetry (the gateway's server spans); the messaging
spans of the bus are in ``ostan_kit.messaging.tracing``.
"""

from __future__ import annotations

import logging
import os
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

log = logging.getLogger(__name__)

NAMESPACE = "ostan"


def disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def _otlp_wanted() -> bool:
    exporters = {name.strip() for name in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()}
    if "none" in exporters:
        return False
    if "otlp" in exporters:
        return True
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def otlp_exporter() -> SpanExporter:
    """The OTLP span exporter of the configured protocol; it reads its endpoint, headers,
    compression and timeout from the ``OTEL_EXPORTER_OTLP_*`` variables itself."""
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()
    if protocol != "http/protobuf":
        raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL {protocol!r}: use grpc or http/protobuf")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter()


def resource(service: str) -> Resource:
    """``service.name`` is the service unless ``OTEL_SERVICE_NAME`` or ``OTEL_RESOURCE_ATTRIBUTES``
    name it otherwise."""
    detected = OTELResourceDetector().detect().attributes
    defaults: dict[str, Any] = {"service.namespace": NAMESPACE}
    if "service.name" not in detected:
        defaults["service.name"] = service
    return Resource.create({**defaults, **detected})


def configure_tracing(service: str, traces_dir: Path | None = None) -> trace.Tracer:
    """Install the process's tracer provider once: OTLP when configured, the local trace files
    when ``traces_dir`` is given."""
    if disabled():
        return trace.get_tracer(f"ostan.{service}")
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        # The sampler comes from OTEL_TRACES_SAMPLER (parent-based, always on by default).
        provider = TracerProvider(resource=resource(service))
        if _otlp_wanted():
            provider.add_span_processor(BatchSpanProcessor(otlp_exporter()))
        if traces_dir is not None:
            from ostan_kit.runtime.traces import JsonLinesSpanExporter

            provider.add_span_processor(BatchSpanProcessor(JsonLinesSpanExporter(traces_dir, service)))
        trace.set_tracer_provider(provider)
        _instrument_httpx()
    return trace.get_tracer(f"ostan.{service}")


def shutdown() -> None:
    """Export what is still buffered (a stopping process calls this last)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


# -- the instrumentations -------------------------------------------------------------------


def _instrument_httpx() -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    instrumentor = HTTPXClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


def grpc_server_interceptors() -> list[Any]:
    """Interceptors for ``grpc.aio.server``: a server span per call, continuing the caller's trace."""
    if disabled():
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters

    return [aio_server_interceptor(filter_=filters.negate(filters.health_check()))]


def grpc_client_interceptors() -> list[Any]:
    """Interceptors for a ``grpc.aio`` channel: a client span per call, its context in the metadata."""
    if disabled():
        return []
    from opentelemetry.instrumentation.grpc import aio_client_interceptors, filters

    return list(aio_client_interceptors(filter_=filters.negate(filters.health_check())))


def instrument_database(engine: Any) -> None:
    """A span per SQL statement of ``engine`` (an AsyncEngine): the process's one database (the
    instrumentor instruments once per process)."""
    if disabled():
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # The instrumentation declares SQLAlchemy < 2.1; it hooks the engine events 2.1 still has.
    SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine, enable_commenter=False, skip_dep_check=True)


def untraced() -> AbstractContextManager[None]:
    """No instrumentation spans within: for a process's own polling (health probes, the relay's
    and the timers' queries, metric reads), which would otherwise start a trace every second."""
    if disabled():
        return nullcontext()
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    return suppress_instrumentation()


def current_ids() -> tuple[str, str]:
    """The current trace and span id in hex, or empty strings outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return "", ""
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
