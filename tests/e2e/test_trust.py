"""Services believe only the gateway: a call to a service's port that forges the caller, signs its
own assertion, replays one, or brings one meant for another service is refused UNAUTHENTICATED;
the catalogue and health stay open. The gateway serves only the services it is configured with
and does not start without its keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
import httpx
import jwt
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ostan.common.v1 import case_pb2, case_pb2_grpc, catalogue_pb2, catalogue_pb2_grpc
from ostan_devstack.stack import Stack, free_port
from ostan_kit.runtime.errors import describe
from ostan_kit.security.actors import Actor
from ostan_kit.security.assertions import HEADER, AssertionSigner, generate_key_pair, load_private_key
from ostan_kit.text.tracking import make_code
from tests.e2e.conftest import CLERK, FAST_TIMERS

pytestmark = pytest.mark.e2e

SERVICE = "foreign-nationals"
CLERK_ACTOR = Actor("clerk-1", "staff", "سارا احمدی", frozenset({"clerk"}), office="foreign-nationals")


@pytest.fixture
def channel(stack: Stack) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{stack.config.service_ports[SERVICE]}") as channel:
        yield channel


def gateway_signer(stack: Stack) -> AssertionSigner:
    return AssertionSigner(load_private_key(path=stack.config.keys_dir / "gateway-assertion-key.pem"))


def get_case(channel: grpc.Channel, metadata: tuple[tuple[str, str], ...]) -> grpc.StatusCode:
    """The status of reading a case that does not exist: NOT_FOUND means the caller was believed."""
    stub = case_pb2_grpc.CaseServiceStub(channel)
    try:
        stub.GetCase(case_pb2.GetCaseRequest(code=make_code("FN", 1405, 999_999)), metadata=metadata, timeout=5)
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.UNAUTHENTICATED:
            assert describe(error).reason, "the refusal says why, as an ErrorInfo reason"
            assert error.details()
        return error.code()
    return grpc.StatusCode.OK


def test_a_call_signed_by_the_gateway_for_this_service_is_believed(stack, channel):
    assert get_case(channel, gateway_signer(stack).metadata(CLERK_ACTOR, SERVICE)) == grpc.StatusCode.NOT_FOUND


def test_forged_actor_metadata_is_refused(channel):
    forged = (
        ("x-ostan-actor-id", "clerk-1"),
        ("x-ostan-actor-kind", "staff"),
        ("x-ostan-actor-roles", "clerk,head-of-office"),
        ("x-ostan-actor-office", "foreign-nationals"),
    )
    assert get_case(channel, forged) == grpc.StatusCode.UNAUTHENTICATED
    assert get_case(channel, ()) == grpc.StatusCode.UNAUTHENTICATED


def test_an_assertion_signed_with_another_key_is_refused(channel):
    own_key, _ = generate_key_pair()
    forger = AssertionSigner(load_private_key(own_key.decode()))
    assert get_case(channel, forger.metadata(CLERK_ACTOR, SERVICE)) == grpc.StatusCode.UNAUTHENTICATED
    # Nor an unsigned one, nor one signed with a guessable secret.
    claims = {"iss": "ostan-gateway", "aud": SERVICE, "sub": "x", "kind": "staff", "iat": int(time.time()),
              "exp": int(time.time()) + 60, "jti": "j1", "roles": ["head-of-office"], "office": SERVICE}  # fmt: skip
    for token in (jwt.encode(claims, None, algorithm="none"), jwt.encode(claims, "x" * 32, algorithm="HS256")):
        assert get_case(channel, ((HEADER, token),)) == grpc.StatusCode.UNAUTHENTICATED


def test_an_assertion_for_another_service_is_refused(stack, channel):
    meant_for_urban = gateway_signer(stack).metadata(CLERK_ACTOR, "urban")
    assert get_case(channel, meant_for_urban) == grpc.StatusCode.UNAUTHENTICATED


def test_an_expired_or_replayed_assertion_is_refused(stack, channel):
    expired = AssertionSigner(gateway_signer(stack)._key, ttl_seconds=-30).metadata(CLERK_ACTOR, SERVICE)
    assert get_case(channel, expired) == grpc.StatusCode.UNAUTHENTICATED
    once = gateway_signer(stack).metadata(CLERK_ACTOR, SERVICE)
    assert get_case(channel, once) == grpc.StatusCode.NOT_FOUND
    assert get_case(channel, once) == grpc.StatusCode.UNAUTHENTICATED


def test_the_catalogue_and_health_stay_open(channel):
    entries = catalogue_pb2_grpc.CatalogueServiceStub(channel).ListEntries(
        catalogue_pb2.ListEntriesRequest(page_size=5), timeout=5
    )
    assert entries.service == SERVICE and len(entries.entries) == 5
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_is_on_in_the_local_stack(channel):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    names = {service.name for answer in answers for service in answer.list_services_response.service}
    assert "ostan.common.v1.CaseService" in names


def gateway_process(stack: Stack, port: int, **environment: str) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OSTAN_GATEWAY_")}
    env.update({**FAST_TIMERS, "OSTAN_GATEWAY_PORT": str(port), **environment})
    log = open(stack.logs / f"gateway-{port}.log", "wb")  # noqa: SIM115 — the process owns it
    return subprocess.Popen([sys.executable, "-m", "ostan_gateway"], env=env, stdout=log, stderr=subprocess.STDOUT)


def test_a_gateway_configured_with_two_services_serves_only_those(stack):
    port = free_port()
    two = {
        name: {"address": f"127.0.0.1:{stack.config.service_ports[name]}", "code_prefix": prefix}
        for name, prefix in (("foreign-nationals", "FN"), ("urban", "UR"))
    }
    process = gateway_process(
        stack, port, OSTAN_GATEWAY_SERVICES=json.dumps(two), OSTAN_GATEWAY_LOCAL_KEYS_DIR=str(stack.config.keys_dir)
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, headers=CLERK) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    ready = client.get("/readyz")
                    if ready.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline and process.poll() is None, "the gateway did not get ready"
                time.sleep(0.2)
            assert set(ready.json()["services"]) == {"foreign-nationals", "urban"}
            catalogue = client.get("/v1/catalogue", params={"limit": 100}).json()
            assert {item["hosting_service"] for item in catalogue["items"]} <= {"foreign-nationals", "urban"}
            assert catalogue["missing_services"] == []
            refused = client.post(
                "/v1/cases", json={"service": "social", "process": "x", "data": {}}, headers={"Idempotency-Key": "k"}
            )
            assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "service"
            assert client.get(f"/v1/cases/{make_code('SO', 1405, 1)}").status_code == 404
            started = client.post(
                "/v1/cases",
                json={"service": "foreign-nationals", "process": "residence-document-extension",
                      "data": {"full_name": "x"}},
                headers={"Idempotency-Key": "two-services"},
            )  # fmt: skip
            assert started.status_code == 422  # reached the service (its form check), not refused
    finally:
        process.terminate()
        process.wait(30)


@pytest.mark.parametrize(
    ("environment", "missing"),
    [
        ({}, "OSTAN_GATEWAY_ASSERTION_KEY_FILE"),
        ({"OSTAN_GATEWAY_JWT_SECRET": "s" * 40}, "OSTAN_GATEWAY_ASSERTION_KEY_FILE"),
        ({"OSTAN_GATEWAY_ASSERTION_KEY_FILE": "KEY", "OSTAN_GATEWAY_JWT_SECRET": ""}, "OSTAN_GATEWAY_JWKS_URL"),
    ],
)
def test_the_gateway_does_not_start_without_its_keys(stack, environment, missing):
    port = free_port()
    key = str(stack.config.keys_dir / "gateway-assertion-key.pem")
    process = gateway_process(stack, port, **{name: key if value == "KEY" else value for name, value in environment.items()})
    try:
        assert process.wait(60) != 0
    finally:
        process.kill()
        process.wait()
    said = (stack.logs / f"gateway-{port}.log").read_text()
    assert "the gateway does not start" in said and missing in said, said
