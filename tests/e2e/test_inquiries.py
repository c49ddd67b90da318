"""Inbound inquiries through the gateway: grants per agency (deny by default), answers with only
the granted fields, bound to the request and signed (verified here offline with joserfc, another
JOSE library than the gateway's), every refusal a clear problem, and the audit chain intact."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys

import grpc
import httpx
import pytest
import rfc8785
from joserfc import jws
from joserfc.jwk import KeySet

from ostan.common.v1 import inquiry_pb2, inquiry_pb2_grpc
from tests.e2e.conftest import (
    RESIDENCE_FORM,
    act,
    attach,
    bearer,
    count_rows,
    nats_options,
    start_case,
    stream_messages,
    wait_for,
)
from tests.forms import NGO_DOSSIER, NGO_FORM

pytestmark = [
    pytest.mark.e2e,
    # The brief and most agencies name the algorithm EdDSA; RFC 9864 prefers "Ed25519" for the same.
    pytest.mark.filterwarnings("ignore:EdDSA is deprecated"),
]
PROBLEM = "application/problem+json"
DOCUMENT = "12345678"  # RESIDENCE_FORM's document number, in ASCII digits


def agency(slug: str) -> dict[str, str]:
    return bearer("agency", subject=f"{slug}-system", name=slug, roles=["inquirer"], agency=slug)


POLICE, JUDICIARY, INSPECTION = agency("police"), agency("judiciary"), agency("inspection-organisation")


def ask(client: httpx.Client, kind: str, headers: dict[str, str], **body: object) -> httpx.Response:
    request = {"purpose": "بررسی پرونده ۱۲", "officer": "سرگرد احمدی", "request_id": "r-1", **body}
    return client.post(f"/v1/inquiries/{kind}", json=request, headers=headers)


def verified(client: httpx.Client, signed: dict) -> dict:
    """The payload of a signed answer, checked against the published keys as an agency would."""
    keys = client.get("/v1/inquiries/keys")
    assert keys.status_code == 200 and keys.headers["content-type"] == "application/jwk-set+json"
    keyset = KeySet.import_key_set(keys.json())
    token = jws.deserialize_compact(signed["jws"], keyset, algorithms=["EdDSA"])
    assert token.headers()["kid"] == signed["kid"]
    return json.loads(token.payload)


@pytest.fixture
def residence_case(stack, client) -> dict:
    """A residence case of document 12345678 (the same one for every test: the key replays it)."""
    answer = start_case(client, "inquiry-residence", RESIDENCE_FORM)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def test_the_listing_shows_every_type_and_what_the_calling_agency_is_granted(client):
    answer = client.get("/v1/inquiries", headers=POLICE)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["missing_services"] == []
    types = {kind["id"]: kind for kind in body["types"]}
    # At least one type per service, and the composite every service answers.
    assert {service for kind in types.values() for service in kind["services"]} == {
        "political", "social", "foreign-nationals", "urban", "admin-finance", "economic", "governor"
    }
    assert len(types["holdings"]["services"]) == 7 and types["holdings"]["composite"]
    residence = types["residence-document-status"]
    assert residence["granted"] and "seed 001_4beb4eaa6130e669.txt l.627-627" in residence["legal_basis"]
    assert residence["granted_fields"] == [
        "holder_name", "nationality", "document_expires_on", "extension_outcome", "extended_until"
    ]
    assert types["complaint-stage"] == {**types["complaint-stage"], "granted": False, "granted_fields": []}


def test_an_answer_has_only_the_granted_fields_is_bound_to_the_request_and_verifies_offline(client, residence_case):
    request = {"subject": "۱۲۳۴۵۶۷۸", "purpose": "کنترل تردد", "officer": "سروان کریمی", "request_id": "police-77"}
    answer = client.post("/v1/inquiries/residence-document-status", json=request, headers=POLICE)
    assert answer.status_code == 200, answer.text
    signed = answer.json()
    payload = verified(client, signed)
    assert payload == signed["answer"]
    assert payload["answer"] == {
        "holder_name": "محمد رضایی",
        "nationality": "AFG",
        "document_expires_on": "1405/09/01",
        "extension_outcome": None,
        "extended_until": None,
    }
    assert (payload["inquiry"], payload["service"], payload["agency"], payload["subject"]) == (
        "residence-document-status", "foreign-nationals", "police", DOCUMENT
    )
    canonical = rfc8785.dumps({**request, "type": "residence-document-status", "agency": "police"})
    assert payload["request_sha256"] == hashlib.sha256(canonical).hexdigest()
    assert payload["answered_at"].endswith("Z") and payload["answered_at_jalali"].startswith("14")

    # The same request id again: the same answer, signed the same.
    again = client.post("/v1/inquiries/residence-document-status", json=request, headers=POLICE)
    assert again.status_code == 200 and again.json() == signed
    # The same request id for another question is refused, naming the field.
    reused = client.post(
        "/v1/inquiries/residence-document-status", json={**request, "purpose": "دیگر"}, headers=POLICE
    )
    assert reused.status_code == 422 and reused.headers["content-type"] == PROBLEM
    assert [error["field"] for error in reused.json()["errors"]] == ["request_id"]

    # Another agency sees its own grant of the same type.
    judiciary = ask(client, "residence-document-status", JUDICIARY, subject=DOCUMENT, request_id="j-1")
    assert judiciary.status_code == 200, judiciary.text
    assert judiciary.json()["answer"]["answer"]["case_code"] == residence_case["code"]


def test_a_type_not_granted_is_403_and_tells_nothing_about_the_subject(client, residence_case):
    held = ask(client, "residence-document-status", INSPECTION, subject=DOCUMENT, request_id="i-1")
    unheld = ask(client, "residence-document-status", INSPECTION, subject="99999999", request_id="i-2")
    malformed = ask(client, "residence-document-status", INSPECTION, subject="12", request_id="i-3")
    for answer in (held, unheld, malformed):
        assert answer.status_code == 403 and answer.headers["content-type"] == PROBLEM
    assert held.json()["detail"] == unheld.json()["detail"] == malformed.json()["detail"]
    # Staff and citizens ask no inquiries.
    assert ask(client, "residence-document-status", bearer(), subject=DOCUMENT).status_code == 403
    assert ask(client, "residence-document-status", bearer("citizen"), subject=DOCUMENT).status_code == 403
    # No token at all.
    with httpx.Client(base_url=str(client.base_url)) as anonymous:
        assert anonymous.get("/v1/inquiries").status_code == 401
        assert ask(anonymous, "holdings", {}, subject="0084575948").status_code == 401


@pytest.mark.parametrize(
    ("kind", "headers", "body", "status", "field"),
    [
        ("residence-document-status", POLICE, {"subject": "87654321"}, 404, None),
        ("council-member-card", agency("moi"), {"subject": "0084575949"}, 422, "subject"),
        ("ngo-licence-status", POLICE, {"subject": "SO-1405-000001-0"}, 422, "subject"),
        ("residence-document-status", POLICE, {"subject": DOCUMENT, "purpose": ""}, 422, "purpose"),
        ("residence-document-status", POLICE, {"subject": DOCUMENT, "purpose": "   "}, 422, "purpose"),
        ("residence-document-status", POLICE, {"subject": DOCUMENT, "officer": None}, 422, "officer"),
        ("no-such-inquiry", POLICE, {"subject": DOCUMENT}, 404, None),
    ],
)
def test_bad_input_is_a_clear_problem(client, residence_case, kind, headers, body, status, field):
    request = {"purpose": "بررسی", "officer": "افسر", "request_id": f"bad-{kind}-{status}-{field}", **body}
    request = {key: value for key, value in request.items() if value is not None}
    answer = client.post(f"/v1/inquiries/{kind}", json=request, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    if field:
        assert field in [error["field"] for error in answer.json()["errors"]]


def test_over_the_agency_rate_is_429_with_retry_after(client):
    municipalities = agency("municipalities")
    statuses = [
        ask(client, "council-member-card", municipalities, subject="0084575948", request_id=f"m-{n}").status_code
        for n in range(35)
    ]
    assert 429 in statuses and statuses.index(429) >= 25  # the stack allows 30 a minute
    limited = ask(client, "council-member-card", municipalities, subject="0084575948", request_id="m-last")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    # Another agency is not held back by it.
    assert ask(client, "council-member-card", agency("moi"), subject="0084575948", request_id="moi-1").status_code == 404


def test_a_composite_inquiry_is_answered_by_every_service_and_signed_as_a_whole(stack, client):
    citizen = bearer("citizen")
    assert start_case(client, "inquiry-holding", RESIDENCE_FORM, **citizen).status_code == 201
    answer = ask(client, "holdings", JUDICIARY, subject="۰۰۸۴۵۷۵۹۴۸", request_id="holdings-1")
    assert answer.status_code == 200, answer.text
    payload = verified(client, answer.json())
    assert payload["missing_services"] == [] and len(payload["services"]) == 7
    holdings = payload["answer"]["holdings"]
    assert any(h["service"] == "foreign-nationals" and h["process"] == "تمدید مدرک اقامتی اتباع خارجی" for h in holdings)
    # The police see less of the same.
    police = verified(client, ask(client, "holdings", POLICE, subject="0084575948", request_id="holdings-p").json())
    assert {frozenset(h) for h in police["answer"]["holdings"]} == {frozenset({"service", "process", "outcome"})}

    stack.stop_process("urban")
    try:
        partial = ask(client, "holdings", JUDICIARY, subject="0084575948", request_id="holdings-2")
        assert partial.status_code == 200, partial.text
        payload = verified(client, partial.json())
        assert payload["missing_services"] == ["urban"] and "urban" not in payload["services"]
    finally:
        stack.start_service("urban")
        stack.wait_ready()


def test_every_inquiry_and_refusal_is_in_an_intact_audit_chain(stack, client, residence_case):
    ask(client, "residence-document-status", INSPECTION, subject=DOCUMENT, request_id="audit-refused")
    ask(client, "residence-document-status", POLICE, subject=DOCUMENT, request_id="audit-answered")
    url = stack.database_url("foreign-nationals")
    checked = subprocess.run(
        [sys.executable, "-m", "ostan_kit.audit", "verify", "--database-url", url],
        capture_output=True, text=True, timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("ok: ")
    from tests.e2e.conftest import count_rows

    for kind in ("inquiry.answered", "inquiry.refused", "case.transition"):
        assert count_rows(stack, "foreign-nationals", "audit_log", f"WHERE kind = '{kind}'") >= 1


# -- outbound: a case step asks the agencies (the agency simulator answers) --------------------

SOCIAL = {role: bearer(subject=f"{role}-1", office="social-cultural", roles=[role])
          for role in ("secretariat", "supervisory-board")}




def ngo_inquiring(client: httpx.Client, founders: list[str], key: str) -> dict:
    citizen = bearer("citizen")
    started = client.post(
        "/v1/cases",
        json={"service": "social", "process": "ngo-activity-licence", "data": {**NGO_FORM, "founder_national_codes": founders}},
        headers={"Idempotency-Key": key, **citizen},
    )
    assert started.status_code == 201, started.text
    case = act(client, started.json(), "prepare-for-board", SOCIAL["secretariat"])
    case = act(client, case, "approve", SOCIAL["supervisory-board"])
    case = attach(client, case, citizen, *NGO_DOSSIER)
    case = act(client, case, "submit-dossier", citizen)
    return act(client, case, "send-inquiries", SOCIAL["secretariat"])


def answered(client: httpx.Client, code: str, count: int) -> list[dict]:
    def entries():
        history = client.get(f"/v1/cases/{code}/history", headers=SOCIAL["secretariat"]).json()["items"]
        replies = [entry for entry in history if entry["event"] == "inquiry-answered"]
        return replies if len(replies) >= count else None

    return wait_for(entries, timeout=30, interval=0.3)


def test_the_ngo_licence_asks_the_four_authorities_over_the_bus_and_waits_for_them(client):
    case = ngo_inquiring(client, ["0084575948"], "ngo-positive")
    replies = answered(client, case["code"], 4)
    assert sorted(entry["comment"] for entry in replies) == ["positive"] * 4
    case = client.get(f"/v1/cases/{case['code']}", headers=SOCIAL["secretariat"]).json()
    case = act(client, case, "record-inquiry-replies", SOCIAL["secretariat"])
    assert case["state"] == "registering"


def test_a_negative_or_missing_answer_holds_the_ngo_licence(client):
    negative = ngo_inquiring(client, ["0084575948", "0067749828"], "ngo-negative")  # intelligence says no
    answered(client, negative["code"], 4)
    negative = client.get(f"/v1/cases/{negative['code']}", headers=SOCIAL["secretariat"]).json()
    refused = client.post(
        f"/v1/cases/{negative['code']}/actions/record-inquiry-replies",
        json={"version": negative["version"], "data": {}},
        headers={"Idempotency-Key": "ngo-negative-record", **SOCIAL["secretariat"]},
    )
    assert refused.status_code == 422 and "four-authorities-positive" in refused.json()["detail"]

    silent = ngo_inquiring(client, ["0084575948", "0013542419"], "ngo-silent")  # the police never answer
    answered(client, silent["code"], 3)
    silent = client.get(f"/v1/cases/{silent['code']}", headers=SOCIAL["secretariat"]).json()
    waiting = client.post(
        f"/v1/cases/{silent['code']}/actions/record-inquiry-replies",
        json={"version": silent["version"], "data": {}},
        headers={"Idempotency-Key": "ngo-silent-record", **SOCIAL["secretariat"]},
    )
    assert waiting.status_code == 422 and "four-authorities-answered" in waiting.json()["detail"]


def test_a_service_lists_its_types_to_anyone_but_answers_only_a_caller_the_gateway_vouched_for(stack):
    async def call() -> tuple[int, grpc.StatusCode]:
        address = f"127.0.0.1:{stack.config.service_ports['foreign-nationals']}"
        async with grpc.aio.insecure_channel(address) as channel:
            stub = inquiry_pb2_grpc.InquiryServiceStub(channel)
            listed = await stub.ListInquiryTypes(inquiry_pb2.ListInquiryTypesRequest(), timeout=5)
            forged = (("x-ostan-actor-id", "police-system"), ("x-ostan-actor-kind", "agency"), ("x-ostan-actor-agency", "police"))
            try:
                await stub.AskInquiry(
                    inquiry_pb2.AskInquiryRequest(type="residence-document-status", subject=DOCUMENT, purpose="p",
                                                  officer="o", request_id="forged"),
                    timeout=5, metadata=forged,
                )
            except grpc.aio.AioRpcError as error:
                return len(listed.types), error.code()
            return len(listed.types), grpc.StatusCode.OK

    assert asyncio.run(call()) == (2, grpc.StatusCode.UNAUTHENTICATED)


# -- the agencies' signatures: an answer counts only if its agency signed it -----------------------


def inquiry_requests(stack, case_code: str, service: str = "social") -> list:
    """The ``inquiry-requested`` events a case of ``service`` sent, as its stream holds them."""
    from google.protobuf import json_format

    from ostan.common.v1 import events_pb2
    from ostan_kit.runtime.registry import SERVICES

    requests = [
        json_format.Parse(message.data, events_pb2.InquiryRequested(), ignore_unknown_fields=True)
        for message in stream_messages(stack, SERVICES[service].stream)
        if message.subject.endswith(".inquiry-requested")
    ]
    return [request for request in requests if request.case_code == case_code]


def publish_answer(stack, request, signature_of, verdict: str = "positive", event_id: str = "") -> None:
    """An answer to ``request`` on the bus, signed by ``signature_of(claims)``, as whoever holds the
    answerer's bus identity could publish it."""
    from datetime import UTC, datetime

    import nats
    from google.protobuf import json_format

    from ostan.common.v1 import events_pb2
    from ostan_devstack.stack import AGENCIES
    from ostan_kit.inquiries.outbound import ANSWER_TYPE
    from ostan_kit.messaging import cloudevents

    body = {"subjects": list(request.subjects), "letter": "FORGED-1"}
    claims = {"request_id": request.request_id, "agency": request.agency, "verdict": verdict, "answer": body}
    answer = events_pb2.InquiryAnswered(
        request_id=request.request_id, agency=request.agency, verdict=verdict, signature=signature_of(claims)
    )
    answer.answer.update(body)
    now = datetime.now(UTC)
    headers = cloudevents.binary_headers(
        event_id=event_id or f"{request.request_id}-forged", source=f"/agencies/{request.agency}",
        event_type=ANSWER_TYPE, subject=request.case_code, time=now, data_schema=answer.DESCRIPTOR.full_name,
    )

    async def publish() -> None:
        connection = await nats.connect(
            stack.config.nats_url, connect_timeout=2, max_reconnect_attempts=0, **nats_options(stack, AGENCIES)
        )
        try:
            payload = json.dumps(json_format.MessageToDict(answer, preserving_proto_field_name=True))
            await connection.jetstream().publish(request.reply_subject, payload.encode(), headers=headers, timeout=5)
        finally:
            await connection.close()

    asyncio.run(publish())


