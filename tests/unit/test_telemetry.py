"""The telemetry chassis without servers: the SDK's exporter choice, messaging spans by the
semantic conventions, trace ids in log lines, the local trace files and their waterfall,
counters that move only on commit, and who may read case figures."""

from __future__ import annotations

import io
import json
import logging

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from ostan_kit.cases.figures import RANKING_OFFICE, _percentile, visible_offices
from ostan_kit.messaging.tracing import consume_span, publish_span
from ostan_kit.persistence.db import Database
from ostan_kit.runtime import metrics, telemetry
from ostan_kit.runtime.errors import PermissionDenied
from ostan_kit.runtime.logs import TraceIds
from ostan_kit.runtime.traces import JsonLinesSpanExporter, main, read_spans, waterfall
from ostan_kit.security.actors import Actor


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    """The process's SDK tracer provider (set once per process), recording into memory."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(resource=telemetry.resource("unit"))
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def test_the_otlp_protocol_comes_from_the_standard_variables(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
    assert isinstance(telemetry.otlp_exporter(), HttpExporter)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    assert isinstance(telemetry.otlp_exporter(), GrpcExporter)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")
    with pytest.raises(ValueError, match="grpc or http/protobuf"):
        telemetry.otlp_exporter()


def test_the_service_name_is_the_services_unless_otel_names_another(monkeypatch):
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
    attributes = telemetry.resource("urban").attributes
    assert attributes["service.name"] == "urban" and attributes["deployment.environment.name"] == "test"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "urban-canary")
    assert telemetry.resource("urban").attributes["service.name"] == "urban-canary"


def test_publish_continues_the_transaction_and_the_consumer_continues_the_publish(spans):
    spans.clear()
    tracer = trace.get_tracer("unit")
    with tracer.start_as_current_span("transaction") as transaction:
        headers: dict[str, str] = {"ce-id": "e-1"}
        from opentelemetry import propagate

        propagate.inject(headers)
    with publish_span("ostan.urban.x.submitted", headers, message_id="e-1", size=10) as sent:
        assert sent["ce-id"] == "e-1" and sent["traceparent"] != headers["traceparent"]
    with consume_span("ostan.urban.x.submitted", sent, message_id="e-1", consumer="audit"):
        pass
    finished = {span.name: span for span in spans.get_finished_spans()}
    publish, process = finished["publish ostan.urban.x.submitted"], finished["process ostan.urban.x.submitted"]
    assert publish.kind == trace.SpanKind.PRODUCER and process.kind == trace.SpanKind.CONSUMER
    assert publish.parent.span_id == transaction.get_span_context().span_id
    assert publish.links[0].context.span_id == transaction.get_span_context().span_id
    assert process.parent.span_id == publish.context.span_id
    assert process.context.trace_id == transaction.get_span_context().trace_id
    assert publish.attributes["messaging.system"] == "nats"
    assert publish.attributes["messaging.operation.type"] == "send"
    assert process.attributes["messaging.consumer.group.name"] == "audit"


def test_log_lines_within_a_span_carry_its_ids(spans):
    record = logging.LogRecord("unit", logging.INFO, __file__, 1, "hello", (), None)
    TraceIds().filter(record)
    assert not hasattr(record, "trace_id")
    with trace.get_tracer("unit").start_as_current_span("request") as span:
        TraceIds().filter(record)
    assert record.trace_id == format(span.get_span_context().trace_id, "032x")
    assert record.span_id == format(span.get_span_context().span_id, "016x")


def test_the_local_trace_files_are_otlp_json_and_print_as_a_waterfall(spans, tmp_path, capsys):
    spans.clear()
    tracer = trace.get_tracer("unit")
    with tracer.start_as_current_span("POST /v1/cases", kind=trace.SpanKind.SERVER) as root:
        with tracer.start_as_current_span("INSERT cases"):
            pass
    exporter = JsonLinesSpanExporter(tmp_path, "gateway")
    exporter.export(spans.get_finished_spans())
    line = json.loads((tmp_path / "gateway.jsonl").read_text().splitlines()[0])
    trace_id = format(root.get_span_context().trace_id, "032x")
    assert line["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] == trace_id  # hex, as OTLP JSON
    read = [span for span in read_spans(tmp_path) if span.trace_id == trace_id]
    assert {span.name for span in read} == {"POST /v1/cases", "INSERT cases"}
    lines = waterfall(read).splitlines()
    assert "POST /v1/cases [server]" in lines[1] and "  INSERT cases" in lines[2]
    assert main(["show", trace_id, "--dir", str(tmp_path)]) == 0
    assert "2 spans" in capsys.readouterr().out
    assert main(["show", "0" * 32, "--dir", str(tmp_path)]) == 1


async def test_counters_of_a_transaction_move_only_when_it_commits(tmp_path):
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'count.db'}")
    counter = metrics.CASES_STARTED.labels("unit-counting")
    before = counter._value.get()
    try:
        with pytest.raises(RuntimeError):
            async with database.transaction() as session:
                await session.execute(text("SELECT 1"))
                metrics.after_commit(session, counter.inc)
                raise RuntimeError("rolled back")
        assert counter._value.get() == before
        async with database.transaction() as session:
            await session.execute(text("SELECT 1"))
            metrics.after_commit(session, counter.inc)
            metrics.after_commit(session, counter.inc)
            assert counter._value.get() == before
        assert counter._value.get() == before + 2
    finally:
        await database.close()


def _staff(office: str, *roles: str) -> Actor:
    return Actor("s-1", "staff", "", frozenset(roles), office=office)


def test_case_figures_are_for_supervisors_of_the_office_or_the_ranking_office():
    offices = ["foreign-nationals", "women-family"]
    assert visible_offices(_staff("foreign-nationals", "supervisor"), offices, "") == ["foreign-nationals"]
    assert visible_offices(_staff("urban-councils", "supervisor"), offices, "") == []
    assert visible_offices(_staff(RANKING_OFFICE, "supervisor"), offices, "") == offices
    assert visible_offices(_staff(RANKING_OFFICE, "supervisor"), offices, "women-family") == ["women-family"]
    with pytest.raises(PermissionDenied):
        visible_offices(_staff("foreign-nationals", "clerk"), offices, "")
    with pytest.raises(PermissionDenied):
        visible_offices(_staff("foreign-nationals", "supervisor"), offices, "women-family")
    with pytest.raises(PermissionDenied):
        visible_offices(Actor("0084575948", "citizen", "", frozenset()), offices, "")


def test_the_90th_percentile_is_by_nearest_rank():
    assert _percentile([], 0.9) == 0.0
    assert _percentile([5.0], 0.9) == 5.0
    assert _percentile([float(n) for n in range(1, 11)], 0.9) == 9.0
    assert _percentile([float(n) for n in range(1, 12)], 0.9) == 10.0


def test_json_log_lines_name_the_trace(spans):
    from pythonjsonlogger.json import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("%(message)s"))
    handler.addFilter(TraceIds())
    logger = logging.getLogger("unit.telemetry")
    logger.addHandler(handler)
    try:
        with trace.get_tracer("unit").start_as_current_span("consume") as span:
            logger.warning("inside")
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
