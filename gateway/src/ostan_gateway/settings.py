"""Gateway settings from ``OSTAN_GATEWAY_*`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ostan_gateway.auth import DEV_SECRET
from ostan_kit.runtime.registry import SERVICES


def _default_addresses() -> dict[str, str]:
    return {name: f"127.0.0.1:{info.default_port}" for name, info in SERVICES.items()}


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OSTAN_GATEWAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"
    # host:port of each office service's gRPC server, as JSON in OSTAN_GATEWAY_SERVICES.
    services: dict[str, str] = Field(default_factory=_default_addresses)
    # Deadlines of the gRPC calls, in seconds.
    catalogue_deadline: float = Field(default=2.0, gt=0)
    case_deadline: float = Field(default=5.0, gt=0)
    health_deadline: float = Field(default=1.0, gt=0)
    # How long an aggregated catalogue is served before the services are asked again; a
    # catalogue with a missing service is asked again after at most a second.
    catalogue_ttl_seconds: float = Field(default=10.0, ge=0)
    # The key bearer tokens are signed with (HS256). The default is for local runs only.
    jwt_secret: str = Field(default=DEV_SECRET, min_length=32)
    # Larger uploads are refused before they reach a service (each document kind has its own
    # smaller limit in its process definition).
    max_document_bytes: int = Field(default=20_000_000, gt=0)
