"""The gateway's gRPC clients of the office services: a few channels each, each its own connection
(TLS, with the gateway's client certificate, when configured), a deadline on every call, and the
caller passed on as an assertion signed for the service called.

A service may run several worker processes on one port (SO_REUSEPORT); the kernel gives each
connection to one of them, so calls spread over the workers only across several connections:
the calls take the channels in turn."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ostan.common.v1 import (
    case_pb2_grpc,
    catalogue_pb2_grpc,
    event_contracts_pb2_grpc,
    inquiry_pb2_grpc,
    issued_pb2_grpc,
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
class Stubs:
    catalogue: catalogue_pb2_grpc.CatalogueServiceStub
    cases: case_pb2_grpc.CaseServiceStub
    processes: process_pb2_grpc.ProcessServiceStub
    issued: issued_pb2_grpc.IssuedDocumentServiceStub
    verification: issued_pb2_grpc.VerificationServiceStub
    inquiries: inquiry_pb2_grpc.InquiryServiceStub
    stats: stats_pb2_grpc.CaseStatsServiceStub
    health: health_pb2_grpc.HealthStub
    contracts: event_contracts_pb2_grpc.EventContractServiceStub
    # Served by the governor's service only.
    register: register_pb2_grpc.SlaRegisterServiceStub

    @classmethod
    def of(cls, channel: grpc.aio.Channel) -> Stubs:
        return cls(
            catalogue=catalogue_pb2_grpc.CatalogueServiceStub(channel),
            cases=case_pb2_grpc.CaseServiceStub(channel),
            processes=process_pb2_grpc.ProcessServiceStub(channel),
            issued=issued_pb2_grpc.IssuedDocumentServiceStub(channel),
            verification=issued_pb2_grpc.VerificationServiceStub(channel),
            inquiries=inquiry_pb2_grpc.InquiryServiceStub(channel),
            stats=stats_pb2_grpc.CaseStatsServiceStub(channel),
            health=health_pb2_grpc.HealthStub(channel),
            contracts=event_contracts_pb2_grpc.EventContractServiceStub(channel),
            register=register_pb2_grpc.SlaRegisterServiceStub(channel),
        )


UNUSABLE = frozenset({grpc.ChannelConnectivity.TRANSIENT_FAILURE, grpc.ChannelConnectivity.SHUTDOWN})


@dataclass
class ServiceClient:
    name: str
    address: str
    channels: list[grpc.aio.Channel]
    stubs: list[Stubs]
    _turn: itertools.cycle = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._turn = itertools.cycle(range(len(self.stubs)))

    def _next(self) -> Stubs:
        """The next channel in turn that is not waiting out a reconnect backoff: after the service
        comes back, a channel that saw it away fails calls fast for up to a second while its
        neighbours are connected already."""
        for _ in range(len(self.stubs)):
            index = next(self._turn)
            if self.channels[index].get_state() not in UNUSABLE:
                return self.stubs[index]
        return self.stubs[index]

    @property
    def catalogue(self) -> catalogue_pb2_grpc.CatalogueServiceStub:
        return self._next().catalogue

    @property
    def cases(self) -> case_pb2_grpc.CaseServiceStub:
        return self._next().cases

    @property
    def processes(self) -> process_pb2_grpc.ProcessServiceStub:
        return self._next().processes

    @property
    def issued(self) -> issued_pb2_grpc.IssuedDocumentServiceStub:
        return self._next().issued

    @property
    def verification(self) -> issued_pb2_grpc.VerificationServiceStub:
        return self._next().verification

    @property
    def inquiries(self) -> inquiry_pb2_grpc.InquiryServiceStub:
        return self._next().inquiries

    @property
    def health(self) -> health_pb2_grpc.HealthStub:
        return self._next().health

    @property
    def stats(self) -> stats_pb2_grpc.CaseStatsServiceStub:
        return self._next().stats

    @property
    def contracts(self) -> event_contracts_pb2_grpc.EventContractServiceStub:
        return self._next().contracts

    @property
    def register(self) -> register_pb2_grpc.SlaRegisterServiceStub:
        return self._next().register


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
        channels_per_service: int = 1,
    ) -> None:
        self.signer = signer
        self.clients: dict[str, ServiceClient] = {}
        # Each channel its own subchannel, so its own connection (channels with the same
        # arguments otherwise share one). A channel that found its service away tries again
        # within a second, not after gRPC's default backoff of up to two minutes.
        options = [
            *CHANNEL_OPTIONS,
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ]
        if channels_per_service > 1:
            options.append(("grpc.use_local_subchannel_pool", 1))
        for name, address in addresses.items():
            # The client instrumentation gives each call a span and carries its traceparent.
            interceptors = grpc_client_interceptors()
            channels = [
                grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)
                if credentials is None
                else grpc.aio.secure_channel(address, credentials, options=options, interceptors=interceptors)
                for _ in range(channels_per_service)
            ]
            self.clients[name] = ServiceClient(name, address, channels, [Stubs.of(channel) for channel in channels])

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
        """Each service's overall health status name, or why it could not be asked, asked over
        every one of its channels: SERVING only when each of them reaches a serving service. A
        channel that found the port closed (the gateway started before the service, or the
        service restarted) fails its calls at once until it reconnects, so until then the
        service is not ready for the gateway, though another channel already reaches it."""

        async def check(stubs: Stubs) -> str:
            try:
                response = await stubs.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
            except grpc.aio.AioRpcError as error:
                return error.code().name
            return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

        async def overall(client: ServiceClient) -> str:
            statuses = await asyncio.gather(*(check(stubs) for stubs in client.stubs))
            return next((status for status in statuses if status != "SERVING"), "SERVING")

        names = list(self.clients)
        statuses = await asyncio.gather(*(overall(self.clients[name]) for name in names))
        return dict(zip(names, statuses, strict=True))

    async def close(self) -> None:
        await asyncio.gather(
            *(channel.close() for client in self.clients.values() for channel in client.channels)
        )

