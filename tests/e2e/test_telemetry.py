"""Ops can follow a request: the platform, configured only by the standard OTEL_* variables,
exports one trace per request over OTLP/HTTP to a receiver this test runs (decoded with
opentelemetry-proto); every process serves Prometheus metrics that move after a case; the local
trace files print as a waterfall; supervisors read case and SLA figures per office."""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from prometheus_client.parser import text_string_to_metric_families

from ostan_devstack.stack import GATEWAY, Stack
from ostan_kit.runtime.registry import SERVICES
from tests.e2e.conftest import STREAM, SUBJECT, bearer, running_stack, start_case, stream_messages, wait_for

pytestmark = pytest.mark.e2e

SERVER, CLIENT, PRODUCER = Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT, Span.SPAN_KIND_PRODUCER
GENERIC_FORM = {"full_name": "تله متری", "national_code": "0084575948", "mobile": "09121234567", "subject": "گواهی"}
SUPERVISOR = bearer(subject="supervisor-1", roles=["supervisor"], office="foreign-nationals")
INSPECTOR = bearer(subject="inspector-1", roles=["supervisor"], office="performance-inspection-legal-pr")


class ReceivedSpan:
    def __init__(self, process: str, span: Span) -> None:
        self.process = process
        self.span = span
        self.trace_id = span.trace_id.hex()
        self.span_id = span.span_id.hex()
        self.parent_id = span.parent_span_id.hex()
        self.attributes = {a.key: a.value.string_value or a.value.int_value for a in span.attributes}

    def __repr__(self) -> str:
        return f"<{self.process} {self.span.name} kind={self.span.kind}>"


