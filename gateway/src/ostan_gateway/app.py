"""The gateway's HTTP API (FastAPI): catalogue, cases, health; every error a problem document."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
import swagger_ui_bundle
from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from ostan_gateway import (
    case_stats_api,
    cases_api,
    catalogue_api,
    events_api,
    inquiries_api,
    issued_api,
    problems,
    processes_api,
    schemas,
)
from ostan_gateway.auth import JwksKeys, TokenVerifier
from ostan_gateway.catalogue import CatalogueAggregate
from ostan_gateway.inquiries import InquiryDesk, InquiryDirectory, RateLimiter
from ostan_gateway.limits import BodyLimit
from ostan_gateway.metrics import HttpMetrics
from ostan_gateway.problems import AllowedMethods, Problem, UnexpectedErrors
from ostan_gateway.services import Services, channel_credentials
from ostan_gateway.settings import GatewaySettings
from ostan_gateway.signing import AnswerSigner
from ostan_gateway.web import pages
from ostan_kit.catalogue.entries import load_organisation
from ostan_kit.runtime import heap, telemetry
from ostan_kit.security.assertions import AssertionSigner, load_private_key

UNTRACED_PATHS = frozenset({"/healthz", "/readyz"})


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in UNTRACED_PATHS


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """The gateway; a ValueError when its keys or services are not configured (see ``settings``)."""
    settings = settings or GatewaySettings()
    endpoints = settings.configured_services()
    signer = AssertionSigner(load_private_key(*settings.assertion_key_source()))
    credentials = (
        channel_credentials(settings.tls_ca_file, settings.tls_cert_file, settings.tls_key_file)
        if settings.tls_ca_file
        else None
    )
    if settings.tls_cert_file and not settings.tls_ca_file:
        raise ValueError("a client certificate (mTLS) needs OSTAN_GATEWAY_TLS_CA_FILE to verify the services")
    jwks = JwksKeys(settings.jwks_url, max_age_seconds=settings.jwks_max_age_seconds) if settings.jwks_url else None
    secret = settings.token_secret()
    if secret is None and jwks is None:
        raise ValueError(
            "the gateway has no way to check tokens: set OSTAN_GATEWAY_JWKS_URL and OSTAN_GATEWAY_JWKS_ISSUER "
            "(the identity provider), OSTAN_GATEWAY_JWT_SECRET[_FILE] (the local issuer), or for a local run "
            "only OSTAN_GATEWAY_LOCAL_KEYS_DIR"
        )
    token_verifier = TokenVerifier(
        secret, jwks=jwks, jwks_issuer=settings.jwks_issuer, jwks_audience=settings.jwks_audience
    )
    answer_signer = AnswerSigner.from_folder(settings.inquiry_keys(), create=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # gRPC aio objects belong to the loop that made them: create them here, not at import.
        services = Services(
            {name: e.address for name, e in endpoints.items()},
            signer,
            credentials,
            settings.max_message_bytes,
            settings.channels_per_service,
        )
        app.state.services = services
        app.state.catalogue = CatalogueAggregate(
            services, app.state.organisation, settings.catalogue_deadline, settings.catalogue_ttl_seconds
        )
        app.state.processes = processes_api.ProcessAggregate(
            services, settings.catalogue_deadline, settings.catalogue_ttl_seconds
        )
        app.state.inquiries = InquiryDesk(
            services,
            InquiryDirectory(services, settings.inquiry_deadline, settings.inquiry_types_ttl_seconds),
            answer_signer,
            settings.inquiry_deadline,
            RateLimiter(settings.inquiry_rate_per_minute),
        )
        heap.settle()
        yield
        await services.close()

    app = FastAPI(
        title="Ostan gateway",
        version="0.1.0",
        summary="The governorate's services, cases and inquiries over one HTTP API.",
        lifespan=lifespan,
        # Swagger UI is served from the gateway's own copy (below); nothing loads from a CDN.
        docs_url=None,
        redoc_url=None,
        # A server span per request from FastAPI's native telemetry, continuing the caller's
        # traceparent, which the gRPC calls carry on; probes are left out. The metrics come from
        # Prometheus (HttpMetrics) and the logs from the JSON log, so FastAPI records neither.
        # With OpenTelemetry off (OTEL_SDK_DISABLED), nothing is installed, as elsewhere.
        telemetry={
            "tracing": not telemetry.disabled(),
            "operation_spans": False,
            "metrics": False,
            "logs": False,
            "exclude": _untraced,
            "auto_configure": False,  # the exporters are ostan_kit.runtime.telemetry's
        },
    )
    problems.install(app)
    # Inside out: bodies are bounded before anything reads them; whatever escapes every handler
    # is a 500 problem that leaves the connection usable; the metrics see the final status.
    app.add_middleware(BodyLimit, json_limit=settings.max_json_bytes, upload_limit=settings.max_document_bytes)
    app.add_middleware(AllowedMethods)
    app.add_middleware(UnexpectedErrors)
    app.add_middleware(HttpMetrics, skip=UNTRACED_PATHS)
    organisation = load_organisation()
    app.state.settings = settings
    app.state.organisation = organisation
    app.state.office_services = {office.slug: office.hosting_service for office in organisation.offices}
    app.state.endpoints = endpoints
    app.state.services_by_code_prefix = {e.code_prefix: name for name, e in endpoints.items()}
    app.state.token_verifier = token_verifier
    app.include_router(catalogue_api.router)
    app.include_router(cases_api.router)
    app.include_router(processes_api.router)
    app.include_router(issued_api.router)
    app.include_router(inquiries_api.router)
    app.include_router(case_stats_api.router)
    app.include_router(events_api.router)
    pages.install(app)

    def openapi() -> dict:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            problem = schemas.Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            app.openapi_schema = problems.document_problems(document, problem, secured=("/v1/cases", "/v1/inquiries"), public=("/v1/inquiries/keys",))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.mount("/docs/assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        """Swagger UI from the gateway's own copy (the swagger-ui-bundle-v2 package)."""
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
            # Swagger UI would otherwise fetch a validity badge from validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )

    def services_of(request: Request) -> Services:
        return request.app.state.services

    @app.get("/healthz", tags=["health"], response_model=schemas.Health)
    async def healthz() -> dict[str, str]:
        """The gateway process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={200: {"model": schemas.Readiness}})
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
