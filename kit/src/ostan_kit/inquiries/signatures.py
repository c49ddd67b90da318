"""The agencies' signatures on their answers to case steps' inquiries: an answer counts only if it
is a JWS (EdDSA, Ed25519) made with a key the service was configured to trust for that agency, and
the signed payload says what the event says (X-Road-style: signed messages, deny by default).

The keys are configuration, not code: ``OSTAN_<SERVICE>_AGENCY_KEYS_FILE`` names a JSON file that
maps each agency id to its JWKS (RFC 7517; OKP/Ed25519 public keys, each with a ``kid``)::

    {"police": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "…", "kid": "police-2026"}]}, …}

An agency with no keys there is refused (deny by default). The file is read again when it changes
(a mounted ConfigMap that is updated, a key that is added to rotate), so a new key needs no restart.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import jwt
from google.protobuf import json_format

from ostan.common.v1 import events_pb2

log = logging.getLogger(__name__)
ALGORITHM = "EdDSA"
# The fields of the event the signed payload must repeat exactly.
BOUND_FIELDS = ("request_id", "agency", "verdict")


class AnswerRefused(Exception):
    """An answer whose signature does not make it the agency's own: it is not recorded."""


class AgencyKeysError(ValueError):
    """An agency keys file that cannot be used."""


def _public_keys(agency: str, jwks: Any, origin: str) -> dict[str, jwt.PyJWK]:
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise AgencyKeysError(f"{origin}: {agency}: not a JWKS (an object with a list of keys)")
    keys: dict[str, jwt.PyJWK] = {}
    for number, jwk in enumerate(jwks["keys"]):
        if not isinstance(jwk, dict):
            raise AgencyKeysError(f"{origin}: {agency}: key {number} is not an object")
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AgencyKeysError(f"{origin}: {agency}: key {number} has no kid")
        if (jwk.get("kty"), jwk.get("crv")) != ("OKP", "Ed25519"):
            raise AgencyKeysError(f"{origin}: {agency}: key {kid} is not an OKP/Ed25519 key")
        if "d" in jwk:
            raise AgencyKeysError(f"{origin}: {agency}: key {kid} holds a private part; publish public keys only")
        if jwk.get("alg", ALGORITHM) != ALGORITHM:
            raise AgencyKeysError(f"{origin}: {agency}: key {kid} is for {jwk['alg']}, not {ALGORITHM}")
        if kid in keys:
            raise AgencyKeysError(f"{origin}: {agency}: kid {kid} appears twice")
        try:
            keys[kid] = jwt.PyJWK(jwk, algorithm=ALGORITHM)
        except jwt.PyJWTError as error:
            raise AgencyKeysError(f"{origin}: {agency}: key {kid}: {error}") from error
    return keys


def parse_agency_keys(document: Any, origin: str = "agency keys") -> dict[str, dict[str, jwt.PyJWK]]:
    """Agency id -> kid -> public key, from the mapping of agency id to JWKS."""
    if not isinstance(document, dict):
        raise AgencyKeysError(f"{origin}: not an object mapping agency ids to JWKS")
    return {str(agency): _public_keys(str(agency), jwks, origin) for agency, jwks in document.items()}


class AgencyKeys:
    """The agencies' public keys a service trusts, and the check of an answer against them."""

    def __init__(self, keys: dict[str, dict[str, jwt.PyJWK]] | None = None, path: Path | None = None) -> None:
        self._keys = keys or {}
        self.path = path
        self._stamp: tuple[int, int] | None = None

    @classmethod
    def from_document(cls, document: Any) -> AgencyKeys:
        return cls(parse_agency_keys(document))

    @classmethod
    def from_file(cls, path: Path | None) -> AgencyKeys:
        """The keys in ``path`` (none when unset: every agency is refused). A file that is missing
        or unreadable at start is an error; later it is read again whenever it changes."""
        keys = cls(path=path)
        if path is not None:
            keys._keys, keys._stamp = cls._read(path)
        return keys

    @staticmethod
    def _read(path: Path) -> tuple[dict[str, dict[str, jwt.PyJWK]], tuple[int, int]]:
        stat = path.stat()
        try:
            document = json.loads(path.read_text("utf-8"))
        except ValueError as error:
            raise AgencyKeysError(f"{path}: not JSON: {error}") from error
        return parse_agency_keys(document, str(path)), (stat.st_mtime_ns, stat.st_size)

    def _refresh(self) -> None:
        if self.path is None:
            return
        try:
            stat = os.stat(self.path)
            if (stat.st_mtime_ns, stat.st_size) == self._stamp:
                return
            self._keys, self._stamp = self._read(self.path)
            log.info("agency keys read", extra={"path": str(self.path), "agencies": len(self._keys)})
        except (OSError, AgencyKeysError) as error:  # keep what was read last
            log.error("agency keys not read again; keeping the previous ones", extra={"error": str(error)})

    def agencies(self) -> list[str]:
        self._refresh()
        return sorted(agency for agency, keys in self._keys.items() if keys)

    def verify(self, answer: events_pb2.InquiryAnswered) -> dict[str, Any]:
        """The signed payload of ``answer``, or AnswerRefused saying why it is not the agency's."""
        self._refresh()
        agency = answer.agency
        keys = self._keys.get(agency)
        if not keys:
            log.warning(
                "no keys configured for the agency: its answers are refused (deny by default)",
                extra={"agency": agency, "request_id": answer.request_id},
            )
            raise AnswerRefused(f"no keys are configured for agency {agency!r}: its answers are refused")
        token = answer.signature
        if not token:
            raise AnswerRefused("the answer is not signed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise AnswerRefused(f"the signature is not a compact JWS: {error}") from error
        if header.get("alg") != ALGORITHM:
            raise AnswerRefused(f"the signature's algorithm {header.get('alg')!r} is not {ALGORITHM}")
        kid = header.get("kid")
        key = keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise AnswerRefused(f"the signature's key {kid!r} is not one of agency {agency!r}'s keys")
        try:
            claims = jwt.decode(token, key.key, algorithms=[ALGORITHM], options={"verify_aud": False})
        except jwt.InvalidSignatureError as error:
            raise AnswerRefused(f"the signature does not verify with agency {agency!r}'s key {kid!r}") from error
        except jwt.PyJWTError as error:
            raise AnswerRefused(f"the signature is not valid: {error}") from error
        for name in BOUND_FIELDS:
            if claims.get(name) != getattr(answer, name):
                raise AnswerRefused(f"the signed {name} {claims.get(name)!r} is not the answer's {getattr(answer, name)!r}")
        body = json_format.MessageToDict(answer.answer)
        if body and claims.get("answer") != body:
            raise AnswerRefused("the answer's body is not the one signed")
        return claims
