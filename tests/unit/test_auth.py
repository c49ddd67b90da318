"""Bearer tokens and the caller they name; the local tokens command."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import jwt
import pytest
from fastapi import FastAPI

from ostan_gateway import problems
from ostan_gateway.auth import (
    CHALLENGE,
    LOCAL_SECRET_FILE,
    SECRET_ENV,
    Caller,
    CurrentCaller,
    TokenVerifier,
    Unauthenticated,
    issue_token,
)
from ostan_gateway.problems import Problem

SECRET = "unit-test-secret-that-is-long-enough-for-hs256"
OTHER_SECRET = "another-secret-that-is-also-long-enough-for-hs256"
NATIONAL_CODE = "0084575948"


@pytest.fixture(scope="module")
def verifier() -> TokenVerifier:
    return TokenVerifier(SECRET)


def staff_token(**overrides) -> str:
    claims = dict(subject="staff-17", kind="staff", name="Sara Ahmadi", roles=["clerk"], office="foreign-nationals")
    return issue_token(SECRET, **{**claims, **overrides})


def raw_token(claims: dict, secret: str = SECRET) -> str:
    now = int(time.time())
    base = {"iss": "ostan", "aud": "ostan-gateway", "iat": now, "exp": now + 600}
    return jwt.encode({**base, **claims}, secret, algorithm="HS256")


def rejected(verifier: TokenVerifier, token: str) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token)
    problem = caught.value
    assert isinstance(problem, Problem)
    assert (problem.status, problem.slug) == (401, "unauthenticated")
    assert problem.headers == {"WWW-Authenticate": 'Bearer realm="ostan"'}
    return problem


# Round trips ------------------------------------------------------------------------------


def test_staff_round_trip(verifier):
    token = staff_token(roles=["clerk", "supervisor"])
    assert verifier.verify(token) == Caller(
        subject="staff-17",
        kind="staff",
        name="Sara Ahmadi",
        roles=frozenset({"clerk", "supervisor"}),
        office="foreign-nationals",
        agency="",
    )


def test_citizen_round_trip_gets_the_applicant_role(verifier):
    token = issue_token(SECRET, subject=NATIONAL_CODE, kind="citizen", name="علی رضایی", roles=[])
    assert verifier.verify(token) == Caller(
        subject=NATIONAL_CODE, kind="citizen", name="علی رضایی", roles=frozenset({"applicant"}), office="", agency=""
    )


def test_agency_round_trip(verifier):
    token = issue_token(SECRET, subject="police-gw", kind="agency", name="Police", roles=["inquirer"], agency="police")
    assert verifier.verify(token) == Caller(
        subject="police-gw", kind="agency", name="Police", roles=frozenset({"inquirer"}), office="", agency="police"
    )


def test_a_token_just_past_its_expiry_is_within_the_leeway(verifier):
    assert verifier.verify(staff_token(ttl_seconds=-5)).subject == "staff-17"


# Metadata ---------------------------------------------------------------------------------


def staff_caller() -> Caller:
    return Caller("staff-17", "staff", "Sara", frozenset({"clerk"}), "foreign-nationals", "")


# Refusals ---------------------------------------------------------------------------------


def test_an_expired_token_is_refused(verifier):
    problem = rejected(verifier, staff_token(ttl_seconds=-120))
    assert "expired" in problem.detail


def test_a_token_signed_with_another_secret_is_refused(verifier):
    token = issue_token(
        OTHER_SECRET, subject="staff-17", kind="staff", name="S", roles=["clerk"], office="urban-councils"
    )
    assert "signature" in rejected(verifier, token).detail


def test_a_token_for_another_audience_is_refused(verifier):
    assert "audience" in rejected(verifier, staff_token(audience="someone-else")).detail


def test_a_token_from_another_issuer_is_refused(verifier):
    assert "issued" in rejected(verifier, staff_token(issuer="evil")).detail


@pytest.mark.parametrize("claim", ["sub", "exp", "iat", "iss", "aud", "kind", "name", "office"])
def test_a_token_missing_a_claim_is_refused(verifier, claim):
    claims = {
        "sub": "staff-17",
        "kind": "staff",
        "name": "Sara",
        "roles": ["clerk"],
        "office": "foreign-nationals",
    }
    token = raw_token(claims)
    payload = jwt.decode(token, SECRET, algorithms=["HS256"], audience="ostan-gateway")
    del payload[claim]
    problem = rejected(verifier, jwt.encode(payload, SECRET, algorithm="HS256"))
    assert repr(claim) in problem.detail


def test_a_staff_token_without_roles_is_refused(verifier):
    assert "role" in rejected(verifier, staff_token(roles=[])).detail


def test_a_staff_token_for_an_unknown_office_is_refused(verifier):
    assert "'nowhere'" in rejected(verifier, staff_token(office="nowhere")).detail


def test_a_role_must_be_kebab_case(verifier):
    assert "kebab" in rejected(verifier, staff_token(roles=["Clerk"])).detail


@pytest.mark.parametrize("claims", [{"roles": "clerk"}, {"roles": [1]}, {"name": 7}, {"kind": "robot"}])
def test_claims_of_the_wrong_shape_are_refused(verifier, claims):
    base = {"sub": "staff-17", "kind": "staff", "name": "Sara", "roles": ["clerk"], "office": "foreign-nationals"}
    rejected(verifier, raw_token({**base, **claims}))


@pytest.mark.parametrize("code", ["0084575949", "12345", "0000000000", "not-a-code"])
def test_a_citizen_token_with_an_invalid_national_code_is_refused(verifier, code):
    token = issue_token(SECRET, subject=code, kind="citizen", name="Ali", roles=["applicant"])
    assert "national code" in rejected(verifier, token).detail


def test_a_citizen_token_cannot_carry_staff_roles(verifier):
    token = issue_token(SECRET, subject=NATIONAL_CODE, kind="citizen", name="Ali", roles=["applicant", "clerk"])
    assert "applicant" in rejected(verifier, token).detail


def test_an_agency_token_needs_an_agency(verifier):
    token = issue_token(SECRET, subject="police-gw", kind="agency", name="Police", roles=["inquirer"])
    assert "'agency'" in rejected(verifier, token).detail


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b.c", "....", "ey.ey.ey", "سلام.سلام.سلام", "x" * 10_000, "eyJhbGciOiJIUzI1NiJ9.e30."],
    ids=lambda token: token[:16] or "empty",
)
def test_a_malformed_token_is_refused(verifier, token):
    rejected(verifier, token)


def test_a_token_signed_with_another_algorithm_is_refused(verifier):
    claims = {"sub": "staff-17", "kind": "staff", "name": "S", "roles": ["clerk"], "office": "foreign-nationals"}
    token = jwt.encode(
        {**jwt.decode(raw_token(claims), options={"verify_signature": False}), **claims}, SECRET * 2, "HS512"
    )
    assert "algorithm" in rejected(verifier, token).detail


def test_an_unsigned_token_is_refused(verifier):
    unsigned = jwt.encode(
        {"sub": "staff-17", "kind": "staff", "iss": "ostan", "aud": "ostan-gateway"}, None, algorithm="none"
    )
    rejected(verifier, unsigned)


def test_the_verifier_refuses_a_short_secret_or_no_algorithm():
    with pytest.raises(ValueError):
        TokenVerifier("short")
    with pytest.raises(ValueError):
        TokenVerifier(SECRET, algorithms=("none",))


# The FastAPI dependency -------------------------------------------------------------------


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


@pytest.fixture(scope="module")
def app(verifier) -> FastAPI:
    app = FastAPI()
    problems.install(app)
    app.state.token_verifier = verifier

    @app.get("/me")
    async def me(who: CurrentCaller) -> dict:
        return {"subject": who.subject, "kind": who.kind, "roles": sorted(who.roles), "office": who.office}

    return app


@pytest.fixture
async def client(app):
    async with _client(app) as client:
        yield client


async def test_the_dependency_returns_the_caller(client):
    response = await client.get("/me", headers={"Authorization": f"Bearer {staff_token()}"})
    assert response.status_code == 200
    assert response.json() == {
        "subject": "staff-17",
        "kind": "staff",
        "roles": ["clerk"],
        "office": "foreign-nationals",
    }


async def test_the_bearer_scheme_is_case_insensitive(client):
    assert (await client.get("/me", headers={"Authorization": f"bearer {staff_token()}"})).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not.a.token"},
        {"Authorization": f"Bearer {staff_token(ttl_seconds=-120)}"},
    ],
    ids=["missing", "basic", "bearer-alone", "bearer-empty", "malformed", "expired"],
)
async def test_an_unauthenticated_request_is_a_401_problem_with_a_challenge(client, headers):
    response = await client.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE
    assert response.headers["content-type"] == problems.MEDIA_TYPE
    body = response.json()
    assert body["type"] == "/problems/unauthenticated"
    assert body["status"] == 401
    assert body["detail"]


async def test_a_missing_verifier_is_a_configuration_error():
    app = FastAPI()

    @app.get("/me")
    async def me(who: CurrentCaller) -> dict:
        return {}

    async with _client(app) as client:
        with pytest.raises(RuntimeError, match="token_verifier"):
            await client.get("/me", headers={"Authorization": f"Bearer {staff_token()}"})


# The dev command --------------------------------------------------------------------------


def run_tokens(*args: str, secret: str | None = SECRET, **extra: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OSTAN_")}
    if secret is not None:
        env[SECRET_ENV] = secret
    env.update(extra)
    return subprocess.run(
        [sys.executable, "-m", "ostan_gateway.tokens", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_the_tokens_command_prints_a_staff_token_that_verifies(verifier):
    result = run_tokens(
        "staff", "--office", "foreign-nationals", "--role", "clerk", "--role", "supervisor",
        "--name", "سارا احمدی", "--subject", "staff-17", "--ttl", "600",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    who = verifier.verify(result.stdout.strip())
    assert who == Caller("staff-17", "staff", "سارا احمدی", frozenset({"clerk", "supervisor"}), "foreign-nationals", "")
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"], audience="ostan-gateway")
    assert claims["exp"] - claims["iat"] == 600


def test_the_tokens_command_prints_citizen_and_agency_tokens(verifier):
    citizen = run_tokens("citizen", "--national-code", "۰۰۸۴۵۷۵۹۴۸", "--name", "Ali")
    assert citizen.returncode == 0, citizen.stderr
    assert verifier.verify(citizen.stdout.strip()).subject == NATIONAL_CODE
    agency = run_tokens("agency", "--agency", "police", "--role", "inquirer")
    assert agency.returncode == 0, agency.stderr
    assert verifier.verify(agency.stdout.strip()).agency == "police"


def test_the_tokens_command_signs_with_the_local_runs_secret_in_its_state_folder(tmp_path):
    result = run_tokens("agency", "--agency", "police", "--role", "inquirer", secret=None, OSTAN_STATE_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    local_secret = (tmp_path / "keys" / LOCAL_SECRET_FILE).read_text().strip()
    assert len(local_secret) >= 48
    assert TokenVerifier(local_secret).verify(result.stdout.strip()).kind == "agency"
    # The same secret next time: tokens keep working against the running local gateway.
    again = run_tokens("citizen", "--national-code", NATIONAL_CODE, "--name", "A", secret=None, OSTAN_STATE_DIR=str(tmp_path))
    assert TokenVerifier(local_secret).verify(again.stdout.strip()).kind == "citizen"


def test_the_tokens_command_refuses_bad_input():
    assert run_tokens("staff", "--office", "nowhere", "--role", "clerk", "--name", "S").returncode != 0
    assert run_tokens("citizen", "--national-code", "0084575949", "--name", "Ali").returncode != 0
    assert run_tokens("agency", "--agency", "Police", "--role", "inquirer").returncode != 0


def test_the_tokens_command_explains_itself():
    result = run_tokens("--help")
    assert result.returncode == 0
    assert "local" in result.stdout.lower()