class OtlpReceiver:
    """An OTLP/HTTP trace receiver: POST /v1/traces with protobuf bodies."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 — http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_error(404)
                    return
                request = ExportTraceServiceRequest.FromString(body)
                received = []
                for resource_spans in request.resource_spans:
                    names = [a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"]
                    for scope_spans in resource_spans.scope_spans:
                        received.extend(ReceivedSpan(names[0] if names else "?", s) for s in scope_spans.spans)
                with receiver.lock:
                    receiver.spans.extend(received)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self.lock:
            return [span for span in self.spans if span.trace_id == trace_id]

    def find(self, **wanted: object) -> list[ReceivedSpan]:
        with self.lock:
            spans = list(self.spans)
        return [s for s in spans if all(getattr(s.span, k, None) == v or getattr(s, k, None) == v for k, v in wanted.items())]


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    receiving = OtlpReceiver()
    receiving.thread.start()
    yield receiving
    receiving.server.shutdown()


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory, receiver: OtlpReceiver) -> Iterator[Stack]:
    """The platform configured only by the standard variables, exporting to ``receiver``."""
    environment = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=e2e",
    }
    with running_stack(tmp_path_factory, environment) as stack:
        yield stack


@pytest.fixture
def clerk(traced: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=traced.config.gateway_url, timeout=30, headers=bearer()) as client:
        yield client


def _child_of(spans: list[ReceivedSpan], parent: ReceivedSpan, **wanted: object) -> list[ReceivedSpan]:
    return [
        s for s in spans
        if s.parent_id == parent.span_id and all(getattr(s.span, k) == v or getattr(s, k, None) == v for k, v in wanted.items())
    ]


def test_starting_a_case_is_one_trace_across_http_grpc_sql_and_nats(traced: Stack, receiver: OtlpReceiver, clerk):
    answer = start_case(clerk, "telemetry-one-trace")
    assert answer.status_code == 201, answer.text
    code = answer.json()["code"]

    def complete() -> list[ReceivedSpan] | None:
        roots = receiver.find(name="POST /v1/cases", kind=SERVER, process="gateway")
        if not roots:
            return None
        spans = receiver.trace(roots[0].trace_id)
        return spans if any(s.span.kind == PRODUCER for s in spans) else None

    spans = wait_for(complete, timeout=30)
    root = next(s for s in spans if s.span.name == "POST /v1/cases" and s.span.kind == SERVER)
    assert root.process == "gateway" and not root.parent_id
    assert {s.process for s in spans} == {"gateway", "foreign-nationals"}, spans

    grpc_client = [s for s in spans if s.span.kind == CLIENT and s.attributes.get("rpc.method") == "StartCase"]
    assert len(grpc_client) == 1 and grpc_client[0].process == "gateway"
    grpc_server = _child_of(spans, grpc_client[0], kind=SERVER)
    assert len(grpc_server) == 1 and grpc_server[0].process == "foreign-nationals"
    assert grpc_server[0].span.name == "/ostan.common.v1.CaseService/StartCase"

    statements = [s for s in spans if s.attributes.get("db.statement") or s.attributes.get("db.query.text")]
    texts = " ".join(str(s.attributes.get("db.statement") or s.attributes.get("db.query.text")) for s in statements)
    assert "INSERT INTO cases" in texts and "INSERT INTO outbox" in texts, texts
    assert all(s.process == "foreign-nationals" for s in statements)
    below_server = {grpc_server[0].span_id}
    for span in sorted(spans, key=lambda s: s.span.start_time_unix_nano):
        if span.parent_id in below_server:
            below_server.add(span.span_id)
    assert any(s.span_id in below_server for s in statements), "the transaction's statements are in the RPC's span"

    publish = next(s for s in spans if s.span.kind == PRODUCER)
    assert publish.span.name == f"publish {SUBJECT}"
    assert publish.attributes["messaging.system"] == "nats"
    assert publish.attributes["messaging.destination.name"] == SUBJECT
    linked = {link.span_id.hex() for link in publish.span.links}
    assert publish.parent_id in below_server and publish.parent_id in linked, "publish continues the transaction"

    # The event on the bus carries the publish span's context to its consumers.
    messages = [m for m in stream_messages(traced, STREAM) if m.headers.get("ce-subject") == code]
    assert messages[0].headers["traceparent"].startswith(f"00-{publish.trace_id}-{publish.span_id}-")
    assert all(s.span.status.code != 2 for s in spans), [s for s in spans if s.span.status.code == 2]


def test_probes_and_a_process_polling_its_own_database_start_no_traces(traced: Stack, receiver: OtlpReceiver):
    time.sleep(1.5)  # several health probes, relay and timer polls and batch exports later
    with receiver.lock:
        roots = [s for s in receiver.spans if not s.parent_id and s.process != "gateway"]
    assert not [s for s in roots if "db.system" in s.attributes], roots
    with receiver.lock:
        probes = [s for s in receiver.spans if s.span.name in ("GET /readyz", "GET /healthz")]
    assert not probes, "the stack waited on /readyz: probes are not traced"


def test_the_catalogue_fan_out_joins_the_request_trace(traced: Stack, receiver: OtlpReceiver, clerk):
    time.sleep(0.4)  # past the aggregate's TTL: this request asks every service
    assert clerk.get("/v1/catalogue", params={"limit": 5}).status_code == 200

    def fan_out() -> list[ReceivedSpan] | None:
        for root in receiver.find(name="GET /v1/catalogue", kind=SERVER):
            spans = receiver.trace(root.trace_id)
            servers = {s.process for s in spans if s.span.kind == SERVER and "ListEntries" in s.span.name}
            if servers == set(SERVICES):
                return spans
        return None

    spans = wait_for(fan_out, timeout=30)
    clients = [s for s in spans if s.span.kind == CLIENT and s.attributes.get("rpc.method") == "ListEntries"]
    assert len(clients) >= len(SERVICES)


def test_a_problem_names_its_trace(traced: Stack, receiver: OtlpReceiver, clerk):
    answer = start_case(clerk, "telemetry-problem", data={"full_name": ""})
    assert answer.status_code == 422
    trace_id = answer.json()["trace_id"]
    assert len(trace_id) == 32
    served = wait_for(lambda: [s for s in receiver.trace(trace_id) if s.process == "gateway" and s.span.kind == SERVER])
    assert served[0].span.name == "POST /v1/cases" and served[0].attributes["http.response.status_code"] == 422


def test_the_local_trace_files_print_a_waterfall(traced: Stack, receiver: OtlpReceiver, clerk):
    trace_id = "5f1e2d3c4b5a69788796a5b4c3d2e1f0"
    answer = start_case(clerk, "telemetry-waterfall", traceparent=f"00-{trace_id}-00f067aa0ba902b7-01")
    assert answer.status_code == 201
    command = [sys.executable, "-m", "ostan_kit.runtime.traces", "show", trace_id, "--dir", str(traced.config.traces_dir)]

    # Each process writes its own file when its batch is due: the service's spans may be there
    # before the gateway's, so the waterfall is read until every part has come.
    expected = ("POST /v1/cases", "gateway", "foreign-nationals", "/ostan.common.v1.CaseService/StartCase", "publish")
    printed = ""

    def shown() -> bool:
        nonlocal printed
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        printed = result.stdout if result.returncode == 0 else result.stderr
        return all(part in printed for part in expected)

    try:
        wait_for(shown, timeout=30)
    except AssertionError:
        raise AssertionError(f"the waterfall lacks some of {expected}:\n{printed}") from None


def _families(url: str) -> dict[str, dict[tuple, float]]:
    text = httpx.get(url, timeout=10).text
    families: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        samples = families.setdefault(family.name, {})
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return families


def _total(families: dict[str, dict[tuple, float]], family: str, sample: str, **labels: str) -> float:
    return sum(
        value
        for (name, pairs), value in families.get(family, {}).items()
        if name == sample and all(dict(pairs).get(k) == v for k, v in labels.items())
    )


SERVICE_FAMILIES = {
    "ostan_rpc_server_requests", "ostan_rpc_server_errors", "ostan_rpc_server_duration_seconds",
    "ostan_cases_started", "ostan_case_transitions", "ostan_cases_open", "ostan_sla_warnings", "ostan_sla_breaches",
    "ostan_outbox_published", "ostan_outbox_pending", "ostan_outbox_lag_seconds", "ostan_outbox_relay_errors",
    "ostan_timer_lag_seconds", "ostan_db_pool_connections_in_use", "ostan_nats_reconnects",
}
GATEWAY_FAMILIES = {"ostan_http_server_requests", "ostan_http_server_errors", "ostan_http_server_duration_seconds"}


def test_every_process_serves_metrics_that_move_after_a_case(traced: Stack, clerk):
    for name in SERVICES:
        families = _families(traced.config.metrics_url(name))
        assert SERVICE_FAMILIES <= families.keys(), (name, SERVICE_FAMILIES - families.keys())
    assert GATEWAY_FAMILIES <= _families(traced.config.metrics_url(GATEWAY)).keys()

    service_url, gateway_url = traced.config.metrics_url("foreign-nationals"), traced.config.metrics_url(GATEWAY)
    before, gateway_before = _families(service_url), _families(gateway_url)
    # A catalogue entry run by the generic request: start, then start-review by a clerk.
    answer = clerk.post(
        "/v1/cases",
        json={"process": "foreign-nationals-32", "data": GENERIC_FORM},
        headers={"Idempotency-Key": "telemetry-metrics"},
    )
    assert answer.status_code == 201, answer.text
    case = answer.json()
    process = case["process"]
    acted = clerk.post(
        f"/v1/cases/{case['code']}/actions/start-review",
        json={"version": case["version"]},
        headers={"Idempotency-Key": "telemetry-metrics-review"},
    )
    assert acted.status_code == 200, acted.text

    def moved() -> dict | None:
        after = _families(service_url)
        published = _total(after, "ostan_outbox_published", "ostan_outbox_published_total")
        return after if published >= _total(before, "ostan_outbox_published", "ostan_outbox_published_total") + 2 else None

    after = wait_for(moved, timeout=30)
    started = ("ostan_cases_started", "ostan_cases_started_total")
    assert _total(after, *started, process=process) == _total(before, *started, process=process) + 1
    transitions = ("ostan_case_transitions", "ostan_case_transitions_total")
    assert _total(after, *transitions, process=process, action="start-review") >= 1 + _total(
        before, *transitions, process=process, action="start-review"
    )
    calls = ("ostan_rpc_server_requests", "ostan_rpc_server_requests_total")
    assert _total(after, *calls, rpc_method="CaseService/StartCase", grpc_code="OK") >= 1 + _total(
        before, *calls, rpc_method="CaseService/StartCase", grpc_code="OK"
    )
    assert _total(after, "ostan_cases_open", "ostan_cases_open", process=process, state=acted.json()["state"]) >= 1
    assert _total(after, "ostan_outbox_lag_seconds", "ostan_outbox_lag_seconds") >= 0
    gateway_after = _families(gateway_url)
    requests = ("ostan_http_server_requests", "ostan_http_server_requests_total")
    assert _total(gateway_after, *requests, route="/v1/cases", method="POST", status="201") >= 1 + _total(
        gateway_before, *requests, route="/v1/cases", method="POST", status="201"
    )
    assert _total(gateway_after, *requests, route="/v1/cases/{code}/actions/{action}", status="200") >= 1


def test_supervisors_read_case_figures_per_office(traced: Stack, clerk):
    answer = start_case(clerk, "telemetry-stats")
    assert answer.status_code == 201
    with httpx.Client(base_url=traced.config.gateway_url, timeout=30) as client:
        assert client.get("/v1/stats/cases", headers=bearer()).status_code == 403  # a clerk
        own = client.get("/v1/stats/cases", headers=SUPERVISOR)
        assert own.status_code == 200, own.text
        body = own.json()
        assert body["missing_services"] == []
        assert [office["office"] for office in body["offices"]] == ["foreign-nationals"]
        figures = {p["process"]: p for p in body["offices"][0]["processes"]}["residence-document-extension"]
        assert figures["started"] >= 1 and sum(figures["open_by_state"].values()) >= 1
        assert 0 <= figures["sla"]["compliance"] <= 1
        assert body["from"]["jalali"].endswith("/01/01")

        bad = client.get("/v1/stats/cases", params={"from": "۱۴۰۵/۱۳/۰۱"}, headers=SUPERVISOR)
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        empty = client.get("/v1/stats/cases", params={"from": "۱۳۹۰/۰۱/۰۱", "to": "1390/12/29"}, headers=SUPERVISOR)
        assert empty.status_code == 200 and empty.json()["offices"] == []

        traced.stop_process("economic")
        ranking = client.get("/v1/stats/cases", headers=INSPECTOR)
        assert ranking.status_code == 200, ranking.text
        assert ranking.json()["missing_services"] == ["economic"]
        assert "foreign-nationals" in [office["office"] for office in ranking.json()["offices"]]
