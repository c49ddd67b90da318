"""The gateway's HTTP API (FastAPI): catalogue, cases, health; every error a problem document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from fastapi import FastAPI, Request, Response

from ostan_gateway import cases_api, catalogue_api, problems, processes_api
from ostan_gateway.auth import TokenVerifier
from ostan_gateway.catalogue import CatalogueAggregate
from ostan_gateway.problems import Problem
from ostan_gateway.services import Services
from ostan_gateway.settings import GatewaySettings
from ostan_kit.catalogue.entries import load_organisation

UNTRACED_PATHS = frozenset({"/healthz", "/readyz"})


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
        app.state.processes = processes_api.ProcessAggregate(
            services, settings.catalogue_deadline, settings.catalogue_ttl_seconds
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
    organisation = load_organisation()
    app.state.settings = settings
    app.state.organisation = organisation
    app.state.office_services = {office.slug: office.hosting_service for office in organisation.offices}
    app.state.token_verifier = TokenVerifier(settings.jwt_secret)
    app.include_router(catalogue_api.router)
    app.include_router(cases_api.router)
    app.include_router(processes_api.router)

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

    return app
