"""Tokens of an identity provider, checked against the keys it publishes: a real HTTP server
serves a JWKS, the tokens are signed RS256 (and EdDSA) with keys made here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from ostan_gateway.auth import JwksKeys, TokenVerifier, Unauthenticated, issue_token

ISSUER = "https://idp.example.test/realms/ostan"
AUDIENCE = "ostan-gateway"
LOCAL_SECRET = "local-secret-that-is-long-enough-for-hs256-tokens"


class Provider:
    """The identity provider's JWKS endpoint; ``keys`` can change (rotation)."""

    def __init__(self) -> None:
        self.keys: dict[str, object] = {}
        self.fetches = 0

    def jwks(self) -> bytes:
        published = []
        for kid, key in self.keys.items():
            algorithm = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else jwt.algorithms.OKPAlgorithm
            entry = json.loads(algorithm.to_jwk(key.public_key()))
            entry.update(kid=kid, use="sig")
            published.append(entry)
        return json.dumps({"keys": published}).encode()


@pytest.fixture
def provider() -> Iterator[tuple[Provider, str]]:
    state = Provider()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            state.fetches += 1
            body = state.jwks()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_port}/protocol/openid-connect/certs"
    finally:
        server.shutdown()
        server.server_close()


def token(key, kid: str, algorithm: str = "RS256", **overrides) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": "staff-42", "iat": now, "exp": now + 300,
        "kind": "staff", "name": "سارا احمدی", "roles": ["clerk"], "office": "foreign-nationals",
    }  # fmt: skip
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


def verifier(url: str, secret: str | None = None, min_refresh: float = 0) -> TokenVerifier:
    return TokenVerifier(
        secret, jwks=JwksKeys(url, min_refresh_seconds=min_refresh), jwks_issuer=ISSUER, jwks_audience=AUDIENCE
    )


def test_an_rs256_token_of_the_provider_names_its_caller(provider):
    state, url = provider
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    state.keys["k1"] = key
    who = verifier(url).verify(token(key, "k1"))
    assert (who.subject, who.kind, who.office, who.roles) == ("staff-42", "staff", "foreign-nationals", {"clerk"})


def test_an_eddsa_token_of_the_provider_is_accepted_too(provider):
    state, url = provider
    key = ed25519.Ed25519PrivateKey.generate()
    state.keys["ed"] = key
    assert verifier(url).verify(token(key, "ed", "EdDSA")).subject == "staff-42"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"iss": "https://elsewhere.test"}, "not issued by"),
        ({"aud": "another-app"}, "not meant for this gateway"),
        ({"exp": 1}, "expired"),
    ],
)
def test_issuer_audience_and_expiry_are_checked(provider, overrides, message):
    state, url = provider
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    state.keys["k1"] = key
    with pytest.raises(Unauthenticated, match=message):
        verifier(url).verify(token(key, "k1", **overrides))


def test_a_key_the_provider_does_not_publish_is_refused(provider):
    state, url = provider
    state.keys["k1"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Unauthenticated, match="signature"):
        verifier(url).verify(token(stranger, "k1"))  # claims the published key id
    with pytest.raises(Unauthenticated, match="not one the identity provider publishes"):
        verifier(url).verify(token(stranger, "k-unknown"))


def test_a_rotated_key_is_fetched_on_its_first_unknown_kid_and_then_cached(provider):
    state, url = provider
    first = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    state.keys["k1"] = first
    checking = verifier(url)
    for _ in range(3):
        checking.verify(token(first, "k1"))
    assert state.fetches == 1  # cached
    second = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    state.keys = {"k2": second}
    assert checking.verify(token(second, "k2")).subject == "staff-42"
    assert state.fetches == 2


def test_unknown_kids_do_not_make_the_gateway_hammer_the_provider(provider):
    state, url = provider
    state.keys["k1"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    checking = verifier(url, min_refresh=60)
    checking.verify(token(state.keys["k1"], "k1"))
    for attempt in range(5):
        with pytest.raises(Unauthenticated):
            checking.verify(token(state.keys["k1"], f"made-up-{attempt}"))
    assert state.fetches == 1


def test_the_local_issuer_stands_beside_the_provider_and_keys_are_not_confused(provider):
    state, url = provider
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    state.keys["k1"] = key
    both = verifier(url, secret=LOCAL_SECRET)
    local = issue_token(LOCAL_SECRET, subject="clerk-1", kind="staff", name="S", roles=["clerk"], office="foreign-nationals")
    assert both.verify(local).subject == "clerk-1"
    assert both.verify(token(key, "k1")).subject == "staff-42"
    # An HS256 token "signed" with the provider's public key as the secret is no provider token.
    def part(value: dict) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=")

    signing_input = part({"alg": "HS256", "kid": "k1"}) + b"." + part({"iss": ISSUER, "aud": AUDIENCE, "sub": "x"})
    signature = hmac.new(state.jwks(), signing_input, hashlib.sha256).digest()
    forged = (signing_input + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()
    with pytest.raises(Unauthenticated):
        both.verify(forged)
    # Without a local secret, HS256 tokens are not accepted at all.
    with pytest.raises(Unauthenticated, match="algorithm"):
        verifier(url).verify(local)
