"""Every error the gateway answers is an RFC 9457 problem (``application/problem+json``)."""

from __future__ import annotations

import logging
from typing import Any

import grpc
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ostan_kit.runtime.errors import RemoteError
from ostan_kit.runtime.telemetry import current_ids

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    502: "Bad gateway",
    503: "Service unavailable",
}

_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 422,
    grpc.StatusCode.OUT_OF_RANGE: 422,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 503,
    grpc.StatusCode.CANCELLED: 503,
}


# Causes a service names (google.rpc.ErrorInfo) that have an HTTP status of their own.
_BY_REASON = {"DOCUMENT_TOO_LARGE": 413, "DOCUMENT_TYPE_NOT_ALLOWED": 415}


class Problem(Exception):
    def __init__(self, status: int, detail: str, *, slug: str = "", **extensions: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or _TITLES.get(status, "error").lower().replace(" ", "-")
        self.extensions = extensions


# The problems every operation may answer, documented on each (a service that is down is a 503,
# a body over its bound a 413, a token that fails a 401, wherever they occur).
DOCUMENTED = (400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 502, 503)


def document_problems(
    openapi: dict[str, Any], problem_schema: dict[str, Any], secured: tuple[str, ...], public: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The OpenAPI document with the Problem schema and every operation's problem answers as
    ``application/problem+json``, and the bearer scheme on the paths under ``secured`` but those
    in ``public``."""
    components = openapi.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    definitions = problem_schema.pop("$defs", {})
    schemas.update(definitions)
    schemas["Problem"] = problem_schema
    # FastAPI's own validation error shapes are never sent: every 422 is a Problem.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    components.setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    reference = {"$ref": "#/components/schemas/Problem"}
    for path, operations in openapi.get("paths", {}).items():
        for operation in operations.values():
            answers = operation.setdefault("responses", {})
            for status in DOCUMENTED:
                answers[str(status)] = {
                    "description": _TITLES[status],
                    "content": {MEDIA_TYPE: {"schema": reference}},
                }
            if path.startswith(secured) and path not in public:
                operation["security"] = [{"bearer": []}]
    return openapi


def problem_response(problem: Problem, instance: str = "", headers: dict[str, str] | None = None) -> Response:
    """The problem document; its ``trace_id`` finds the request's trace (and its log lines)."""
    trace_id, _ = current_ids()
    body = {
        "type": f"/problems/{problem.slug}",
        "title": _TITLES.get(problem.status, "Error"),
        "status": problem.status,
        "detail": problem.detail,
        **({"instance": instance} if instance else {}),
        **problem.extensions,
        **({"trace_id": trace_id} if trace_id else {}),
    }
    return Response(orjson.dumps(body), status_code=problem.status, media_type=MEDIA_TYPE, headers=headers)


def from_remote(service: str, error: RemoteError) -> Problem:
    """The problem a failed call to ``service`` becomes."""
    status = _HTTP_STATUS.get(error.code, 502)
    if status == 503:
        return Problem(
            503,
            f"the {service} service did not answer in time or is down; try again later",
            slug="service-unavailable",
            service=service,
        )
    if status == 502:
        return Problem(502, f"the {service} service failed: {error.message}", service=service)
    if error.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        # gRPC's own words ("Received message larger than max …") are not the client's business.
        if "larger than max" in error.message:
            return Problem(413, f"the request is larger than the {service} service takes", service=service)
        return Problem(429, f"the {service} service is busy; try again later", service=service)
    status = _BY_REASON.get(error.reason, status)
    extensions: dict[str, Any] = {"service": service}
    if error.reason:
        extensions["reason"] = error.reason
    if error.violations:
        extensions["errors"] = [{"field": v.field, "message": v.description} for v in error.violations]
    metadata = error.metadata or {}
    if "allowed_actions" in metadata:
        extensions["allowed_actions"] = [name for name in metadata["allowed_actions"].split(",") if name]
        extensions["state"] = metadata.get("state", "")
    if "current_version" in metadata:
        extensions["current_version"] = int(metadata["current_version"])
    return Problem(status, error.message, slug=error.reason.lower().replace("_", "-"), **extensions)


def _field(error: dict[str, Any]) -> str:
    """A dotted path to the bad field: ``data.mobile`` in the body, ``query.limit`` elsewhere."""
    if error.get("type") == "json_invalid":
        return "body"
    parts = [str(part) for part in error.get("loc", ())]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, problem: Problem) -> Response:
        return problem_response(problem, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        errors = [{"field": _field(e), "message": e["msg"]} for e in error.errors()]
        fields = ", ".join(sorted({e["field"] for e in errors}))
        return problem_response(
            Problem(422, f"the request is invalid: {fields}", slug="invalid-request", errors=errors),
            request.url.path,
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> Response:
        detail = error.detail if isinstance(error.detail, str) else _TITLES.get(error.status_code, "Error")
        headers = dict(error.headers or {})
        if error.status_code == 405:
            # Every method of the path, not only those of the first route that matched it.
            headers["Allow"] = ", ".join(methods_of(request.app, request.scope))
        return problem_response(Problem(error.status_code, detail), request.url.path, headers)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def methods_of(app: ASGIApp, scope: Scope) -> list[str]:
    """The methods the routes of ``scope``'s path answer, OPTIONS included (empty: no such path)."""
    routes = [route for route in app.router.routes if not isinstance(route, Mount)]  # type: ignore[attr-defined]
    methods = {
        method
        for method in _METHODS
        if any(route.matches({**scope, "method": method})[0] == Match.FULL for route in routes)
    }
    return sorted(methods | {"OPTIONS"}) if methods else []


class AllowedMethods:
    """``OPTIONS`` on a path answers 204 with every method its routes take in ``Allow``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            methods = methods_of(scope["app"], scope)
            if methods:
                await Response(status_code=204, headers={"Allow": ", ".join(methods)})(scope, receive, send)
                return
        await self.app(scope, receive, send)



class UnexpectedErrors:
    """Anything no handler answered becomes a 500 problem, and the connection stays usable.

    (Starlette's own last-resort handler answers and then re-raises, which makes the server drop
    a kept-alive connection under the client's next request.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            log.exception("unexpected error", extra={"path": scope.get("path", "")})
            if started:
                raise
            response = problem_response(Problem(500, "an unexpected error; it has been logged"), scope.get("path", ""))
            await response(scope, receive, send)
