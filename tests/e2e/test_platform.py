"""The platform end to end: the gateway in front, real services, a real bus and real databases."""

from __future__ import annotations

import json
import re

import pytest

from ostan_kit.messaging import cloudevents
from ostan_kit.runtime.registry import SERVICES
from ostan_kit.text.tracking import make_code
from tests.e2e.conftest import (
    RESIDENCE_FORM,
    STREAM,
    SUBJECT,
    all_pages,
    count_rows,
    start_case,
    stream_messages,
    wait_for,
)

pytestmark = pytest.mark.e2e

PROBLEM = "application/problem+json"
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$")


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["services"] == {name: "SERVING" for name in SERVICES}


def test_openapi_and_docs(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/catalogue", "/v1/cases", "/v1/cases/{code}", "/readyz"} <= set(paths)


def test_the_catalogue_comes_from_all_seven_services(client):
    answer = client.get("/v1/catalogue")
    assert answer.status_code == 200
    body = answer.json()
    assert body["missing_services"] == []
    items = all_pages(client, "/v1/catalogue", limit=200)
    assert len(items) == body["count"]
    assert {item["hosting_service"] for item in items} == set(SERVICES)
    slugs = [item["slug"] for item in items]
    assert len(slugs) == len(set(slugs))
    assert client.get("/v1/catalogue", headers={"If-None-Match": answer.headers["ETag"]}).status_code == 304


def test_a_case_is_stored_and_its_cloudevent_reaches_jetstream(stack, client):
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    answer = start_case(client, "e2e-first", traceparent=f"00-{trace_id}-00f067aa0ba902b7-01")
    assert answer.status_code == 201, answer.text
    case = answer.json()
    assert answer.headers["Location"] == f"/v1/cases/{case['code']}"
    assert case["state"] == "submitted"
    assert case["data"]["full_name"] == "محمد رضایی"  # stored normalised
    assert case["data"]["mobile"] == "09121234567"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}", case["created_at"]["jalali"])

    persian_code = case["code"].translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    read_back = client.get(f"/v1/cases/{persian_code}")
    assert read_back.status_code == 200
    assert read_back.json() == case

    def published():
        return [m for m in stream_messages(stack, STREAM) if m.headers.get("ce-subject") == case["code"]]

    [message] = wait_for(published)
    headers = message.headers
    assert message.subject == SUBJECT
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-id"] == headers["Nats-Msg-Id"]
    assert headers["ce-source"] == "/ostan/services/foreign-nationals"
    assert headers["ce-type"] == SUBJECT
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", headers["ce-time"])
    assert headers["content-type"] == "application/json"
    assert headers["ce-dataschema"] == "ostan.common.v1.CaseEvent"
    match = TRACEPARENT.match(headers["traceparent"])
    assert match and match.group(1) == trace_id, "the event continues the caller's trace"
    data = json.loads(message.data)
    assert data["case_code"] == case["code"]
    assert data["to_state"] == "submitted" and data["event"] == "submitted"
    assert data["data"]["nationality"] == "AFG"
    assert cloudevents.attributes(headers)["subject"] == case["code"]


def test_a_replayed_key_returns_the_first_case_and_publishes_nothing_more(stack, client):
    first = start_case(client, "e2e-replay")
    assert first.status_code == 201
    code = first.json()["code"]
    again = start_case(client, "e2e-replay")
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    wait_for(lambda: count_rows(stack, "foreign-nationals", "outbox", "WHERE published_at IS NULL") == 0)
    events = [m for m in stream_messages(stack, STREAM) if m.headers["ce-subject"] == code]
    assert len(events) == 1
    reused = start_case(client, "e2e-replay", {**RESIDENCE_FORM, "mobile": "09350000000"})
    assert reused.status_code == 422
    assert reused.json()["errors"][0]["field"] == "idempotency_key"


def case_request(drop: str = "", **changes: object) -> dict:
    """A start-case body with ``changes`` (``form`` changes the form's fields) and ``drop`` removed."""
    form = {**RESIDENCE_FORM, **changes.pop("form", {})}  # type: ignore[dict-item]
    body = {"service": "foreign-nationals", "process": "residence-document-extension", "data": form, **changes}
    if drop.startswith("data."):
        del form[drop[5:]]
    elif drop:
        del body[drop]
    return body


BAD_REQUESTS = [
    pytest.param(b"{not json", "body", id="malformed-json"),
    pytest.param(case_request(drop="process"), "process", id="missing-process"),
    pytest.param(case_request(service="mars"), "service", id="unknown-service"),
    pytest.param(case_request(x=1), "x", id="unknown-field"),
    pytest.param(case_request(process="no-such-process"), "process", id="unknown-process"),
    pytest.param(case_request(drop="data.mobile"), "data.mobile", id="missing-form-field"),
    pytest.param(
        case_request(form={"document_expires_on": "1405/13/40"}), "data.document_expires_on", id="bad-date"
    ),
    pytest.param(case_request(form={"document_type": "VISA"}), "data", id="wrong-enum"),
]


@pytest.mark.parametrize(("body", "field"), BAD_REQUESTS)
def test_bad_input_is_a_422_problem_naming_the_field_and_stores_nothing(stack, client, body, field):
    before = count_rows(stack, "foreign-nationals", "cases"), count_rows(stack, "foreign-nationals", "outbox")
    if isinstance(body, bytes):
        answer = client.post(
            "/v1/cases", content=body, headers={"Idempotency-Key": "bad", "Content-Type": "application/json"}
        )
    else:
        answer = client.post("/v1/cases", json=body, headers={"Idempotency-Key": "bad"})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["status"] == 422 and problem["title"] and problem["type"].startswith("/problems/")
    assert field in {error["field"] for error in problem["errors"]}, problem
    after = count_rows(stack, "foreign-nationals", "cases"), count_rows(stack, "foreign-nationals", "outbox")
    assert after == before


def test_a_missing_idempotency_key_is_a_400_problem(client):
    answer = client.post("/v1/cases", json=case_request())
    assert answer.status_code == 400
    assert answer.headers["content-type"] == PROBLEM
    assert "Idempotency-Key" in answer.json()["detail"]


UNKNOWN = make_code("FN", 1405, 999_999)
MISTYPED = UNKNOWN[:-1] + str((int(UNKNOWN[-1]) + 1) % 10)


@pytest.mark.parametrize(
    ("code", "status"),
    [("not-a-code", 422), (MISTYPED, 422), (UNKNOWN, 404), (make_code("ZZ", 1405, 1), 404)],
)
def test_unknown_or_malformed_codes(client, code, status):
    answer = client.get(f"/v1/cases/{code}")
    assert answer.status_code == status
    assert answer.headers["content-type"] == PROBLEM


def test_an_unknown_path_is_a_404_problem(client):
    answer = client.get("/v1/nothing-here")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM
