"""The caller, as the gateway vouches for it: a short-lived JWT the gateway signs with its
Ed25519 key (EdDSA) for one service only (``aud`` = the service's name), carried in one gRPC
metadata header. A service believes nothing else about who is calling.

Keys are PEM: the gateway holds the private key, every service the public key, each by
configuration (a value or a file). ``python -m ostan_kit.security.assertions keys <folder>``
writes a fresh pair for a local run.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ostan_kit.security.actors import KINDS, Actor

HEADER = "x-ostan-caller-assertion"
ISSUER = "ostan-gateway"
ALGORITHM = "EdDSA"
TTL_SECONDS = 60
LEEWAY_SECONDS = 5
MAX_ASSERTION_BYTES = 4096
# The system acts only inside a service (its timers); the gateway never vouches for it.
CALLER_KINDS = KINDS - {"system"}
PRIVATE_KEY_FILE = "gateway-assertion-key.pem"
PUBLIC_KEY_FILE = "gateway-assertion-key.pub.pem"


class InvalidAssertion(ValueError):
    """The call carries no caller assertion this service can believe; the message says why."""


def generate_key_pair() -> tuple[bytes, bytes]:
    """A new Ed25519 pair as (private PEM, public PEM)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def ensure_key_pair(folder: Path) -> tuple[Path, Path]:
    """The local pair under ``folder`` (private, public), made on first use; for local runs only."""
    folder.mkdir(parents=True, exist_ok=True)
    private_path, public_path = folder / PRIVATE_KEY_FILE, folder / PUBLIC_KEY_FILE
    if not private_path.exists() or not public_path.exists():
        private, public = generate_key_pair()
        private_path.touch(mode=0o600)
        private_path.write_bytes(private)
        public_path.write_bytes(public)
    return private_path, public_path


def _pem(value: str, path: Path | None, what: str) -> bytes:
    if value and path:
        raise ValueError(f"give the {what} as a value or as a file, not both")
    if path:
        return Path(path).read_bytes()
    return value.encode()


def load_private_key(value: str = "", path: Path | None = None) -> Ed25519PrivateKey:
    pem = _pem(value, path, "gateway's assertion key")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise ValueError(f"the gateway's assertion key is not a PEM private key: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the gateway's assertion key must be an Ed25519 key")
    return key


def load_public_key(value: str = "", path: Path | None = None) -> Ed25519PublicKey:
    pem = _pem(value, path, "gateway's public key")
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as error:
        raise ValueError(f"the gateway's public key is not a PEM public key: {error}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the gateway's public key must be an Ed25519 key")
    return key


class AssertionSigner:
    """The gateway's side: one fresh assertion per call, for the service called."""

    def __init__(self, key: Ed25519PrivateKey, issuer: str = ISSUER, ttl_seconds: int = TTL_SECONDS) -> None:
        self._key = key
        self.issuer = issuer
        self.ttl_seconds = ttl_seconds

    def sign(self, actor: Actor, audience: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "sub": actor.subject,
            "iat": now,
            "exp": now + self.ttl_seconds,
            "jti": uuid.uuid4().hex,
            "kind": actor.kind,
            "name": actor.name,
            "roles": sorted(actor.roles),
        }
        if actor.office:
            claims["office"] = actor.office
        if actor.agency:
            claims["agency"] = actor.agency
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def metadata(self, actor: Actor, audience: str) -> tuple[tuple[str, str], ...]:
        return ((HEADER, self.sign(actor, audience)),)


class _SeenAssertions:
    """Assertion ids seen until they expire: a copied assertion is not accepted twice."""

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_time(self, jti: str, expires_at: float) -> bool:
        now = time.time()
        with self._lock:
            if len(self._expiry) >= self.limit:
                self._expiry = {key: at for key, at in self._expiry.items() if at > now}
                if len(self._expiry) >= self.limit:
                    return False  # flooded: refuse rather than forget
            if jti in self._expiry and self._expiry[jti] > now:
                return False
            self._expiry[jti] = expires_at + LEEWAY_SECONDS
            return True


class AssertionVerifier:
    """A service's side: the caller from a call's metadata, or ``InvalidAssertion``."""

    def __init__(
        self, key: Ed25519PublicKey, audience: str, issuer: str = ISSUER, leeway_seconds: int = LEEWAY_SECONDS
    ) -> None:
        self._key = key
        self.audience = audience
        self.issuer = issuer
        self.leeway_seconds = leeway_seconds
        self._seen = _SeenAssertions()

    def actor_from(self, metadata: Iterable[tuple[str, Any]]) -> Actor:
        tokens = [value for key, value in metadata if key.lower() == HEADER]
        if not tokens:
            raise InvalidAssertion(f"the call carries no caller assertion ({HEADER}); call through the gateway")
        if len(tokens) > 1:
            raise InvalidAssertion(f"the call carries more than one {HEADER}")
        token = tokens[0]
        return self.verify(token.decode("ascii", "replace") if isinstance(token, bytes) else str(token))

    def verify(self, token: str) -> Actor:
        if len(token) > MAX_ASSERTION_BYTES:
            raise InvalidAssertion("the caller assertion is too long")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": ["iss", "aud", "sub", "exp", "iat", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidAssertion("the caller assertion has expired") from None
        except jwt.InvalidSignatureError:
            raise InvalidAssertion("the caller assertion is not signed by the gateway") from None
        except jwt.InvalidAudienceError:
            raise InvalidAssertion(f"the caller assertion is not meant for the {self.audience} service") from None
        except jwt.InvalidIssuerError:
            raise InvalidAssertion(f"the caller assertion was not issued by {self.issuer!r}") from None
        except jwt.InvalidAlgorithmError:
            raise InvalidAssertion(f"the caller assertion must be signed with {ALGORITHM}") from None
        except jwt.MissingRequiredClaimError as error:
            raise InvalidAssertion(f"the caller assertion has no {error.claim!r} claim") from None
        except jwt.InvalidTokenError as error:
            raise InvalidAssertion(f"the caller assertion is invalid: {error}") from None
        except (TypeError, ValueError) as error:
            raise InvalidAssertion(f"the caller assertion is malformed: {error}") from None
        if claims["exp"] - claims["iat"] > TTL_SECONDS * 5:
            raise InvalidAssertion("the caller assertion lives too long to be a gateway's")
        actor = _actor(claims)
        if not self._seen.first_time(str(claims["jti"]), float(claims["exp"])):
            raise InvalidAssertion("the caller assertion was used before; each call carries a new one")
        return actor


def _actor(claims: dict[str, Any]) -> Actor:
    kind, subject = claims.get("kind"), claims.get("sub")
    if kind not in CALLER_KINDS:
        raise InvalidAssertion(f"the caller assertion's kind {kind!r} is not one of {', '.join(sorted(CALLER_KINDS))}")
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise InvalidAssertion("the caller assertion's roles must be a list of names")
    texts = {name: claims.get(name, "") for name in ("name", "office", "agency")}
    if not isinstance(subject, str) or not subject or not all(isinstance(value, str) for value in texts.values()):
        raise InvalidAssertion("the caller assertion's sub, name, office and agency must be text")
    return Actor(
        subject=subject,
        kind=kind,  # type: ignore[arg-type]
        name=texts["name"],
        roles=frozenset({"applicant"}) if kind == "citizen" else frozenset(roles),
        office=texts["office"],
        agency=texts["agency"],
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "keys":
        print("usage: python -m ostan_kit.security.assertions keys <folder>", file=sys.stderr)
        return 2
    private, public = ensure_key_pair(Path(args[1]))
    print(f"private key (the gateway's): {private}\npublic key (every service's): {public}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
