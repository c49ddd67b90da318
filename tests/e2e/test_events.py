"""The bus as agencies and the platform's own consumers meet it: identities enforced by
nats-server, agencies reading only what they are granted (as its schema says), the governor's
register of breaches from every office's events, and what cannot be read parked with its reason."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jsonschema
import nats
import nats.errors
import pytest

from ostan_kit.messaging import cloudevents
from ostan_kit.messaging.natsauth import KeyStore
from tests.e2e.conftest import CLERK, bearer, nats_options, start_case, stream_messages, wait_for
from tests.e2e.test_cases import HEAD, JPEG, PDF, act, attach

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
POLICE_STREAM = "OSTAN_AGENCY_POLICE"
GOVERNOR_SUPERVISOR = bearer(subject="inspector-1", office="performance-inspection-legal-pr", roles=["supervisor"])
URBAN_SUPERVISOR = bearer(subject="supervisor-7", office="urban-councils", roles=["supervisor"])


async def connect(stack, identity: str | None, errors: list[str] | None = None, **extra):
    async def collect(error: Exception) -> None:
        if errors is not None:
            errors.append(str(error))

    options = nats_options(stack, identity) if identity else {}
    return await nats.connect(
        stack.config.nats_url, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False,
        error_cb=collect, **options, **extra,
    )


def test_the_bus_refuses_a_connection_without_a_known_identity(stack, tmp_path):
    async def attempt(**options) -> str:
        try:
            connection = await nats.connect(
                stack.config.nats_url, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False, **options
            )
        except Exception as error:
            return str(error).lower()
        await connection.close()
        return "connected"

    stranger = KeyStore(tmp_path).seed_file("stranger")
    KeyStore(tmp_path).public_key("stranger")  # a well-formed nkey the server was never told of
    assert "authorization violation" in asyncio.run(attempt())
    assert "authorization violation" in asyncio.run(attempt(nkeys_seed=str(stranger)))
    assert asyncio.run(attempt(**nats_options(stack, "agency-police"))) == "connected"


def refused_case(client: httpx.Client, tag: str) -> dict:
    case = start_case(client, f"{tag}-start").json()
    attach(client, case["code"], "residence-document-scan", "scan.pdf", PDF, "application/pdf", f"{tag}-a1")
    case = attach(client, case["code"], "photo", "photo.jpg", JPEG, "image/jpeg", f"{tag}-a2").json()
    case = act(client, case, "start-review", f"{tag}-review").json()
    refused = act(client, case, "refuse", f"{tag}-refuse", HEAD, data={"reason": "مدارک ناقص"})
    assert refused.status_code == 200, refused.text
    return refused.json()


def test_an_agency_subscribes_with_its_credentials_and_receives_only_its_granted_fields(stack, client, tmp_path):
    case = refused_case(client, f"police-{uuid.uuid4().hex[:6]}")
    credentials = tmp_path / "agency-police"
    written = subprocess.run(
        [sys.executable, "-m", "ostan_kit.agencies", "credentials", "police", "--state-dir", str(stack.config.state_dir),
         "--out", str(credentials), "--url", stack.config.nats_url],
        capture_output=True, text=True, timeout=60,
    )
    assert written.returncode == 0, written.stderr
    assert (credentials / "user.nk").stat().st_mode & 0o077 == 0
    contracts = f"{stack.config.gateway_url}/v1/events/asyncapi.json"

    def subscribe(*extra: str) -> list[dict]:
        answer = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "agency_subscriber.py"), "--credentials", str(credentials),
             "--contracts", contracts, "--until-idle", "2", *extra],
            capture_output=True, text=True, timeout=90,
        )
        assert answer.returncode == 0, answer.stderr[-3000:]
        return [json.loads(line) for line in answer.stdout.splitlines() if line.startswith("{")]

    def ours(events: list[dict]) -> list[dict]:
        return [event for event in events if event["data"]["case_code"] == case["code"]]

    received = wait_for(lambda: ours(subscribe()), timeout=30)
    (event,) = received
    assert event["type"] == "ir.ostan.agency.foreign-nationals.residence-document-extension.refuse.v1"
    data = event["data"]
    assert (data["from_state"], data["to_state"], data["event"]) == ("under-review", "refused", "refuse")
    assert data["fields"] == {
        "nationality": "AFG", "document_type": "RESIDENCE_DOCUMENT_TYPE_AMAYESH_CARD", "document_expires_on": "1405/09/01",
    }
    text = json.dumps(data, ensure_ascii=False)
    for personal in ("رضا", "12345678", "09121234567", "خیام", "مدارک ناقص"):
        assert personal not in text
    # Resumed where it stopped: nothing again; from the beginning again: applied before, not twice.
    assert ours(subscribe()) == []
    assert ours(subscribe("--from", "beginning")) == []
    replay = subscribe("--from", "beginning", "--durable", "second-reader")
    assert [e["id"] for e in ours(replay)] == [event["id"]]
    assert ours(subscribe("--from", f"sequence:{event['sequence']}", "--durable", "third-reader"))[0]["id"] == event["id"]
    after = datetime.now(UTC).isoformat()
    assert ours(subscribe("--from", f"time:{after}", "--durable", "fourth-reader")) == []


def test_every_agency_event_on_the_bus_matches_its_published_schema(stack, client):
    refused_case(client, f"schema-{uuid.uuid4().hex[:6]}")
    document = httpx.get(f"{stack.config.gateway_url}/v1/events/asyncapi.json", timeout=30)
    assert document.status_code == 200
    assert document.text == (ROOT / "docs" / "events" / "asyncapi.json").read_text()
    spec = document.json()
    by_type = {message["name"]: spec["components"]["schemas"][name] for name, message in spec["components"]["messages"].items()}
    messages = wait_for(lambda: [m for m in stream_messages(stack, POLICE_STREAM) if ".events." in m.subject])
    for message in messages:
        attributes = cloudevents.attributes(message.headers)
        schema = by_type[attributes["type"]]
        assert attributes["dataschema"] == schema["$id"]
        jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER).validate(
            json.loads(message.data)
        )


def test_nats_server_refuses_an_agency_what_it_was_not_granted(stack):
    async def scenario() -> tuple[list[str], list[str]]:
        errors: list[str] = []
        police = await connect(stack, "agency-police", errors)
        js = police.jetstream(timeout=2)
        refused: list[str] = []
        try:
            # Granted: a consumer of its own stream, for its own subjects.
            await js.add_consumer(POLICE_STREAM, name="granted-check", filter_subject="ostan-agency.police.events.>")
            await js.delete_consumer(POLICE_STREAM, "granted-check")
            for stream, subject in (
                ("OSTAN_FOREIGN_NATIONALS", "ostan.foreign-nationals.>"),  # the full events
                ("OSTAN_AGENCY_INTERIOR_MINISTRY", "ostan-agency.interior-ministry.>"),  # another agency's
                (POLICE_STREAM, "ostan-agency.interior-ministry.>"),  # its stream, someone else's subjects
            ):
                try:
                    await js.add_consumer(stream, name="not-granted", filter_subject=subject)
                except Exception as error:
                    refused.append(f"{stream}:{type(error).__name__}")
            for call in (
                lambda: js.get_msg(POLICE_STREAM, 1),  # reading around its consumer
                lambda: js.purge_stream(POLICE_STREAM),
                lambda: js.publish("ostan.foreign-nationals.fake.submitted", b"{}"),
            ):
                try:
                    await call()
                except Exception as error:
                    refused.append(type(error).__name__)
            await police.subscribe("ostan.foreign-nationals.>")
            await police.flush()
            await asyncio.sleep(0.5)
        finally:
            await police.close()
        return errors, refused

    errors, refused = asyncio.run(scenario())
    assert len(refused) == 6, refused
    violations = [error.lower() for error in errors if "permissions violation" in error.lower()]
    for denied in (
        "$js.api.consumer.create.ostan_foreign_nationals",
        "$js.api.consumer.create.ostan_agency_interior_ministry",
        "$js.api.consumer.create.ostan_agency_police.not-granted.ostan-agency.interior-ministry",
        "$js.api.stream.purge.ostan_agency_police",
        "publish to \"ostan.foreign-nationals.fake.submitted\"",
        "subscription to \"ostan.foreign-nationals.>\"",
    ):
        assert any(denied in violation for violation in violations), (denied, violations)


def breach_event(service: str, code: str, *, event_id: str | None = None, **changes) -> tuple[str, dict, bytes]:
    event_id = event_id or str(uuid.uuid4())
    subject = f"ostan.{service}.municipal-budget-approval.sla-breached"
    headers = cloudevents.binary_headers(
        event_id=event_id, source=f"/ostan/services/{service}", event_type=subject, subject=code,
        time=datetime.now(UTC),
    )
    data = {
        "case_code": code, "service": service, "process": "municipal-budget-approval", "process_version": 1,
        "event": "sla-breached", "from_state": "under-review", "to_state": "under-review", "actor_role": "system",
        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "occurred_at_jalali": "1405/09/09",
        "data": {"timer": "state-breach", "due_at": "2026-11-29T10:00:00+00:00", "escalated_to": "supervisor"},
    }
    headers.update(changes.pop("headers", {}))
    for name in changes.pop("drop_headers", ()):
        headers.pop(name)
    data.update(changes)
    return subject, headers, json.dumps(data, ensure_ascii=False).encode()


def test_the_governor_registers_breaches_from_the_offices_events_and_parks_what_it_cannot_read(stack):
    tag = uuid.uuid4().hex[:4].upper()
    first, second = f"UR-1405-{tag}01-1", f"UR-1405-{tag}02-1"
    good = breach_event("urban", first)
    again = (good[0], {**good[1], "Nats-Msg-Id": str(uuid.uuid4())}, good[2])  # as if past the duplicate window
    missing_type = breach_event("urban", "UR-X", drop_headers=["ce-type"])
    no_code = breach_event("urban", "", case_code="")
    not_json = (good[0], {**breach_event("urban", "UR-Y")[1]}, b"{not json")
    later = breach_event("urban", second)

    async def publish() -> None:
        urban = await connect(stack, "service-urban")
        js = urban.jetstream(timeout=5)
        for subject, headers, payload in (good, missing_type, no_code, not_json, again, later):
            await js.publish(subject, payload, headers=headers)
        await urban.close()

    asyncio.run(publish())
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as gateway:

        def ours(headers: dict) -> list[dict]:
            answer = gateway.get("/v1/sla-breaches", params={"service": "urban"}, headers=headers)
            assert answer.status_code == 200, answer.text
            return [item for item in answer.json()["items"] if item["case_code"] in (first, second)]

        found = wait_for(lambda: (lambda items: items if len(items) == 2 else None)(ours(GOVERNOR_SUPERVISOR)))
        assert sorted(item["case_code"] for item in found) == [first, second]
        assert {item["escalated_to"] for item in found} == {"supervisor"}
        assert found[0]["breached_at"]["jalali"].startswith("14")
        assert len(ours(URBAN_SUPERVISOR)) == 2
        assert gateway.get("/v1/sla-breaches", params={"service": "social"}, headers=URBAN_SUPERVISOR).status_code == 403
        assert gateway.get("/v1/sla-breaches", headers=CLERK).status_code == 403
        assert gateway.get("/v1/sla-breaches").status_code == 401

    def parked() -> list:
        found = [m for m in stream_messages(stack, "OSTAN_DEAD_LETTERS") if m.subject == "ostan-dead.governor.sla-register-urban"]
        found = [m for m in found if m.headers.get("ce-subject") in ("UR-X", "", "UR-Y") or "ce-type" not in m.headers]
        return found if len(found) >= 3 else None

    reasons = {cloudevents.decode(m.headers["Ostan-Dead-Reason"]) for m in wait_for(parked)}
    assert any("missing ce-type" in reason for reason in reasons), reasons
    assert any("has no case_code" in reason for reason in reasons), reasons
    assert any("not JSON" in reason for reason in reasons), reasons

    environment = {
        **os.environ,
        "OSTAN_GOVERNOR_NATS_URL": stack.config.nats_url,
        "OSTAN_GOVERNOR_NATS_SEED_FILE": str(stack.config.seed_file("service-governor")),
        "OSTAN_GOVERNOR_DATABASE_URL": stack.database_url("governor"),
        "OSTAN_GOVERNOR_STATE_DIR": str(stack.config.state_dir),
    }
    replay = subprocess.run(
        [sys.executable, "-m", "ostan_governor", "replay-parked"], env=environment, capture_output=True, text=True,
        timeout=90,
    )
    assert replay.returncode == 0, replay.stderr[-3000:]
    assert "sla-register-urban: 0 applied" in replay.stdout and "still failing" in replay.stdout
    assert "has no case_code" in replay.stdout
