"""Cases through the gateway: who may do what, every refusal a clear problem, every transition a
CloudEvent on JetStream."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.conftest import STREAM, bearer, count_rows, start_case, stream_messages, wait_for

pytestmark = pytest.mark.e2e
PROBLEM = "application/problem+json"
HEAD = bearer(subject="head-1", name="رئیس دفتر", roles=["head-of-office"])
CITIZEN = bearer("citizen")
OTHER_CITIZEN = bearer("citizen", subject="0067749828", name="دیگری")
SOCIAL_CLERK = bearer(subject="clerk-9", office="social-cultural")
PDF = b"%PDF-1.4 residence document"
JPEG = b"\xff\xd8\xff\xe0 photo"


def attach(client: httpx.Client, code: str, kind: str, name: str, content: bytes, media: str, key: str, **headers):
    return client.post(
        f"/v1/cases/{code}/documents",
        data={"kind": kind},
        files={"file": (name, content, media)},
        headers={"Idempotency-Key": key, **headers},
    )


def act(client: httpx.Client, case: dict, action: str, key: str, headers=None, **body) -> httpx.Response:
    return client.post(
        f"/v1/cases/{case['code']}/actions/{action}",
        json={"version": case["version"], **body},
        headers={"Idempotency-Key": key, **(headers or {})},
    )


def test_every_case_call_needs_a_bearer_token(stack):
    with httpx.Client(base_url=stack.config.gateway_url) as anonymous:
        for answer in (
            anonymous.get("/v1/cases"),
            anonymous.post("/v1/cases", json={}, headers={"Idempotency-Key": "x"}),
            anonymous.get("/v1/cases", headers={"Authorization": "Bearer not.a.token"}),
        ):
            assert answer.status_code == 401
            assert answer.headers["content-type"] == PROBLEM
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_case_from_submission_to_delivery_with_its_events(stack, client):
    case = start_case(client, "flow").json()
    assert (case["state"], case["assigned_role"]) == ("submitted", "clerk")
    assert case["state_due_at"]["jalali"] and case["process_due_at"]["utc"]
    assert attach(client, case["code"], "residence-document-scan", "scan.pdf", PDF, "application/pdf", "f1").status_code == 201
    with_photo = attach(client, case["code"], "photo", "عکس.jpg", JPEG, "image/jpeg", "f2")
    assert with_photo.status_code == 201
    case = with_photo.json()
    assert [d["kind"] for d in case["documents"]] == ["residence-document-scan", "photo"]
    assert [a["name"] for a in client.get(f"/v1/cases/{case['code']}/actions").json()["items"]] == ["start-review"]
    case = act(client, case, "start-review", "f3").json()
    case = act(client, case, "approve", "f4", HEAD, comment="موافقت", data={"extended_until": "۱۴۰۶/۰۹/۰۱"}).json()
    case = act(client, case, "deliver", "f5").json()
    assert (case["state"], case["outcome"], case["assigned_role"]) == ("delivered", "granted", None)
    history = client.get(f"/v1/cases/{case['code']}/history").json()["items"]
    assert [h["event"] for h in history][-3:] == ["start-review", "approve", "deliver"]
    assert history[-2]["role"] == "head-of-office" and history[-2]["comment"] == "موافقت"

    def events():
        found = [m for m in stream_messages(stack, STREAM) if m.headers["ce-subject"] == case["code"]]
        return found if len(found) == 6 else None

    messages = wait_for(events)
    assert [m.subject.rsplit(".", 1)[1] for m in messages] == [
        "submitted", "document-attached", "document-attached", "start-review", "approve", "deliver",
    ]
    approve = json.loads(messages[4].data)
    assert (approve["from_state"], approve["to_state"], approve["actor_role"]) == ("under-review", "decided", "head-of-office")
    assert approve["occurred_at"].endswith("Z") and approve["occurred_at_jalali"].startswith("14")


def test_refusals_are_clear_problems_and_change_nothing(stack, client):
    case = start_case(client, "refusals").json()
    rows = lambda: (count_rows(stack, "foreign-nationals", "case_history"), count_rows(stack, "foreign-nationals", "outbox"))  # noqa: E731
    before = rows()

    missing = act(client, case, "start-review", "r1")
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} == {"documents.residence-document-scan", "documents.photo"}

    not_now = act(client, case, "deliver", "r2")
    assert not_now.status_code == 409
    assert not_now.json()["allowed_actions"] == ["start-review"]

    too_large = attach(client, case["code"], "photo", "big.jpg", b"x" * 2_000_001, "image/jpeg", "r3")
    assert too_large.status_code == 413 and too_large.headers["content-type"] == PROBLEM
    wrong_type = attach(client, case["code"], "photo", "photo.gif", b"GIF89a", "image/gif", "r4")
    assert wrong_type.status_code == 415
    assert rows() == before

    attach(client, case["code"], "residence-document-scan", "scan.pdf", PDF, "application/pdf", "r5")
    case = attach(client, case["code"], "photo", "p.jpg", JPEG, "image/jpeg", "r6").json()
    case = act(client, case, "start-review", "r7").json()
    before = rows()
    wrong_role = act(client, case, "approve", "r8", data={"extended_until": "1406/01/01"})
    assert wrong_role.status_code == 403
    stale = act(client, {**case, "version": case["version"] - 1}, "request-correction", "r9", comment="x")
    assert stale.status_code == 409 and stale.json()["current_version"] == case["version"]
    no_comment = act(client, case, "request-correction", "r10")
    assert no_comment.status_code == 422 and no_comment.json()["errors"][0]["field"] == "comment"
    no_reason = act(client, case, "refuse", "r11", HEAD)
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "data.reason"
    assert rows() == before
    # Two heads of office at once: one decision stands, the other gets a conflict.
    one = act(client, case, "refuse", "r12", HEAD, data={"reason": "مدارک ناقص"})
    two = act(client, case, "approve", "r13", HEAD, data={"extended_until": "1406/01/01"})
    assert sorted([one.status_code, two.status_code]) == [200, 409]


def test_an_invalid_national_code_is_a_422(client):
    answer = client.post(
        "/v1/cases",
        json={"process": "foreign-nationals-32", "data": {"full_name": "الف", "national_code": "0084575949",
                                                          "mobile": "09121234567", "subject": "گواهی"}},
        headers={"Idempotency-Key": "bad-national-code", **CITIZEN},
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "data.national_code"


def test_a_citizen_starts_any_entry_with_clients_and_sees_only_their_own(stack):
    form = {"full_name": "زهرا کریمی", "national_code": "۰۰۸۴۵۷۵۹۴۸", "mobile": "09121234567", "subject": "گواهی تجرد"}
    with httpx.Client(base_url=stack.config.gateway_url, headers=CITIZEN) as citizen:
        started = citizen.post(
            "/v1/cases", json={"process": "foreign-nationals-32", "data": form}, headers={"Idempotency-Key": "c1"}
        )
        assert started.status_code == 201, started.text
        case = started.json()
        assert (case["definition"], case["process"]) == ("generic-request", "foreign-nationals-32")
        assert case["applicant"]["id"] == "0084575948"
        mine = citizen.get("/v1/cases").json()["items"]
        assert [item["code"] for item in mine] == [case["code"]]
        record_only = citizen.post(
            "/v1/cases", json={"process": "foreign-nationals-19", "data": form}, headers={"Idempotency-Key": "c2"}
        )
        assert record_only.status_code == 422
    with httpx.Client(base_url=stack.config.gateway_url, headers=OTHER_CITIZEN) as stranger:
        assert stranger.get(f"/v1/cases/{case['code']}").status_code == 404
    with httpx.Client(base_url=stack.config.gateway_url, headers=SOCIAL_CLERK) as other_office:
        assert other_office.get(f"/v1/cases/{case['code']}").status_code == 404


def test_the_inbox_of_a_role(client):
    codes = [start_case(client, f"inbox-{i}").json()["code"] for i in range(3)]
    inbox = client.get("/v1/cases", params={"role": "clerk", "limit": 200}).json()["items"]
    listed = [item["code"] for item in inbox]
    assert all(code in listed for code in codes)
    dues = [item["state_due_at"]["utc"] for item in inbox if item["state_due_at"]["utc"]]
    assert dues == sorted(dues)
    assert client.get("/v1/cases", params={"role": "head-of-office"}).status_code == 403
    found = client.get("/v1/cases", params={"code": codes[0]}).json()["items"]
    assert [item["code"] for item in found] == [codes[0]]
