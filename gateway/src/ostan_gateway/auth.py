"""Who is calling: bearer tokens (JWT) in, a ``Caller`` out, and the gRPC metadata that carries
the caller on to the office services.

Three kinds of caller hold tokens:

* ``staff``: an employee of an office; ``sub`` is the staff user id, ``office`` the office slug
  (one of ``organisation.yaml``'s offices) and ``roles`` at least one role;
* ``citizen``: ``sub`` is the citizen's ten-digit national code; the only role is ``applicant``;
* ``agency``: another agency's system (the police, the registry…); ``agency`` is its slug and
  ``roles`` at least one role.

Two issuers are believed, each only when configured (the gateway starts with neither only in
local mode, see ``settings``):

* the identity provider: tokens signed RS256 or EdDSA with a key it publishes as a JWKS
  (``OSTAN_GATEWAY_JWKS_URL``), with its issuer and audience;
* the local issuer: HS256 with ``OSTAN_GATEWAY_JWT_SECRET`` (issuer ``ostan``), for local runs and
  tests (``python -m ostan_gateway.tokens``).

Every token carries ``iss``, ``aud``, ``exp``, ``iat`` and ``sub``. Any token that fails a check
is answered ``401`` with ``WWW-Authenticate: Bearer realm="ostan"``.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
import time
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import jwt
from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from ostan_gateway.problems import Problem
from ostan_kit.catalogue.entries import load_organisation
from ostan_kit.processes import fields
from ostan_kit.security.actors import Actor

SECRET_ENV = "OSTAN_GATEWAY_JWT_SECRET"
# In local mode the secret lives in this file of the local keys folder (made on first use).
LOCAL_SECRET_FILE = "local-token-secret"
IDP_ALGORITHMS = ("RS256", "EdDSA")

ISSUER = "ostan"
AUDIENCE = "ostan-gateway"
REALM = "ostan"
CHALLENGE = f'Bearer realm="{REALM}"'

Kind = Literal["staff", "citizen", "agency"]
KINDS: frozenset[str] = frozenset(get_args(Kind))
APPLICANT = "applicant"

# Lowercase kebab-case: roles, office and agency slugs.
_KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# A staff or agency subject goes into gRPC metadata unencoded: printable ASCII, no spaces.
_SUBJECT = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
_MAX_NAME = 200
_MAX_TOKEN = 8192
_MIN_HMAC_KEY_BYTES = 32  # RFC 7518 §3.2: a key at least as long as the hash.

def ensure_local_secret(folder: Path) -> str:
    """The local issuer's secret in ``folder``, made on first use: for local runs only."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCAL_SECRET_FILE
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


class JwksKeys:
    """The identity provider's signing keys from its JWKS URL: kept for ``max_age_seconds``,
    fetched again at once for a key id not seen yet (a rotated key), but at most every
    ``min_refresh_seconds`` so unknown key ids cannot make the gateway hammer the provider."""

    def __init__(
        self, url: str, *, max_age_seconds: float = 3600, min_refresh_seconds: float = 10, timeout: float = 5
    ) -> None:
        self.url = url
        self.max_age_seconds = max_age_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self.timeout = timeout
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def _fetch(self) -> None:
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310 — configured URL
            document = json.loads(answer.read(1_000_000))
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []):
            if entry.get("use", "sig") != "sig" or not entry.get("kid"):
                continue
            try:
                keys[entry["kid"]] = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue  # a key type or algorithm this gateway does not use
        self._keys = keys
        self._fetched_at = time.monotonic()

    def key(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            age = time.monotonic() - self._fetched_at
            if age > self.max_age_seconds or (kid not in self._keys and age > self.min_refresh_seconds):
                try:
                    self._fetch()
                except (OSError, ValueError) as error:
                    if kid not in self._keys:
                        raise Unauthenticated(f"the identity provider's keys cannot be read now: {error}") from None
            found = self._keys.get(kid)
        if found is None:
            raise Unauthenticated(f"the token's key {kid[:64]!r} is not one the identity provider publishes")
        return found


# The caller of a request is the actor the office services receive.
Caller = Actor


class Unauthenticated(HTTPException, Problem):
    """A 401 problem (``/problems/unauthenticated``) with the ``WWW-Authenticate`` challenge.

    It is a ``Problem`` for code that catches problems, and an ``HTTPException`` first so that
    ``problems.install``'s HTTPException handler, which passes ``headers`` on, answers it.
    """

    def __init__(self, detail: str) -> None:
        Problem.__init__(self, 401, detail, slug="unauthenticated")
        HTTPException.__init__(self, 401, detail, headers={"WWW-Authenticate": CHALLENGE})


def _check_secret(secret: str, algorithms: Sequence[str]) -> None:
    if not secret:
        raise ValueError("the token secret is empty")
    if any(a.upper().startswith("HS") for a in algorithms) and len(secret.encode()) < _MIN_HMAC_KEY_BYTES:
        raise ValueError(f"an HMAC token secret must be at least {_MIN_HMAC_KEY_BYTES} bytes long")


def issue_token(
    secret: str,
    *,
    subject: str,
    kind: Kind,
    name: str,
    roles: Iterable[str],
    office: str = "",
    agency: str = "",
    ttl_seconds: int = 3600,
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
) -> str:
    """A signed HS256 token. It checks nothing about the claims (tests issue bad ones on
    purpose): ``TokenVerifier.verify`` is the judge."""
    _check_secret(secret, ("HS256",))
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "exp": now + ttl_seconds,
        "kind": kind,
        "name": name,
        "roles": sorted(set(roles)),
    }
    if office:
        claims["office"] = office
    if agency:
        claims["agency"] = agency
    return jwt.encode(claims, secret, algorithm="HS256")


