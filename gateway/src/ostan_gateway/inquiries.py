"""Inbound inquiries at the gateway: which service answers which type (asked of every service, kept
for a few seconds), each agency's rate, and the signed answer bound to the request.

The services decide (grants, subjects, idempotency, audit); the gateway routes, fans a composite
type out to every service that holds a part under one deadline, and signs what comes back.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from google.protobuf import json_format

from ostan.common.v1 import inquiry_pb2
from ostan_gateway.problems import Problem
from ostan_gateway.services import Services
from ostan_gateway.signing import AnswerSigner, canonical_sha256
from ostan_kit.security.actors import Actor
from ostan_kit.text.persian import to_jalali

# A directory that lacks a service is asked for again after at most this many seconds.
RETRY_MISSING_SECONDS = 1.0


@dataclass
class KnownType:
    message: inquiry_pb2.InquiryType
    services: list[str]


@dataclass
class Directory:
    types: dict[str, KnownType]
    missing: dict[str, str]
    fetched_at: float


class InquiryDirectory:
    """Every service's inquiry types, asked in parallel under a deadline; missing services named."""

    def __init__(self, services: Services, deadline: float, ttl_seconds: float) -> None:
        self.services = services
        self.deadline = deadline
        self.ttl_seconds = ttl_seconds
        self._directory: Directory | None = None
        self._lock = asyncio.Lock()

    def _fresh(self, directory: Directory | None) -> bool:
        if directory is None:
            return False
        ttl = min(self.ttl_seconds, RETRY_MISSING_SECONDS) if directory.missing else self.ttl_seconds
        return time.monotonic() - directory.fetched_at < ttl

    async def get(self) -> Directory:
        if self._fresh(self._directory):
            return self._directory  # type: ignore[return-value]
        async with self._lock:
            if not self._fresh(self._directory):
                self._directory = await self._fetch()
            return self._directory  # type: ignore[return-value]

    async def _fetch(self) -> Directory:
        names = list(self.services.clients)

        async def one(name: str) -> inquiry_pb2.ListInquiryTypesResponse:
            stub = self.services[name].inquiries
            return await self.services.call(
                name, stub.ListInquiryTypes, inquiry_pb2.ListInquiryTypesRequest(), self.deadline
            )

        answers = await asyncio.gather(*(one(name) for name in names), return_exceptions=True)
        types: dict[str, KnownType] = {}
        missing: dict[str, str] = {}
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, BaseException):
                missing[name] = getattr(answer, "detail", None) or f"{type(answer).__name__}: {answer}"
                continue
            for message in answer.types:
                known = types.setdefault(message.id, KnownType(message, []))
                known.services.append(name)
        return Directory(types, missing, time.monotonic())


