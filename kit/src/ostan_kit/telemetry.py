"""Tracing: a W3C trace context follows a request from the gateway through gRPC into the events
a service publishes. Spans are exported only where an exporter is configured."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider


def configure_tracing(service: str) -> trace.Tracer:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider(resource=Resource.create({"service.name": service})))
    return trace.get_tracer(f"ostan.{service}")
