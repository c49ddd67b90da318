"""The aggregated catalogue: every service asked in parallel under a deadline; a service that
does not answer is named, never fatal. The result is kept for a few seconds, since catalogues
change only when a service is deployed, and everything derived from it (search index, lookup by
ID or slug, statistics, JSON-LD) is built once per snapshot."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import grpc
import orjson

from ostan.common.v1 import catalogue_pb2
from ostan_gateway import cpsv, listing, stats
from ostan_gateway.search import SearchIndex
from ostan_gateway.services import Services
from ostan_kit.catalogue.entries import Organisation
from ostan_kit.runtime.errors import describe

# A catalogue that lacks a service is asked for again after at most this many seconds.
RETRY_MISSING_SECONDS = 1.0
# Rendered listing pages kept per snapshot (a snapshot never changes, so neither do
# they), up to so many pages and bytes; past either, the kept pages are dropped and kept afresh.
PAGE_CACHE_SIZE = 512
PAGE_CACHE_BYTES = 32 * 1024 * 1024


@dataclass
class Snapshot:
    organisation: Organisation
    entries: list[dict[str, Any]]
    missing: dict[str, str]
    fetched_at: float
    by_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    _pages: dict[tuple[Any, ...], bytes] = field(default_factory=dict, repr=False)
    _page_bytes: int = field(default=0, repr=False)
    _sorted: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for entry in self.entries:
            self.by_key[entry["slug"]] = entry
            if entry.get("service_id"):
                self.by_key.setdefault(entry["service_id"], entry)

    def rendered(self, key: tuple[Any, ...], render: Callable[[], bytes]) -> bytes:
        """The body ``render`` makes for ``key``, made once per snapshot."""
        pages = self._pages
        body = pages.get(key)
        if body is None:
            body = render()
            if len(pages) >= PAGE_CACHE_SIZE or self._page_bytes + len(body) > PAGE_CACHE_BYTES:
                pages.clear()
                self._page_bytes = 0
            pages[key] = body
            self._page_bytes += len(body)
        return body

    def sorted_entries(self, sort: str) -> list[dict[str, Any]]:
        """All entries in ``sort`` order, computed once per snapshot and order."""
        cache = self._sorted
        if sort not in cache:
            cache[sort] = listing.sort_entries(self.entries, sort)
        return cache[sort]

    @property
    def missing_services(self) -> list[str]:
        return sorted(self.missing)

    def availability(self) -> dict[str, Any]:
        """What every answer built from this snapshot says about the services behind it."""
        return {"missing_services": self.missing_services, "errors": dict(sorted(self.missing.items()))}

    @cached_property
    def etag(self) -> str:
        digest = hashlib.sha256()
        for entry in self.entries:
            digest.update(orjson.dumps(entry))
        digest.update(orjson.dumps(self.missing_services))
        return '"' + digest.hexdigest()[:32] + '"'

    @cached_property
    def index(self) -> SearchIndex:
        return SearchIndex(self.entries)

    @cached_property
    def stats_body(self) -> bytes:
        return orjson.dumps({**stats.table1(self.organisation, self.entries), **self.availability()})

    @cached_property
    def jsonld_body(self) -> bytes:
        return orjson.dumps(cpsv.catalogue_jsonld(self.organisation, self.entries))


class CatalogueAggregate:
    def __init__(self, services: Services, organisation: Organisation, deadline: float, ttl_seconds: float) -> None:
        self.services = services
        self.organisation = organisation
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

    async def _fetch_service(self, name: str) -> list[dict[str, Any]]:
        """Every page of one service's catalogue, all within one deadline."""
        stub = self.services[name].catalogue
        entries: list[dict[str, Any]] = []
        token = ""
        started = time.monotonic()
        while True:
            remaining = self.deadline - (time.monotonic() - started)
            if remaining <= 0:
                raise TimeoutError(f"no complete answer within {self.deadline}s")
            answer = await stub.ListEntries(catalogue_pb2.ListEntriesRequest(page_token=token), timeout=remaining)
            entries.extend(orjson.loads(entry.detail_json) for entry in answer.entries)
            token = answer.next_page_token
            if not token:
                return entries

    async def _fetch(self) -> Snapshot:
        names = list(self.services.clients)
        answers = await asyncio.gather(*(self._fetch_service(name) for name in names), return_exceptions=True)
        entries: list[dict[str, Any]] = []
        missing: dict[str, str] = {}
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, grpc.aio.AioRpcError):
                remote = describe(answer)
                missing[name] = f"{remote.code.name}: {remote.message}"
            elif isinstance(answer, BaseException):
                missing[name] = f"{type(answer).__name__}: {answer}"
            else:
                entries.extend(answer)
        return Snapshot(self.organisation, entries, missing, time.monotonic())