class TokenVerifier:
    """Checks bearer tokens; every failure is an ``Unauthenticated`` (401) problem."""

    def __init__(
        self,
        secret: str | None,
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
        algorithms: Sequence[str] = ("HS256",),
        leeway_seconds: int = 30,
        *,
        jwks: JwksKeys | None = None,
        jwks_issuer: str = "",
        jwks_audience: str = AUDIENCE,
        jwks_algorithms: Sequence[str] = IDP_ALGORITHMS,
    ) -> None:
        algorithms = tuple(algorithms)
        if not algorithms or any(a.lower() == "none" for a in algorithms):
            raise ValueError("name at least one signing algorithm, and never 'none'")
        if secret is None and jwks is None:
            raise ValueError("the gateway needs a local token secret, an identity provider's JWKS URL, or both")
        if secret is not None:
            _check_secret(secret, algorithms)
        if jwks is not None:
            if not jwks_issuer:
                raise ValueError("name the identity provider's issuer (OSTAN_GATEWAY_JWKS_ISSUER)")
            if any(a.upper().startswith("HS") or a.lower() == "none" for a in jwks_algorithms):
                raise ValueError("an identity provider's tokens are verified with public keys only (RS256, EdDSA)")
        self._secret = secret
        self.jwks = jwks
        self.jwks_issuer = jwks_issuer
        self.jwks_audience = jwks_audience
        self.jwks_algorithms = tuple(jwks_algorithms)
        self.issuer = issuer
        self.audience = audience
        self.algorithms = algorithms
        self.leeway_seconds = leeway_seconds
        self.offices: frozenset[str] = frozenset(office.slug for office in load_organisation().offices)

    def verify(self, token: str) -> Caller:
        claims = self._decode(token)
        return self._caller(claims)

    def needs_network(self, token: str) -> bool:
        """Whether verifying ``token`` may fetch the identity provider's keys."""
        return self.jwks is not None and not self._is_local(token)

    def _is_local(self, token: str) -> bool:
        try:
            algorithm = jwt.get_unverified_header(token).get("alg", "")
        except jwt.PyJWTError:
            return True  # malformed: the local path says so
        return self.jwks is None or (self._secret is not None and algorithm in self.algorithms)

    def _decode(self, token: str) -> dict[str, Any]:
        if not isinstance(token, str) or not token:
            raise Unauthenticated("the bearer token is empty")
        if len(token) > _MAX_TOKEN:
            raise Unauthenticated("the bearer token is too long")
        if self._is_local(token):
            if self._secret is None:
                raise Unauthenticated("the token is signed with an algorithm this gateway does not accept")
            key: Any = self._secret
            algorithms, audience, issuer = list(self.algorithms), self.audience, self.issuer
        else:
            assert self.jwks is not None
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in self.jwks_algorithms:
                raise Unauthenticated("the token is signed with an algorithm this gateway does not accept")
            if not isinstance(header.get("kid"), str) or not header["kid"]:
                raise Unauthenticated("the token names no key ('kid') of the identity provider")
            key = self.jwks.key(header["kid"])
            algorithms, audience, issuer = [header["alg"]], self.jwks_audience, self.jwks_issuer
        try:
            return jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=audience,
                issuer=issuer,
                leeway=self.leeway_seconds,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("the token's signature does not match; it was not issued for this gateway") from None
        except jwt.InvalidAlgorithmError:
            raise Unauthenticated("the token is signed with an algorithm this gateway does not accept") from None
        except jwt.DecodeError:
            raise Unauthenticated("the token is malformed; expected a signed JWT") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated(f"the token is not meant for this gateway (audience is not {audience!r})") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated(f"the token was not issued by {issuer!r}") from None
        except jwt.MissingRequiredClaimError as error:
            raise Unauthenticated(f"the token has no {error.claim!r} claim") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet (issued in the future)") from None
        except jwt.InvalidTokenError as error:
            raise Unauthenticated(f"the token is invalid: {error}") from None
        except (TypeError, ValueError) as error:  # defensive: a token PyJWT chokes on
            raise Unauthenticated(f"the token is malformed: {error}") from None

    def _caller(self, claims: dict[str, Any]) -> Caller:
        kind = _text(claims, "kind")
        if kind not in KINDS:
            raise Unauthenticated(f"the token's 'kind' claim must be one of {', '.join(sorted(KINDS))}")
        subject = _text(claims, "sub")
        name = _text(claims, "name").strip()
        if not name:
            raise Unauthenticated("the token's 'name' claim is empty")
        if len(name) > _MAX_NAME:
            raise Unauthenticated(f"the token's 'name' claim is longer than {_MAX_NAME} characters")
        roles = _roles(claims)
        office = _text(claims, "office", required=False)
        agency = _text(claims, "agency", required=False)

        if kind == "citizen":
            try:
                subject = fields.national_code(subject)
            except ValueError as error:
                raise Unauthenticated(f"the citizen token's 'sub' is not a valid national code: {error}") from None
            if roles - {APPLICANT}:
                raise Unauthenticated(f"a citizen token's only role is {APPLICANT!r}")
            if office or agency:
                raise Unauthenticated("a citizen token names no office and no agency")
            roles = frozenset({APPLICANT})
        else:
            if not _SUBJECT.match(subject):
                raise Unauthenticated("the token's 'sub' claim must be 1–128 letters, digits or ._:@-")
            if not roles:
                raise Unauthenticated(f"a{'n' if kind == 'agency' else ''} {kind} token has at least one role")
            if kind == "staff":
                if not office:
                    raise Unauthenticated("the token has no 'office' claim")
                if office not in self.offices:
                    raise Unauthenticated(f"the token's office {office!r} is not an office of the organisation")
                if agency:
                    raise Unauthenticated("a staff token names no agency")
            else:
                if not agency:
                    raise Unauthenticated("the token has no 'agency' claim")
                if not _KEBAB.match(agency):
                    raise Unauthenticated("the token's 'agency' claim must be a lowercase kebab-case slug")
                if office:
                    raise Unauthenticated("an agency token names no office")
        return Caller(subject=subject, kind=kind, name=name, roles=roles, office=office, agency=agency)  # type: ignore[arg-type]