def test_an_answer_its_agency_did_not_sign_is_parked_and_the_case_keeps_waiting(stack, client):
    import jwt

    from ostan_devstack.agency_keys import AgencyKeyring
    from ostan_kit.messaging import cloudevents

    # The police never answer about this founder; the three others do, and their signatures verify.
    case = ngo_inquiring(client, ["0084575948", "0013542419"], "ngo-forged")
    answered(client, case["code"], 3)
    requests = inquiry_requests(stack, case["code"])
    (police,) = [request for request in requests if request.agency == "police"]

    # Someone on the answerer's identity forges the police's answer: a key of its own under the
    # police's kid; then the judiciary's genuine key signing for the police.
    simulator = AgencyKeyring(stack.config.agency_keys_dir)
    police_kid = simulator.jwk("police")["kid"]
    forger = AgencyKeyring(None, ["police"])
    publish_answer(stack, police, lambda claims: jwt.encode(
        claims, forger.private_key("police"), algorithm="EdDSA", headers={"kid": police_kid}), event_id="forged-1")
    publish_answer(stack, police, lambda claims: simulator.sign("judiciary", claims), event_id="forged-2")
    # And one with no signature at all.
    publish_answer(stack, police, lambda claims: "", event_id="forged-3")

    def parked() -> list[str] | None:
        found = [
            cloudevents.decode(message.headers["Ostan-Dead-Reason"])
            for message in stream_messages(stack, "OSTAN_DEAD_LETTERS")
            if message.subject == "ostan-dead.social.inquiry-answers-social"
            and message.headers.get("ce-id") in ("forged-1", "forged-2", "forged-3")
        ]
        return found if len(found) == 3 else None

    reasons = wait_for(parked, timeout=30, interval=0.3)
    assert all(reason.startswith("answer refused: ") for reason in reasons), reasons
    assert any("does not verify" in reason for reason in reasons), reasons
    assert any("not one of agency 'police'" in reason for reason in reasons), reasons
    assert any("not signed" in reason for reason in reasons), reasons

    # Nothing of it reached the case: still three answers, the police's request still waiting.
    history = client.get(f"/v1/cases/{case['code']}/history", headers=SOCIAL["secretariat"]).json()["items"]
    assert len([entry for entry in history if entry["event"] == "inquiry-answered"]) == 3
    assert count_rows(
        stack, "social", "case_inquiries", f"WHERE request_id = '{police.request_id}' AND answered_at IS NULL"
    ) == 1
    others = ", ".join(f"'{request.request_id}'" for request in requests if request.agency != "police")
    assert count_rows(
        stack, "social", "case_inquiries", f"WHERE request_id IN ({others}) AND signature LIKE 'ey%.%.%'"
    ) == 3
    case = client.get(f"/v1/cases/{case['code']}", headers=SOCIAL["secretariat"]).json()
    waiting = client.post(
        f"/v1/cases/{case['code']}/actions/record-inquiry-replies",
        json={"version": case["version"], "data": {}},
        headers={"Idempotency-Key": "ngo-forged-record", **SOCIAL["secretariat"]},
    )
    assert waiting.status_code == 422 and "four-authorities-answered" in waiting.json()["detail"]

    # The police's genuine answer (signed with the simulator's police key) is recorded.
    publish_answer(stack, police, lambda claims: simulator.sign("police", claims), event_id="genuine-police")
    answered(client, case["code"], 4)
