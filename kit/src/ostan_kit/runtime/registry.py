"""The seven office services of the platform (DESIGN.md §2): name, tracking-code prefix and the
gRPC port each listens on by default when the whole platform runs on one machine (its Prometheus
metrics port is the gRPC port + 1000: 51051–51057; the gateway's is 9464)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    code_prefix: str
    default_port: int

    @property
    def default_metrics_port(self) -> int:
        return self.default_port + 1000

    @property
    def package(self) -> str:
        return "ostan_" + self.name.replace("-", "_")

    @property
    def env_prefix(self) -> str:
        return "OSTAN_" + self.name.replace("-", "_").upper() + "_"

    @property
    def stream(self) -> str:
        return "OSTAN_" + self.name.replace("-", "_").upper()


SERVICES: dict[str, ServiceInfo] = {
    info.name: info
    for info in (
        ServiceInfo("political", "PO", 50051),
        ServiceInfo("social", "SO", 50052),
        ServiceInfo("foreign-nationals", "FN", 50053),
        ServiceInfo("urban", "UR", 50054),
        ServiceInfo("admin-finance", "AF", 50055),
        ServiceInfo("economic", "EC", 50056),
        ServiceInfo("governor", "GV", 50057),
    )
}

BY_CODE_PREFIX: dict[str, ServiceInfo] = {info.code_prefix: info for info in SERVICES.values()}
