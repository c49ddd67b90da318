"""The keys inquiry answers are signed with: Ed25519, published as a JWKS, rotated by adding a key.

Keys are PKCS#8 PEM files in one folder (``OSTAN_GATEWAY_INQUIRY_KEYS_DIR``); the file names sort
by age (``python -m ostan_gateway.signing rotate`` names them by the time they were made), the
newest signs and every key stays published, so an answer signed before a rotation still
verifies. A key's ``kid`` is its RFC 7638 thumbprint. Without a folder the gateway makes one key
in memory (local runs and tests): its answers verify only while that process lives.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

log = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
# The media type of a signed answer (RFC 7515 §4.1.9 "typ").
ANSWER_TYPE = "ostan-inquiry-answer+jws"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    name: str

    @property
    def public_jwk(self) -> dict[str, str]:
        raw = self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64(raw)}

    @property
    def kid(self) -> str:
        # RFC 7638: SHA-256 of the required members, in lexicographic order, no whitespace.
        return _b64(hashlib.sha256(json.dumps(self.public_jwk, sort_keys=True, separators=(",", ":")).encode()).digest())

    def jwk(self) -> dict[str, str]:
        return {**self.public_jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}


def new_key_file(folder: Path, now: datetime | None = None) -> Path:
    """Write a new private key into ``folder``, named so that it sorts after every older one."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"inquiry-{stamp}.pem"
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.touch(mode=0o600)
    path.write_bytes(pem)
    return path


class AnswerSigner:
    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys:
            raise ValueError("an answer signer needs at least one key")
        self.keys = keys

    @classmethod
    def from_folder(cls, folder: Path | None, *, create: bool = False) -> AnswerSigner:
        if folder is None:
            log.warning("OSTAN_GATEWAY_INQUIRY_KEYS_DIR is not set: inquiry answers are signed with a key kept in memory")
            return cls([SigningKey(Ed25519PrivateKey.generate(), "in-memory")])
        paths = sorted(folder.glob("*.pem")) if folder.is_dir() else []
        if not paths and create:
            paths = [new_key_file(folder)]
        keys = []
        for path in paths:
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(private, Ed25519PrivateKey):
                raise ValueError(f"{path}: not an Ed25519 private key")
            keys.append(SigningKey(private, path.name))
        if not keys:
            raise ValueError(f"{folder}: no inquiry signing keys (*.pem); make one with python -m ostan_gateway.signing rotate")
        return cls(keys)

    @property
    def current(self) -> SigningKey:
        return self.keys[-1]

    def jwks(self) -> dict[str, Any]:
        """Every key, newest first."""
        return {"keys": [key.jwk() for key in reversed(self.keys)]}

    def sign(self, answer: dict[str, Any]) -> str:
        """A compact JWS over the answer's RFC 8785 canonical JSON."""
        key = self.current
        return jwt.PyJWS().encode(
            rfc8785.dumps(answer), key.private, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": ANSWER_TYPE}
        )


def canonical_sha256(value: Any) -> str:
    return hashlib.sha256(rfc8785.dumps(value)).hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ostan_gateway.signing", description="Manage the gateway's inquiry signing keys."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    rotate = commands.add_parser("rotate", help="add a new key; it signs from the gateway's next start")
    rotate.add_argument("--dir", type=Path, required=True, help="the keys folder (OSTAN_GATEWAY_INQUIRY_KEYS_DIR)")
    listing = commands.add_parser("jwks", help="print the public keys as a JWKS")
    listing.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "rotate":
        path = new_key_file(args.dir)
        print(f"{path}  kid={AnswerSigner.from_folder(args.dir).current.kid}")
    else:
        print(json.dumps(AnswerSigner.from_folder(args.dir).jwks(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
