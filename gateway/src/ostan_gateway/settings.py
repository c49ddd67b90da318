"""Gateway settings from ``OSTAN_GATEWAY_*`` environment variables.

Outside a local run the gateway starts only with its keys configured: the Ed25519 key it signs
caller assertions with (``ASSERTION_KEY`` or ``ASSERTION_KEY_FILE``) and at least one token
issuer (``JWKS_URL`` with ``JWKS_ISSUER``, and/or ``JWT_SECRET`` / ``JWT_SECRET_FILE``). Local
mode (``LOCAL_KEYS_DIR``, set by the development stack) takes whatever is not configured from
that folder, making it on first use.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ostan_gateway.auth import ensure_local_secret
from ostan_kit.processes.definitions import MAX_DOCUMENT_BYTES
from ostan_kit.runtime.registry import SERVICES
from ostan_kit.security.assertions import ensure_key_pair

SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"

# Room in a gRPC message for what travels beside a document's bytes.
ENVELOPE_BYTES = 1 << 20


class ServiceEndpoint(BaseModel):
    """One office service the gateway calls: its gRPC address and the prefix of its tracking codes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str = Field(min_length=3)
    code_prefix: str = Field(pattern=r"^[A-Z]{2}$")


def default_services() -> dict[str, ServiceEndpoint]:
    """Every service of the registry on its local default port: the local run's configuration."""
    return {
        name: ServiceEndpoint(address=f"127.0.0.1:{info.default_port}", code_prefix=info.code_prefix)
        for name, info in SERVICES.items()
    }


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OSTAN_GATEWAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"
    # The office services, as JSON in OSTAN_GATEWAY_SERVICES or YAML in OSTAN_GATEWAY_SERVICES_FILE:
    # {"urban": {"address": "urban:50051", "code_prefix": "UR"}, …}. Unset: the registry's services
    # on their local ports.
    services: dict[str, ServiceEndpoint] = Field(default_factory=default_services)
    services_file: Path | None = None
    # Prometheus metrics on a port of their own (on host); 0 turns them off.
    metrics_port: int = Field(default=9464, ge=0)
    # Where a local run keeps the gateway's spans as OTLP JSON lines; unset: nowhere.
    traces_dir: Path | None = None
    # Connections to each service: calls take them in turn, so a service running several
    # worker processes on one port (the kernel gives each connection to one) gets them all busy.
    channels_per_service: int = Field(default=4, ge=1, le=64)
    # Deadlines of the gRPC calls, in seconds.
    catalogue_deadline: float = Field(default=2.0, gt=0)
    case_deadline: float = Field(default=5.0, gt=0)
    health_deadline: float = Field(default=1.0, gt=0)
    # How long an aggregated catalogue is served before the services are asked again; a
    # catalogue with a missing service is asked again after at most a second.
    catalogue_ttl_seconds: float = Field(default=10.0, ge=0)
    # The local issuer's HS256 secret (at least 32 bytes), as a value or a file.
    jwt_secret: str = ""
    jwt_secret_file: Path | None = None
    # The identity provider: its JWKS, issuer and the audience its tokens name for the gateway.
    jwks_url: str = ""
    jwks_issuer: str = ""
    jwks_audience: str = "ostan-gateway"
    jwks_max_age_seconds: float = Field(default=3600, gt=0)
    # The Ed25519 private key (PEM) caller assertions are signed with, as a value or a file.
    assertion_key: str = ""
    assertion_key_file: Path | None = None
    # The gateway's address as the public reaches it, for the links printed in issued documents'
    # QR codes (e.g. https://khedmat.ostan-qz.ir); unset: the address the request came to.
    public_url: str = ""
    # Local mode: keys not configured above come from (and are made in) this folder.
    local_keys_dir: Path | None = None
    # TLS to the services: the CA their certificates chain to, and the gateway's own client
    # certificate and key for mTLS. Plaintext when tls_ca_file is unset.
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # Larger uploads are refused before they reach a service (each document kind has its own,
    # usually smaller, limit in its process definition); by default the largest any may have.
    max_document_bytes: int = Field(default=MAX_DOCUMENT_BYTES, gt=0)
    # A JSON body larger than this is refused (413) before it is parsed.
    max_json_bytes: int = Field(default=1_000_000, gt=0)
    # Inquiries: the deadline of each service's answer, how long the types are kept, each
    # agency's rate, and the folder of the Ed25519 keys answers are signed with (newest signs;
    # unset: <local_keys_dir>/inquiries in a local run, else one key in memory).
    inquiry_deadline: float = Field(default=3.0, gt=0)
    inquiry_types_ttl_seconds: float = Field(default=10.0, ge=0)
    inquiry_rate_per_minute: int = Field(default=120, ge=1)
    inquiry_keys_dir: Path | None = None

    @property
    def max_message_bytes(self) -> int:
        """The largest gRPC message the gateway sends to or takes from a service."""
        return self.max_document_bytes + ENVELOPE_BYTES

    @field_validator("services", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {name: _endpoint(name, spec) for name, spec in value.items()}
        return value

    @field_validator("services")
    @classmethod
    def _names(cls, value: dict[str, ServiceEndpoint]) -> dict[str, ServiceEndpoint]:
        for name in value:
            if not re.match(SLUG, name):
                raise ValueError(f"service name {name!r} is not a lowercase kebab-case slug")
        prefixes = [endpoint.code_prefix for endpoint in value.values()]
        if len(set(prefixes)) != len(prefixes):
            raise ValueError("two services share a tracking-code prefix")
        return value

    def configured_services(self) -> dict[str, ServiceEndpoint]:
        if self.services_file is None:
            return self.services
        raw = yaml.safe_load(self.services_file.read_text("utf-8")) or {}
        raw = raw.get("services", raw) if isinstance(raw, dict) else raw
        return GatewaySettings.model_validate({"services": raw}).services

    def token_secret(self) -> str | None:
        if self.jwt_secret and self.jwt_secret_file:
            raise ValueError("give OSTAN_GATEWAY_JWT_SECRET or OSTAN_GATEWAY_JWT_SECRET_FILE, not both")
        if self.jwt_secret_file:
            return self.jwt_secret_file.read_text().strip()
        if self.jwt_secret:
            return self.jwt_secret
        if self.local_keys_dir:
            return ensure_local_secret(self.local_keys_dir)
        return None

    def inquiry_keys(self) -> Path | None:
        if self.inquiry_keys_dir:
            return self.inquiry_keys_dir
        return self.local_keys_dir / "inquiries" if self.local_keys_dir else None

    def assertion_key_source(self) -> tuple[str, Path | None]:
        if self.assertion_key or self.assertion_key_file:
            return self.assertion_key, self.assertion_key_file
        if self.local_keys_dir:
            private, _public = ensure_key_pair(self.local_keys_dir)
            return "", private
        raise ValueError(
            "the gateway has no key to sign caller assertions with: set OSTAN_GATEWAY_ASSERTION_KEY_FILE "
            "(an Ed25519 private key, PEM) or, for a local run only, OSTAN_GATEWAY_LOCAL_KEYS_DIR"
        )


def _endpoint(name: str, spec: Any) -> Any:
    """A service given as its address alone takes the registry's tracking-code prefix."""
    if isinstance(spec, str):
        info = SERVICES.get(name)
        if info is None:
            raise ValueError(f"service {name!r} is not in the registry: give its code_prefix as well")
        return {"address": spec, "code_prefix": info.code_prefix}
    return spec


def services_json(services: dict[str, ServiceEndpoint]) -> str:
    return json.dumps({name: endpoint.model_dump() for name, endpoint in services.items()})
