"""Settings from environment variables, one prefix per service (e.g. ``OSTAN_URBAN_GRPC_PORT``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ostan_kit.runtime.registry import SERVICES


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    service: str
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 0
    # Worker processes serving the port together (SO_REUSEPORT); one per core is the most a
    # service can use. Several need a fixed port.
    workers: int = Field(default=1, ge=1, le=64)
    # Set by the supervisor for each of several workers: the port is shared (SO_REUSEPORT).
    shares_port: bool = False
    # Default: an SQLite file under state_dir; production: postgresql+asyncpg://…
    database_url: str = ""
    nats_url: str = "nats://127.0.0.1:14222"
    # The nkey seed file of this service's bus identity (``service-<name>``); the bus refuses
    # anyone without one, except a bus started without authorisation.
    nats_seed_file: Path | None = None
    # JetStream drops a republished event within this window; beyond it consumers' inboxes do.
    duplicate_window_seconds: float = Field(default=120.0, gt=0)
    # How long the streams keep events (days; 0 keeps them forever): the service's own full
    # events, what agencies receive, and parked (dead-letter) events.
    events_max_age_days: float = Field(default=365.0, ge=0)
    agency_events_max_age_days: float = Field(default=365.0, ge=0)
    dead_letter_max_age_days: float = Field(default=90.0, ge=0)
    # A consumer parks an event after its handler failed this many times.
    consumer_max_deliver: int = Field(default=5, ge=1)
    state_dir: Path = Path(".ostan")
    log_level: str = "INFO"
    migrate_on_start: bool = True
    # gRPC server reflection (for grpcurl and the like): off unless asked for.
    reflection: bool = False
    # The gateway's Ed25519 public key (PEM), as a value or a file: the service believes only
    # callers the gateway vouches for with it. Without one, every call but the catalogue's and
    # health's is refused.
    gateway_public_key: str = ""
    gateway_public_key_file: Path | None = None
    # The Ed25519 private key (PEM) the service signs what granted cases issue with (permits,
    # licences…), as a value or a file. Without one, a case whose definition issues something
    # cannot reach its granted state.
    issuing_key: str = ""
    issuing_key_file: Path | None = None
    # The agencies' public keys their answers to case steps' inquiries are verified with: a JSON
    # file mapping each agency id to its JWKS (OKP/Ed25519 keys, each with a kid), read again when
    # it changes. An agency without keys there (or every agency, when unset) is refused.
    agency_keys_file: Path | None = None
    # TLS: the server's certificate chain and key (PEM files); with client_ca_file as well,
    # only clients with a certificate that CA signed may connect (mTLS). Plaintext when unset.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    # How often the database and the bus are probed for the health service.
    health_interval_seconds: float = Field(default=1.0, gt=0)
    # How long in-flight calls may run after SIGTERM before they are cancelled.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_batch: int = Field(default=100, ge=1)
    # Where the catalogue entries are read from; by default the service's own catalogue/ folder.
    catalogue_dir: Path | None = None
    # Where case documents are kept (by content hash); by default <state_dir>/documents/<service>.
    documents_dir: Path | None = None
    # The weekend days SLAs skip, besides Iran's official holidays (e.g. ["thursday", "friday"]).
    weekend: list[str] = ["friday"]
    # How often due SLA timers are looked for.
    timer_poll_seconds: float = Field(default=5.0, gt=0)
    # The largest gRPC message the server receives or sends; by default the service's largest
    # document (from its process definitions) plus room for the rest of the call.
    max_message_bytes: int | None = Field(default=None, gt=0)
    # How often the audit chain's head is published (when it has moved since the last time).
    audit_head_seconds: float = Field(default=60.0, gt=0)
    # Prometheus metrics on a port of their own (on grpc_host); 0 turns them off.
    metrics_port: int = Field(default=-1, ge=-1)
    # Where a local run keeps its spans as OTLP JSON lines; unset: nowhere (OTLP by OTEL_* only).
    traces_dir: Path | None = None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        path = (self.state_dir / "db" / f"{self.service}.db").resolve()
        return f"sqlite+aiosqlite:///{path}"

    @property
    def resolved_documents_dir(self) -> Path:
        return (self.documents_dir or self.state_dir / "documents" / self.service).resolve()


def load_settings(service: str) -> ServiceSettings:
    """The settings of ``service`` from its environment prefix, e.g. ``OSTAN_FOREIGN_NATIONALS_``."""
    info = SERVICES[service]
    settings = ServiceSettings(_env_prefix=info.env_prefix, service=service)
    if not settings.grpc_port:
        settings = settings.model_copy(update={"grpc_port": info.default_port})
    if settings.metrics_port < 0:
        settings = settings.model_copy(update={"metrics_port": info.default_metrics_port})
    return settings
