"""The gateway's gRPC clients of the office services: one channel each (TLS, with the gateway's
client certificate, when configured), a deadline on every call, and the caller passed on as an
assertion signed for the service called."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ostan.common.v1 import (
    case_pb2_grpc,
    catalogue_pb2_grpc,
    event_contracts_pb2_grpc,
    inquiry_pb2_grpc,
    process_pb2_grpc,
    stats_pb2_grpc,
)
from ostan.governor.v1 import register_pb2_grpc
from ostan_gateway.problems import from_remote
from ostan_kit.runtime.errors import describe
from ostan_kit.runtime.telemetry import grpc_client_interceptors
from ostan_kit.security.actors import Actor
from ostan_kit.security.assertions import AssertionSigner


def channel_credentials(ca_file: Path, cert_file: Path | None, key_file: Path | None) -> grpc.ChannelCredentials:
    """TLS to the services, verified against ``ca_file``; with the gateway's own certificate
    and key, mTLS."""
    if bool(cert_file) != bool(key_file):
        raise ValueError("the gateway's client certificate needs its key, and the key its certificate")
    return grpc.ssl_channel_credentials(
        root_certificates=ca_file.read_bytes(),
        private_key=key_file.read_bytes() if key_file else None,
        certificate_chain=cert_file.read_bytes() if cert_file else None,
    )


@dataclass
class ServiceClient:
    name: str
    address: str
    channel: grpc.aio.Channel
    catalogue: catalogue_pb2_grpc.CatalogueServiceStub
    cases: case_pb2_grpc.CaseServiceStub
    processes: process_pb2_grpc.ProcessServiceStub
    inquiries: inquiry_pb2_grpc.InquiryServiceStub
    stats: stats_pb2_grpc.CaseStatsServiceStub
    health: health_pb2_grpc.HealthStub
    contracts: event_contracts_pb2_grpc.EventContractServiceStub
    # Served by the governor's service only.
    register: register_pb2_grpc.SlaRegisterServiceStub


# A name like dns:///urban.ostan.svc.cluster.local:50054 (a headless Service) resolves to every
# pod: round robin spreads the calls over them instead of pinning one connection to one pod.
CHANNEL_OPTIONS = (("grpc.lb_policy_name", "round_robin"),)


class Services:
    def __init__(
        self,
        addresses: dict[str, str],
        signer: AssertionSigner | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        max_message_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self.signer = signer
        self.clients: dict[str, ServiceClient] = {}
        options = [
            *CHANNEL_OPTIONS,
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
        ]
        for name, address in addresses.items():
            # The client instrumentation gives each call a span and carries its traceparent.
            interceptors = grpc_client_interceptors()
            if credentials is None:
                channel = grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)
            else:
                channel = grpc.aio.secure_channel(address, credentials, options=options, interceptors=interceptors)
            self.clients[name] = ServiceClient(
                name=name,
                address=address,
                channel=channel,
                catalogue=catalogue_pb2_grpc.CatalogueServiceStub(channel),
                cases=case_pb2_grpc.CaseServiceStub(channel),
                processes=process_pb2_grpc.ProcessServiceStub(channel),
                inquiries=inquiry_pb2_grpc.InquiryServiceStub(channel),
                stats=stats_pb2_grpc.CaseStatsServiceStub(channel),
                health=health_pb2_grpc.HealthStub(channel),
                contracts=event_contracts_pb2_grpc.EventContractServiceStub(channel),
                register=register_pb2_grpc.SlaRegisterServiceStub(channel),
            )

    def __getitem__(self, name: str) -> ServiceClient:
        return self.clients[name]

    async def call(self, service: str, method: Any, request: Any, timeout: float, actor: Actor | None = None) -> Any:
        """Call ``method`` of ``service`` for ``actor``; a failure becomes the problem the client
        should see."""
        metadata: tuple[tuple[str, str], ...] = ()
        if actor is not None:
            if self.signer is None:
                raise RuntimeError("the gateway has no assertion key: it cannot pass a caller on")
            metadata += self.signer.metadata(actor, audience=service)
        try:
            return await method(request, timeout=timeout, metadata=metadata)
        except grpc.aio.AioRpcError as error:
            raise from_remote(service, describe(error)) from error

    async def health(self, timeout: float) -> dict[str, str]:
        """Each service's overall health status name, or why it could not be asked."""

        async def check(client: ServiceClient) -> str:
            try:
                response = await client.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
            except grpc.aio.AioRpcError as error:
                return error.code().name
            return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

        names = list(self.clients)
        statuses = await asyncio.gather(*(check(self.clients[name]) for name in names))
        return dict(zip(names, statuses, strict=True))

    async def close(self) -> None:
        await asyncio.gather(*(client.channel.close() for client in self.clients.values()))

