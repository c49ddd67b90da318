"""The caller assertion's claims: what a service accepts from the gateway's key and what not."""

from __future__ import annotations

import time

import jwt
import pytest

from ostan_kit.security.actors import Actor
from ostan_kit.security.assertions import (
    HEADER,
    AssertionSigner,
    AssertionVerifier,
    InvalidAssertion,
    ensure_key_pair,
    generate_key_pair,
    load_private_key,
    load_public_key,
)

PRIVATE, PUBLIC = generate_key_pair()
KEY = load_private_key(PRIVATE.decode())
SIGNER = AssertionSigner(KEY)
CITIZEN = Actor("0084575948", "citizen", "زهرا کریمی", frozenset({"applicant"}))
AGENCY = Actor("police-gw", "agency", "پلیس", frozenset({"inquirer"}), agency="police")


def verifier(audience: str = "urban") -> AssertionVerifier:
    return AssertionVerifier(load_public_key(PUBLIC.decode()), audience)


def signed(**claims) -> str:
    """A token signed with the gateway's key; a claim given as None is left out."""
    now = int(time.time())
    base = {"iss": "ostan-gateway", "aud": "urban", "sub": "s-1", "iat": now, "exp": now + 60, "jti": str(now),
            "kind": "staff", "name": "x", "roles": ["clerk"], "office": "urban"}  # fmt: skip
    merged = {key: value for key, value in {**base, **claims}.items() if value is not None}
    return jwt.encode(merged, KEY, algorithm="EdDSA")


def test_the_actor_comes_back_as_it_went_with_a_persian_name():
    for actor in (CITIZEN, AGENCY):
        assert verifier().actor_from(SIGNER.metadata(actor, "urban")) == actor


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"kind": "system"}, "kind"),
        ({"iss": "someone"}, "not issued by"),
        ({"jti": None}, "jti"),
        ({"exp": int(time.time()) + 3600}, "lives too long"),
        ({"roles": "clerk"}, "roles"),
    ],
)
def test_claims_a_gateway_would_not_sign_are_refused(claims, message):
    with pytest.raises(InvalidAssertion, match=message):
        verifier().verify(signed(**claims))


def test_two_assertion_headers_are_refused():
    with pytest.raises(InvalidAssertion, match="more than one"):
        verifier().actor_from([*SIGNER.metadata(AGENCY, "urban"), *SIGNER.metadata(CITIZEN, "urban")])
    with pytest.raises(InvalidAssertion, match="no caller assertion"):
        verifier().actor_from([("x-ostan-actor-id", "admin"), ("x-ostan-actor-kind", "staff")])
    assert HEADER == HEADER.lower()  # gRPC metadata keys are lowercase


def test_local_keys_are_made_once_and_kept_private(tmp_path):
    private, public = ensure_key_pair(tmp_path / "keys")
    first = private.read_bytes()
    assert ensure_key_pair(tmp_path / "keys") == (private, public) and private.read_bytes() == first
    assert private.stat().st_mode & 0o077 == 0
    with pytest.raises(ValueError, match="not a PEM public key"):
        load_public_key("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