def _text(claims: dict[str, Any], claim: str, *, required: bool = True) -> str:
    value = claims.get(claim)
    if value is None:
        if required:
            raise Unauthenticated(f"the token has no {claim!r} claim")
        return ""
    if not isinstance(value, str):
        raise Unauthenticated(f"the token's {claim!r} claim must be a string")
    return value


def _roles(claims: dict[str, Any]) -> frozenset[str]:
    value = claims.get("roles", [])
    if not isinstance(value, list) or not all(isinstance(role, str) for role in value):
        raise Unauthenticated("the token's 'roles' claim must be a list of strings")
    for role in value:
        if not _KEBAB.match(role):
            raise Unauthenticated(f"the token's role {role[:50]!r} is not a lowercase kebab-case name")
    return frozenset(value)


async def caller(request: Request) -> Caller:
    """FastAPI dependency: the caller named by ``Authorization: Bearer <token>``.

    The verifier is ``request.app.state.token_verifier``; the caller is also left on
    ``request.state.caller`` for logging.
    """
    verifier: TokenVerifier | None = getattr(request.app.state, "token_verifier", None)
    if verifier is None:
        raise RuntimeError("app.state.token_verifier is not set: the gateway cannot check tokens")
    header = request.headers.get("authorization", "")
    if not header:
        raise Unauthenticated("this request needs an 'Authorization: Bearer <token>' header")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthenticated("the Authorization header must use the Bearer scheme")
    token = token.strip()
    if verifier.needs_network(token):  # a key fetch must not block the event loop
        result = await asyncio.to_thread(verifier.verify, token)
    else:
        result = verifier.verify(token)
    request.state.caller = result
    return result


# Route parameter type: ``async def route(who: CurrentCaller) -> ...``.
CurrentCaller = Annotated[Caller, Depends(caller)]