class RateLimiter:
    """A token bucket per agency: ``per_minute`` inquiries a minute, in bursts of as many."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, agency: str) -> float:
        """0 when the agency may ask now, else the seconds until it may."""
        now = time.monotonic()
        tokens, then = self._buckets.get(agency, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - then) * self.rate)
        if tokens >= 1:
            self._buckets[agency] = (tokens - 1, now)
            return 0.0
        self._buckets[agency] = (tokens, now)
        return (1 - tokens) / self.rate


def rate_limited(seconds: float) -> Problem:
    retry = max(1, math.ceil(seconds))
    return Problem(
        429, f"the agency's inquiry rate is used up; try again in {retry} s", slug="rate-limited", retry_after=retry
    )


@dataclass
class Asked:
    """What one service answered, or why it did not."""

    service: str
    response: inquiry_pb2.AskInquiryResponse | None = None
    problem: Problem | None = None


@dataclass
class InquiryDesk:
    services: Services
    directory: InquiryDirectory
    signer: AnswerSigner
    deadline: float
    limiter: RateLimiter

    async def ask(self, who: Actor, type_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if who.kind != "agency":
            raise Problem(403, "only agencies ask inquiries; use an agency token", slug="not-an-agency")
        directory = await self.directory.get()
        known = directory.types.get(type_id)
        if known is None:
            if directory.missing:
                raise Problem(
                    503,
                    f"no service answered that it knows the inquiry {type_id!r}, and some did not answer",
                    slug="service-unavailable",
                    missing_services=sorted(directory.missing),
                )
            raise Problem(404, f"there is no inquiry type {type_id!r}", slug="unknown-inquiry")
        wait = self.limiter.take(who.agency)
        if wait:
            raise rate_limited(wait)
        # The request as the agency sent it, with what the path and the token add, hashed as RFC
        # 8785 canonical JSON: the agency can recompute the hash from what it sent.
        request_sha256 = canonical_sha256({**body, "type": type_id, "agency": who.agency})
        message = inquiry_pb2.AskInquiryRequest(type=type_id, request_sha256=request_sha256, **body)
        asked = await asyncio.gather(*(self._ask(service, message, who) for service in known.services))
        answered = [one for one in asked if one.response is not None]
        failed = [one for one in asked if one.problem is not None]
        if not known.message.composite or not answered:
            # One answering service (or none answered): its problem is the answer.
            if failed and not answered:
                raise _most_telling(failed)
        else:
            # A refusal from any part refuses the whole: grants are the same everywhere.
            for one in failed:
                if one.problem is not None and one.problem.status in (403, 422):
                    raise one.problem
        unreachable = sorted({one.service for one in failed} | set(directory.missing))
        payload = self._payload(who, known, body, request_sha256, answered, unreachable)
        return {"answer": payload, "jws": self.signer.sign(payload), "kid": self.signer.current.kid}

    async def _ask(self, service: str, message: inquiry_pb2.AskInquiryRequest, who: Actor) -> Asked:
        stub = self.services[service].inquiries
        try:
            return Asked(service, response=await self.services.call(service, stub.AskInquiry, message, self.deadline, who))
        except Problem as problem:
            return Asked(service, problem=problem)

    @staticmethod
    def _payload(
        who: Actor,
        known: KnownType,
        body: dict[str, Any],
        request_sha256: str,
        answered: list[Asked],
        unreachable: list[str],
    ) -> dict[str, Any]:
        responses = [one.response for one in answered if one.response is not None]
        latest = max(responses, key=lambda r: (r.answered_at.seconds, r.answered_at.nanos))
        at = latest.answered_at.ToDatetime(UTC)
        payload: dict[str, Any] = {
            "inquiry": known.message.id,
            "inquiry_version": known.message.version,
            "agency": who.agency,
            "officer": body["officer"],
            "request_id": body["request_id"],
            "request_sha256": request_sha256,
            "subject": latest.subject,
            "answered_at": at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "answered_at_jalali": to_jalali(at),
            "issuer": "ostan-gateway",
        }
        if known.message.composite:
            holdings: list[Any] = []
            for response in sorted(responses, key=lambda r: r.service):
                holdings.extend(json_format.MessageToDict(response.answer).get("holdings", []))
            payload["answer"] = {"holdings": holdings}
            payload["services"] = sorted(r.service for r in responses)
            payload["missing_services"] = unreachable
        else:
            payload["service"] = latest.service
            payload["answer"] = json_format.MessageToDict(latest.answer)
        return payload


def _most_telling(failed: list[Asked]) -> Problem:
    problems = [one.problem for one in failed if one.problem is not None]
    for status in (403, 422, 404, 409):
        for problem in problems:
            if problem.status == status:
                return problem
    return problems[0]


def type_view(known: KnownType, who: Actor) -> dict[str, Any]:
    message = known.message
    granted: list[str] = []
    if who.kind == "agency":
        granted = next((list(grant.fields) for grant in message.grants if grant.agency == who.agency), [])
    return {
        "id": message.id,
        "version": message.version,
        "title_fa": message.title_fa,
        "title_en": message.title_en,
        "subject_kind": message.subject_kind,
        "services": sorted(known.services),
        "composite": message.composite,
        "legal_basis": message.legal_basis,
        "fields": [{"name": f.name, "title_fa": f.title_fa, "title_en": f.title_en} for f in message.fields],
        "granted": bool(granted),
        "granted_fields": granted,
    }
