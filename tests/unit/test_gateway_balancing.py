"""Kubernetes balances gRPC per connection: behind a headless Service the gateway's channel sees
every pod of an office and must spread its calls over them, not pin them to the first."""

from __future__ import annotations

import asyncio
import collections

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ostan_gateway.services import Services


class Counting(grpc.aio.ServerInterceptor):
    def __init__(self, counts: collections.Counter, port_name: str) -> None:
        self.counts = counts
        self.port_name = port_name

    async def intercept_service(self, continuation, handler_call_details):
        self.counts[self.port_name] += 1
        return await continuation(handler_call_details)


async def test_calls_are_spread_over_every_address_of_a_service():
    counts: collections.Counter = collections.Counter()
    servers, ports = [], []
    for index in range(2):
        server = grpc.aio.server(interceptors=[Counting(counts, f"pod-{index}")])
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        ports.append(server.add_insecure_port("127.0.0.1:0"))
        await server.start()
        servers.append(server)
    # What a headless Service's DNS name resolves to: two pods.
    services = Services({"urban": "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in ports)})
    try:
        for _ in range(20):
            response = await services["urban"].health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert response.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await services.close()
        for server in servers:
            await server.stop(None)
    assert counts["pod-0"] >= 5 and counts["pod-1"] >= 5, counts


async def test_once_a_restarted_service_answers_no_call_lands_on_a_channel_still_backing_off():
    async def serve(port: int) -> grpc.aio.Server:
        server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        assert server.add_insecure_port(f"127.0.0.1:{port}") == port
        await server.start()
        return server

    probe = grpc.aio.server()
    port = probe.add_insecure_port("127.0.0.1:0")
    await probe.start()
    await probe.stop(None)
    server = await serve(port)
    services = Services({"urban": f"127.0.0.1:{port}"}, channels_per_service=4)
    check = health_pb2.HealthCheckRequest()
    try:
        for _ in range(8):
            await services["urban"].health.Check(check, timeout=5)
        await server.stop(None)
        # Every channel sees the service go away and starts backing off.
        for _ in range(8):
            try:
                await services["urban"].health.Check(check, timeout=1)
            except grpc.aio.AioRpcError:
                pass
        server = await serve(port)

        async def answers() -> bool:
            try:
                await services["urban"].health.Check(check, timeout=1)
            except grpc.aio.AioRpcError:
                return False
            return True

        deadline = asyncio.get_running_loop().time() + 10
        while not await answers():
            assert asyncio.get_running_loop().time() < deadline, "the restarted service never answered"
            await asyncio.sleep(0.01)
        failed = [attempt for attempt in range(20) if not await answers()]
        assert failed == []
    finally:
        await services.close()
        await server.stop(None)
