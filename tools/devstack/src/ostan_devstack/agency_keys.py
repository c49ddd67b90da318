"""The agency simulator's signing keys: one Ed25519 key per agency, kept in the local run's state
folder (``<state>/agencies/<agency>.pem``) so they outlive a restart, and the JWKS of their public
halves (``<state>/agencies/agency-keys.json``: agency id -> JWKS) that every service is pointed at
(``OSTAN_<SERVICE>_AGENCY_KEYS_FILE``) to verify the agencies' answers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from ostan_kit.inquiries.types import agencies as known_agencies

AGENCY_KEYS_FILE = "agency-keys.json"


def thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 thumbprint of an OKP key (SHA-256 of its required members, in order)."""
    required = json.dumps({name: jwk[name] for name in ("crv", "kty", "x")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(required.encode()).digest()).rstrip(b"=").decode()


class AgencyKeyring:
    """The agencies' private keys under ``folder`` (made on first use; in memory only when
    ``folder`` is None, as tests like) and what they sign."""

    def __init__(self, folder: Path | None, agencies: Iterable[str] | None = None) -> None:
        self.folder = folder
        self.agencies = list(agencies) if agencies is not None else list(known_agencies())
        self._keys: dict[str, Ed25519PrivateKey] = {}

    @property
    def jwks_file(self) -> Path:
        if self.folder is None:
            raise ValueError("an in-memory keyring has no files")
        return self.folder / AGENCY_KEYS_FILE

    def private_key(self, agency: str) -> Ed25519PrivateKey:
        if agency not in self._keys and self.folder is None:
            self._keys[agency] = Ed25519PrivateKey.generate()
        if agency not in self._keys:
            assert self.folder is not None
            path = self.folder / f"{agency}.pem"
            if not path.exists():
                self.folder.mkdir(parents=True, exist_ok=True)
                pem = Ed25519PrivateKey.generate().private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
                try:  # another process may make it at the same moment: the first one wins
                    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(descriptor, "wb") as file:
                        file.write(pem)
                except FileExistsError:
                    pass
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path} is not an Ed25519 private key")
            self._keys[agency] = key
        return self._keys[agency]

    def jwk(self, agency: str) -> dict[str, Any]:
        """The public half of the agency's key as a JWK, with its kid (the agency and the thumbprint)."""
        jwk = OKPAlgorithm.to_jwk(self.private_key(agency).public_key(), as_dict=True)
        return {**jwk, "kid": f"{agency}-{thumbprint(jwk)[:16]}", "alg": "EdDSA", "use": "sig"}

    def document(self) -> dict[str, dict[str, list[dict[str, Any]]]]:
        return {agency: {"keys": [self.jwk(agency)]} for agency in self.agencies}

    def publish(self) -> Path:
        """Write the agencies' JWKS file (atomically, and only when it changed); its path."""
        text = json.dumps(self.document(), indent=2, sort_keys=True) + "\n"
        path = self.jwks_file
        if not path.exists() or path.read_text("utf-8") != text:
            assert self.folder is not None
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}")
            temporary.write_text(text, "utf-8")
            os.replace(temporary, path)
        return path

    def sign(self, agency: str, body: dict[str, Any]) -> str:
        """A compact JWS (EdDSA) of ``body`` with the agency's key."""
        return jwt.encode(body, self.private_key(agency), algorithm="EdDSA", headers={"kid": self.jwk(agency)["kid"]})


def ensure_agency_keys(folder: Path) -> Path:
    """The local run's agency keys under ``folder``, made on first use; the JWKS file's path."""
    return AgencyKeyring(folder).publish()
