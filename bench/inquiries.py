"""Benchmark: an inbound inquiry through the gateway (token, routing, the service's answer, the
request's canonical hash, the JWS signature) beside the same inquiry asked of the answering
service directly over gRPC, in one run against the same platform; and the cost of signing.

    make bench-inquiries   (or: .venv/bin/python bench/inquiries.py [--requests 400] [--concurrency 1])

Every request has a request id of its own, so every one is answered afresh (and audited), never
replayed. Prints p50/p99 of each, the ratio of the p50s (aim: gateway ≤ 2× direct gRPC), and the
microseconds an RFC 8785 hash and an Ed25519 JWS take in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
import uuid
from pathlib import Path

import grpc
import httpx

from common import platform
from ostan.common.v1 import inquiry_pb2, inquiry_pb2_grpc
from ostan_gateway.auth import issue_token
from ostan_gateway.signing import AnswerSigner, canonical_sha256
from ostan_kit.security.actors import Actor
from ostan_kit.security.assertions import AssertionSigner, ensure_key_pair, load_private_key

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e.conftest import RESIDENCE_FORM  # noqa: E402

TYPE = "residence-document-status"
SUBJECT = "12345678"
POLICE = Actor("police-system", "agency", "police", frozenset({"inquirer"}), agency="police")
BENCH_SECRET = secrets.token_urlsafe(32)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def body(run: str, number: int) -> dict[str, str]:
    return {"subject": SUBJECT, "purpose": "بنچ مارک", "officer": "افسر", "request_id": f"{run}-{number}"}


async def timed(requests: int, concurrency: int, ask) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(requests):
        queue.put_nowait(number)

    async def worker() -> None:
        nonlocal errors
        while not queue.empty():
            number = queue.get_nowait()
            started = time.perf_counter()
            ok = await ask(number)
            latencies.append(time.perf_counter() - started)
            errors += not ok

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors


async def through_gateway(url: str, requests: int, concurrency: int) -> tuple[list[float], int]:
    token = issue_token(BENCH_SECRET, subject="police-system", kind="agency", name="police", roles=["inquirer"], agency="police")
    run = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:

        async def ask(number: int) -> bool:
            answer = await client.post(f"/v1/inquiries/{TYPE}", json=body(run, number))
            return answer.status_code == 200

        await ask(-1)  # warm: the gateway learns the types
        return await timed(requests, concurrency, ask)


async def direct(address: str, signer: AssertionSigner, requests: int, concurrency: int) -> tuple[list[float], int]:
    """The service asked as the gateway asks it: with a caller assertion signed for it (one per
    call, as the gateway signs one per call)."""
    run = uuid.uuid4().hex[:8]
    async with grpc.aio.insecure_channel(address) as channel:
        stub = inquiry_pb2_grpc.InquiryServiceStub(channel)

        async def ask(number: int) -> bool:
            try:
                await stub.AskInquiry(
                    inquiry_pb2.AskInquiryRequest(type=TYPE, **body(run, number)),
                    timeout=5,
                    metadata=signer.metadata(POLICE, audience="foreign-nationals"),
                )
                return True
            except grpc.aio.AioRpcError:
                return False

        await ask(-1)
        return await timed(requests, concurrency, ask)


def signing_cost(rounds: int = 2000) -> tuple[float, float]:
    """Microseconds per canonical hash and per JWS of a typical answer."""
    signer = AnswerSigner.from_folder(None)
    answer = {
        "inquiry": TYPE, "agency": "police", "subject": SUBJECT, "request_sha256": "0" * 64,
        "answered_at": "2026-11-30T04:00:00.000000Z", "answer": {"holder_name": "محمد رضایی", "nationality": "AFG"},
    }
    started = time.perf_counter()
    for _ in range(rounds):
        canonical_sha256(answer)
    hashing = (time.perf_counter() - started) / rounds * 1e6
    started = time.perf_counter()
    for _ in range(rounds):
        signer.sign(answer)
    return hashing, (time.perf_counter() - started) / rounds * 1e6


def line(name: str, latencies: list[float], errors: int) -> str:
    return (
        f"{name:<22} p50 {percentile(latencies, 0.5):7.2f} ms   p99 {percentile(latencies, 0.99):7.2f} ms   "
        f"mean {statistics.fmean(latencies) * 1000:7.2f} ms   errors {errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    # The agency's rate is lifted: the benchmark measures answers, not refusals.
    environment = {"OSTAN_GATEWAY_INQUIRY_RATE_PER_MINUTE": "100000000", "OSTAN_GATEWAY_JWT_SECRET": BENCH_SECRET}
    with platform(environment) as stack:
        signer = AssertionSigner(load_private_key(path=ensure_key_pair(stack.config.keys_dir)[0]))
        clerk = issue_token(BENCH_SECRET, subject="bench", kind="staff", name="bench", roles=["clerk"], office="foreign-nationals")
        started = httpx.post(
            f"{stack.config.gateway_url}/v1/cases",
            json={"service": "foreign-nationals", "process": "residence-document-extension", "data": RESIDENCE_FORM},
            headers={"Authorization": f"Bearer {clerk}", "Idempotency-Key": "bench-inquiry-subject"},
            timeout=30,
        )
        started.raise_for_status()
        address = f"127.0.0.1:{stack.config.service_ports['foreign-nationals']}"
        # Alternate the two so that neither gets a warmer machine.
        gateway_latencies: list[float] = []
        direct_latencies: list[float] = []
        gateway_errors = direct_errors = 0
        half = max(1, args.requests // 2)
        for _ in range(2):
            latencies, errors = asyncio.run(direct(address, signer, half, args.concurrency))
            direct_latencies += latencies
            direct_errors += errors
            latencies, errors = asyncio.run(through_gateway(stack.config.gateway_url, half, args.concurrency))
            gateway_latencies += latencies
            gateway_errors += errors
    hashing, signing = signing_cost()
    ratio = percentile(gateway_latencies, 0.5) / percentile(direct_latencies, 0.5)
    print(f"inbound inquiry {TYPE!r}, {len(gateway_latencies)} requests each, concurrency {args.concurrency}")
    print(line("direct gRPC (service)", direct_latencies, direct_errors))
    print(line("through the gateway", gateway_latencies, gateway_errors))
    print(f"ratio gateway/direct p50: {ratio:.2f}x (aim <= 2x)")
    print(f"in-process: RFC 8785 SHA-256 {hashing:.1f} us, Ed25519 JWS {signing:.1f} us per answer")


if __name__ == "__main__":
    main()
