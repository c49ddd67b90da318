"""Spans of the bus by the OpenTelemetry messaging semantic conventions.

An event is created in a transaction (its outbox row keeps that transaction's ``traceparent``);
the relay publishes it later in a ``publish <subject>`` PRODUCER span that continues and links to
that context, and the message carries the publish span's ``traceparent`` on. A consumer wraps its
work in ``consume_span``: a ``process <subject>`` CONSUMER span that continues and links to the
message's context, so what it does joins the trace of the request that caused the event.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.trace import Link, Span, SpanKind

SYSTEM = "nats"
_tracer = trace.get_tracer("ostan.messaging")


def _creation(headers: Mapping[str, str]) -> tuple[object, list[Link]]:
    context = propagate.extract(dict(headers))
    created = trace.get_current_span(context).get_span_context()
    return context, [Link(created)] if created.is_valid else []


@contextmanager
def publish_span(subject: str, headers: Mapping[str, str], *, message_id: str, size: int) -> Iterator[dict[str, str]]:
    """A PRODUCER span around one publish; yields the headers to send, their ``traceparent``
    (and ``tracestate``) now the publish span's."""
    context, links = _creation(headers)
    with _tracer.start_as_current_span(
        f"publish {subject}",
        context=context,
        kind=SpanKind.PRODUCER,
        links=links,
        attributes={
            "messaging.system": SYSTEM,
            "messaging.operation.name": "publish",
            "messaging.operation.type": "send",
            "messaging.destination.name": subject,
            "messaging.message.id": message_id,
            "messaging.message.body.size": size,
        },
    ):
        sent = {key: value for key, value in headers.items() if key not in ("traceparent", "tracestate")}
        propagate.inject(sent)
        yield sent


@contextmanager
def consume_span(
    subject: str, headers: Mapping[str, str], *, message_id: str = "", consumer: str = "", size: int | None = None
) -> Iterator[Span]:
    """A CONSUMER span around the processing of one message, continuing its trace."""
    context, links = _creation(headers)
    attributes: dict[str, str | int] = {
        "messaging.system": SYSTEM,
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": subject,
    }
    if message_id:
        attributes["messaging.message.id"] = message_id
    if consumer:
        attributes["messaging.consumer.group.name"] = consumer
    if size is not None:
        attributes["messaging.message.body.size"] = size
    with _tracer.start_as_current_span(
        f"process {subject}", context=context, kind=SpanKind.CONSUMER, links=links, attributes=attributes
    ) as span:
        yield span
