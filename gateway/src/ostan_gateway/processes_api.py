"""The processes the services run, described for frontends: each process's form as JSON Schema,
its documents, states, actions and SLAs. Every service is asked in parallel under a deadline; one
that does not answer is named. Descriptions change only when a service is deployed, so the
aggregate is kept for the catalogue's time to live."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import grpc
import orjson
from fastapi import APIRouter, Request

from ostan.common.v1 import process_pb2
from ostan_gateway import schemas
from ostan_gateway.catalogue import RETRY_MISSING_SECONDS
from ostan_gateway.problems import Problem
from ostan_gateway.services import Services
from ostan_kit.runtime.errors import describe

router = APIRouter(tags=["processes"])


@dataclass(frozen=True)
class ProcessSnapshot:
    processes: dict[str, dict[str, Any]]  # by "<service>/<slug>"
    missing: dict[str, str]
    fetched_at: float

    def availability(self) -> dict[str, Any]:
        return {"missing_services": sorted(self.missing), "errors": dict(sorted(self.missing.items()))}


class ProcessAggregate:
    def __init__(self, services: Services, deadline: float, ttl: float) -> None:
        self.services = services
        self.deadline = deadline
        self.ttl = ttl
        self._snapshot: ProcessSnapshot | None = None
        self._lock = asyncio.Lock()

    def _fresh(self, snapshot: ProcessSnapshot | None) -> bool:
        if snapshot is None:
            return False
        ttl = min(self.ttl, RETRY_MISSING_SECONDS) if snapshot.missing else self.ttl
        return time.monotonic() - snapshot.fetched_at < ttl

    async def snapshot(self) -> ProcessSnapshot:
        if self._fresh(self._snapshot):
            return self._snapshot  # type: ignore[return-value]
        async with self._lock:
            if not self._fresh(self._snapshot):
                self._snapshot = await self._fetch()
        return self._snapshot  # type: ignore[return-value]

    async def _fetch(self) -> ProcessSnapshot:
        names = list(self.services.clients)

        async def ask(name: str) -> process_pb2.ListProcessesResponse:
            stub = self.services[name].processes
            return await stub.ListProcesses(process_pb2.ListProcessesRequest(), timeout=self.deadline)

        answers = await asyncio.gather(*(ask(name) for name in names), return_exceptions=True)
        processes: dict[str, dict[str, Any]] = {}
        missing: dict[str, str] = {}
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, grpc.aio.AioRpcError):
                missing[name] = describe(answer).message
            elif isinstance(answer, BaseException):
                raise answer
            else:
                for process in answer.processes:
                    processes[f"{name}/{process.slug}"] = orjson.loads(process.detail_json)
        return ProcessSnapshot(processes, missing, time.monotonic())


def _aggregate(request: Request) -> ProcessAggregate:
    return request.app.state.processes


def _summary(process: dict[str, Any]) -> dict[str, Any]:
    keys = ("slug", "version", "service", "title_fa", "title_en", "catalogue", "sla")
    return {key: process[key] for key in keys}


@router.get("/v1/processes", response_model=schemas.ProcessList)
async def list_processes(request: Request) -> dict[str, Any]:
    """Every process the services run (the generic request once per service), without the
    details; ``GET /v1/processes/{slug}`` gives one whole."""
    snapshot = await _aggregate(request).snapshot()
    items = sorted((_summary(p) for p in snapshot.processes.values()), key=lambda p: (p["service"], p["slug"]))
    return {"items": items, **snapshot.availability()}


@router.get("/v1/processes/{slug}", response_model=schemas.ProcessDetail)
async def get_process(slug: str, request: Request, service: str | None = None) -> dict[str, Any]:
    """One process: its form as JSON Schema (types, required fields, enums with Persian labels,
    formats for national codes, Jalali dates and mobiles), documents, states, actions with their
    fields, and SLAs. A process that several services run (the generic request) needs ``service``;
    a catalogue entry's slug or booklet ID finds the process that runs it."""
    snapshot = await _aggregate(request).snapshot()
    found = [p for p in snapshot.processes.values() if p["slug"] == slug and service in (None, p["service"])]
    if not found:
        catalogue = await request.app.state.catalogue.snapshot()
        entry = catalogue.by_key.get(slug)
        if entry is not None and entry.get("runs_as") in ("own", "generic"):
            wanted = entry["process"] if entry["runs_as"] == "own" else "generic-request"
            found = [
                p for p in snapshot.processes.values()
                if p["slug"] == wanted and p["service"] == entry["hosting_service"]
            ]
    if len(found) > 1:
        raise Problem(
            422,
            f"several services run {slug!r}; name one with ?service=",
            slug="invalid-request",
            errors=[{"field": "service", "message": f"one of {sorted(p['service'] for p in found)}"}],
        )
    if not found:
        status = 503 if snapshot.missing else 404
        raise Problem(
            status,
            f"no service runs a process {slug!r}",
            # In a problem, ``errors`` names bad fields; the services' errors have their own member.
            missing_services=sorted(snapshot.missing),
            service_errors=dict(sorted(snapshot.missing.items())),
        )
    return {**found[0], **snapshot.availability()}
