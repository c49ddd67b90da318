"""The aggregated catalogue: every service asked in parallel under a deadline; a service that
does not answer is named, never fatal. The result is kept for a few seconds, since catalogues
change only when a service is deployed."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import grpc
import orjson

from ostan.common.v1 import catalogue_pb2
from ostan_gateway.services import Services
from ostan_kit.errors import describe

# A catalogue that lacks a service is asked for again after at most this many seconds.
RETRY_MISSING_SECONDS = 1.0


@dataclass
class Snapshot:
    entries: list[dict[str, Any]]
    missing: dict[str, str]
    fetched_at: float
    body: bytes = b""
    etag: str = ""
    by_key: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.body = orjson.dumps(
            {
                "items": self.entries,
                "count": len(self.entries),
                "missing_services": sorted(self.missing),
                "errors": {name: reason for name, reason in sorted(self.missing.items())},
            }
        )
        self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'
        for entry in self.entries:
            self.by_key[entry["slug"]] = entry
            if entry.get("service_id"):
                self.by_key.setdefault(entry["service_id"], entry)


class CatalogueAggregate:
    def __init__(self, services: Services, deadline: float, ttl_seconds: float) -> None:
        self.services = services
        self.deadline = deadline
        self.ttl_seconds = ttl_seconds
        self._snapshot: Snapshot | None = None
        self._lock = asyncio.Lock()

    def _fresh(self, snapshot: Snapshot | None) -> bool:
        if snapshot is None:
            return False
        ttl = min(self.ttl_seconds, RETRY_MISSING_SECONDS) if snapshot.missing else self.ttl_seconds
        return time.monotonic() - snapshot.fetched_at < ttl

    async def snapshot(self) -> Snapshot:
        if self._fresh(self._snapshot):
            return self._snapshot  # type: ignore[return-value]
        async with self._lock:  # one refresh at a time; the others wait for it
            if not self._fresh(self._snapshot):
                self._snapshot = await self._fetch()
            return self._snapshot  # type: ignore[return-value]

    async def _fetch(self) -> Snapshot:
        names = list(self.services.clients)
        answers = await asyncio.gather(
            *(
                self.services[name].catalogue.ListEntries(
                    catalogue_pb2.ListEntriesRequest(), timeout=self.deadline
                )
                for name in names
            ),
            return_exceptions=True,
        )
        entries: list[dict[str, Any]] = []
        missing: dict[str, str] = {}
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, grpc.aio.AioRpcError):
                remote = describe(answer)
                missing[name] = f"{remote.code.name}: {remote.message}"
            elif isinstance(answer, BaseException):
                missing[name] = f"{type(answer).__name__}: {answer}"
            else:
                entries.extend(orjson.loads(entry.detail_json) for entry in answer.entries)
        return Snapshot(entries=entries, missing=missing, fetched_at=time.monotonic())
