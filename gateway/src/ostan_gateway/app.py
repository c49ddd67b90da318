"""The gateway's HTTP API (FastAPI): catalogue, cases, health; every error a problem document."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import orjson
from fastapi import FastAPI, Header, Request, Response
from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct
from pydantic import BaseModel, ConfigDict, Field

from ostan.common.v1 import case_pb2
from ostan_gateway import catalogue_api, problems
from ostan_gateway.catalogue import CatalogueAggregate
from ostan_gateway.problems import Problem
from ostan_gateway.services import Services
from ostan_gateway.settings import GatewaySettings
from ostan_kit.catalogue import load_organisation
from ostan_kit.persian import to_jalali
from ostan_kit.registry import BY_CODE_PREFIX
from ostan_kit.tracking import parse_code

log = logging.getLogger(__name__)

UNTRACED_PATHS = frozenset({"/healthz", "/readyz"})

ServiceName = Literal[
    "political", "social", "foreign-nationals", "urban", "admin-finance", "economic", "governor"
]


class StartCase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: ServiceName = Field(description="The office service that runs the process.")
    process: str = Field(min_length=1, max_length=100, description="The process slug.")
    data: dict[str, Any] = Field(description="The application form of the process.")


class Case(BaseModel):
    code: str
    service: str
    process: str
    process_version: int
    state: str
    version: int
    data: dict[str, Any]
    created_at: str
    created_at_jalali: str
    updated_at: str
    updated_at_jalali: str


def case_body(case: case_pb2.Case) -> dict[str, Any]:
    created, updated = case.created_at.ToDatetime(), case.updated_at.ToDatetime()
    return Case(
        code=case.code,
        service=case.service,
        process=case.process,
        process_version=case.process_version,
        state=case.state,
        version=case.version,
        data=json_format.MessageToDict(case.data),
        created_at=created.isoformat() + "Z",
        created_at_jalali=to_jalali(created),
        updated_at=updated.isoformat() + "Z",
        updated_at_jalali=to_jalali(updated),
    ).model_dump()


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # gRPC aio objects belong to the loop that made them: create them here, not at import.
        services = Services(settings.services)
        app.state.services = services
        app.state.catalogue = CatalogueAggregate(
            services, app.state.organisation, settings.catalogue_deadline, settings.catalogue_ttl_seconds
        )
        yield
        await services.close()

    app = FastAPI(
        title="Ostan gateway",
        version="0.1.0",
        summary="The governorate's services, cases and inquiries over one HTTP API.",
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry: a server span per request, continuing the caller's
        # traceparent, which the gRPC calls carry on. Probes are left out; finer operation spans
        # cost more than they tell.
        telemetry={
            "operation_spans": False,
            "metrics": False,
            "logs": False,
            "exclude": lambda scope: scope.get("path") in UNTRACED_PATHS,
        },
    )
    problems.install(app)
    app.state.organisation = load_organisation()
    app.include_router(catalogue_api.router)

    def services_of(request: Request) -> Services:
        return request.app.state.services

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The gateway process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz(request: Request) -> Response:
        """Ready when every office service reports SERVING; otherwise 503 naming the others."""
        statuses = await services_of(request).health(settings.health_deadline)
        not_serving = sorted(name for name, status in statuses.items() if status != "SERVING")
        if not_serving:
            return problems.problem_response(
                Problem(
                    503,
                    "not ready: " + ", ".join(not_serving),
                    slug="not-ready",
                    not_serving=not_serving,
                    services=statuses,
                ),
                "/readyz",
            )
        return Response(
            orjson.dumps({"status": "ready", "services": statuses}),
            media_type="application/json",
        )

    @app.post("/v1/cases", status_code=201, tags=["cases"], response_model=Case)
    async def start_case(
        body: StartCase,
        request: Request,
        response: Response,
        idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
    ) -> dict[str, Any]:
        """Start a case of a process. ``Idempotency-Key`` is required: the same key returns the
        first answer again (with ``Idempotent-Replayed: true``) and changes nothing."""
        if not idempotency_key or not idempotency_key.strip():
            raise Problem(
                400,
                "the Idempotency-Key header is required on this call",
                slug="idempotency-key-required",
            )
        data = Struct()
        data.update(body.data)
        answer = await services_of(request).call(
            body.service,
            services_of(request)[body.service].cases.StartCase,
            case_pb2.StartCaseRequest(process=body.process, data=data, idempotency_key=idempotency_key),
            settings.case_deadline,
        )
        response.headers["Location"] = f"/v1/cases/{answer.case.code}"
        if answer.replayed:
            response.status_code = 200
            response.headers["Idempotent-Replayed"] = "true"
        return case_body(answer.case)

    @app.get("/v1/cases/{code}", tags=["cases"], response_model=Case)
    async def get_case(code: str, request: Request) -> dict[str, Any]:
        """A case by its tracking code (Persian or Arabic digits accepted)."""
        try:
            prefix, _, _ = parse_code(code)
        except ValueError as error:
            raise Problem(
                422, str(error), slug="invalid-request", errors=[{"field": "code", "message": str(error)}]
            ) from error
        info = BY_CODE_PREFIX.get(prefix)
        if info is None or info.name not in services_of(request).clients:
            raise Problem(404, f"no service issues tracking codes with prefix {prefix}")
        answer = await services_of(request).call(
            info.name,
            services_of(request)[info.name].cases.GetCase,
            case_pb2.GetCaseRequest(code=code),
            settings.case_deadline,
        )
        return case_body(answer.case)

    return app
