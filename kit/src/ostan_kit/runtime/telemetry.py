"""Tracing: a W3C trace context follows a request from the gateway through gRPC into the events
a service publishes. Spans are exported only where an exporter is configured; with the standard
``OTEL_SDK_DISABLED=true`` nothing is traced at all (and the gateway's FastAPI adds no spans)."""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider


def configure_tracing(service: str) -> trace.Tracer:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return trace.get_tracer(f"ostan.{service}")
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider(resource=Resource.create({"service.name": service})))
    return trace.get_tracer(f"ostan.{service}")
