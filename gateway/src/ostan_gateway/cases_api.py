"""The case endpoints: start, read, inbox and search, act, attach documents, history.

Every call names its caller by a bearer token; the gateway passes the caller on to the office
service, whose engine decides what the caller may see and do.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Header, Request, Response, UploadFile
from fastapi import Path as PathParam
from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from ostan.common.v1 import case_pb2
from ostan_gateway import schemas
from ostan_gateway.auth import Caller, CurrentCaller
from ostan_gateway.problems import Problem
from ostan_gateway.query import QueryModel
from ostan_gateway.services import Services
from ostan_kit.processes.definitions import SLUG
from ostan_kit.text.persian import as_utc, ascii_digits, to_jalali
from ostan_kit.text.tracking import parse_code

router = APIRouter(tags=["cases"])

Code = Annotated[
    str,
    PathParam(
        pattern=schemas.TRACKING_CODE_PATTERN,
        description="A tracking code, e.g. FN-1405-000042-3 (Persian or Arabic digits accepted).",
    ),
]

# One of the services the gateway is configured with (``settings.GatewaySettings.services``).
ServiceName = Annotated[str, Field(pattern=SLUG, max_length=64)]
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", description="Required: a replay returns the first answer.")
]


# How deep a form's JSON may nest. Forms are flat or nearly so; the bound keeps every form well
# inside what protobuf decodes (a Struct spends two message levels per JSON level, of 100).
MAX_DATA_DEPTH = 16
# The largest case version there can be (the services keep it in a 32-bit integer).
MAX_VERSION = 2**31 - 1


def _depth(value: Any) -> int:
    """How many objects and arrays deep ``value`` nests, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DATA_DEPTH:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


def _shallow(value: dict[str, Any]) -> dict[str, Any]:
    if _depth(value) > MAX_DATA_DEPTH:
        raise ValueError(f"is nested too deep: at most {MAX_DATA_DEPTH} levels of objects and arrays")
    return value


FormData = Annotated[dict[str, Any], AfterValidator(_shallow)]


class StartCase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: ServiceName | None = Field(
        None, description="The office service; may be left out when `process` is a catalogue entry."
    )
    process: str = Field(
        min_length=1, max_length=100, description="A process slug, or a catalogue entry's slug or booklet ID."
    )
    data: FormData = Field(description=f"The application form of the process (at most {MAX_DATA_DEPTH} levels deep).")


class ActBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=MAX_VERSION, description="The case version you acted on; a newer one is a 409.")
    comment: str = Field("", max_length=4000)
    data: FormData = Field(default_factory=dict, description="The action's fields, e.g. a refusal's reason.")


def _instant(stamp: Any, present: bool = True) -> dict[str, str | None]:
    if not present:
        return {"utc": None, "jalali": None}
    value = stamp.ToDatetime(UTC)
    return {"utc": value.isoformat().replace("+00:00", "Z"), "jalali": to_jalali(value)}


def document_body(document: case_pb2.CaseDocument) -> dict[str, Any]:
    return {
        "kind": document.kind,
        "filename": document.filename,
        "content_type": document.content_type,
        "size": document.size,
        "sha256": document.sha256,
        "attached_by": document.attached_by,
        "attached_at": _instant(document.attached_at),
    }


def case_body(case: case_pb2.Case) -> dict[str, Any]:
    return {
        "code": case.code,
        "service": case.service,
        "process": case.process,
        "definition": case.definition,
        "process_version": case.process_version,
        "state": case.state,
        "version": case.version,
        "assigned_role": case.assigned_role or None,
        "outcome": case.outcome or None,
        "breached": case.breached,
        "applicant": {"id": case.applicant_id, "name": case.applicant_name},
        "data": json_format.MessageToDict(case.data),
        "created_at": _instant(case.created_at),
        "updated_at": _instant(case.updated_at),
        "state_entered_at": _instant(case.state_entered_at, case.HasField("state_entered_at")),
        "state_due_at": _instant(case.state_due_at, case.HasField("state_due_at")),
        "process_due_at": _instant(case.process_due_at, case.HasField("process_due_at")),
        "documents": [document_body(d) for d in case.documents],
        "comments": [
            {"author": c.author_id, "role": c.author_role, "text": c.text, "action": c.action, "at": _instant(c.at)}
            for c in case.comments
        ],
    }


def _services(request: Request) -> Services:
    return request.app.state.services


def _settings(request: Request):
    return request.app.state.settings


def _require_key(key: str | None) -> str:
    if not key or not key.strip():
        raise Problem(400, "the Idempotency-Key header is required on this call", slug="idempotency-key-required")
    return key


def _service_of_code(request: Request, code: str) -> str:
    try:
        prefix, _, _ = parse_code(code)
    except ValueError as error:
        raise Problem(422, str(error), slug="invalid-request", errors=[{"field": "code", "message": str(error)}]) from error
    name = request.app.state.services_by_code_prefix.get(prefix)
    if name is None:
        raise Problem(404, f"no service issues tracking codes with prefix {prefix}")
    return name


def _known_service(request: Request, service: str | None) -> None:
    if service is not None and service not in _services(request).clients:
        known = ", ".join(_services(request).clients)
        raise Problem(
            422,
            f"this gateway serves no service {service!r}",
            slug="invalid-request",
            errors=[{"field": "service", "message": f"one of {known}"}],
        )


async def _call(request: Request, who: Caller, service: str, method: str, message: Any) -> Any:
    services = _services(request)
    stub = services[service].cases
    return await services.call(service, getattr(stub, method), message, _settings(request).case_deadline, who)


async def _call_stub(request: Request, who: Caller, service: str, stub: str, method: str, message: Any) -> Any:
    services = _services(request)
    return await services.call(
        service, getattr(getattr(services[service], stub), method), message, _settings(request).case_deadline, who
    )


async def _service_of_process(request: Request, process: str) -> str:
    """The service that hosts a catalogue entry (by slug or booklet ID) or runs a process."""
    snapshot = await request.app.state.catalogue.snapshot()
    entry = snapshot.by_key.get(process.strip())
    if entry is None:
        entry = next((e for e in snapshot.entries if e.get("process") == process and e.get("runs_as") == "own"), None)
    if entry is None:
        raise Problem(
            422,
            f"{process!r} is no catalogue entry or process the services know; name the service",
            slug="invalid-request",
            errors=[{"field": "process", "message": "unknown; give service as well"}],
            missing_services=snapshot.missing_services,
        )
    return entry["hosting_service"]


@router.post("/v1/cases", status_code=201, response_model=schemas.Case)
async def start_case(
    body: StartCase, request: Request, response: Response, who: CurrentCaller, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    """Start a case of a process, or of any catalogue entry with external clients (the generic
    request). ``Idempotency-Key`` is required: the same key returns the first answer again (with
    ``Idempotent-Replayed: true``) and changes nothing."""
    key = _require_key(idempotency_key)
    _known_service(request, body.service)
    service = body.service or await _service_of_process(request, body.process)
    data = Struct()
    data.update(body.data)
    answer = await _call(
        request, who, service, "StartCase",
        case_pb2.StartCaseRequest(process=body.process, data=data, idempotency_key=key),
    )
    response.headers["Location"] = f"/v1/cases/{answer.case.code}"
    if answer.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return case_body(answer.case)


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ].*)?")


def _iso_8601(value: Any) -> Any:
    """An instant is written as an ISO 8601 date or date-time (any digit script), never as a
    bare number, which pydantic would otherwise take for seconds since 1970."""
    if isinstance(value, str):
        value = ascii_digits(value.strip())
        if not _ISO_DATE.fullmatch(value):
            raise ValueError("is not an ISO 8601 date or date-time, e.g. 2026-04-18 or 2026-04-18T09:00:00Z")
        if len(value) == 10:
            value += "T00:00:00Z"
    elif not isinstance(value, datetime):
        raise ValueError("is not an ISO 8601 date or date-time")
    return value


def _in_utc(value: datetime) -> datetime:
    try:
        return as_utc(value)
    except OverflowError:
        raise ValueError("is out of range: from 0001-01-01 to 9999-12-31 in UTC") from None


Instant = Annotated[datetime, BeforeValidator(_iso_8601), AfterValidator(_in_utc)]


class CaseQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: ServiceName | None = Field(None, description="Defaults to the service of the caller's office.")
    role: str | None = Field(None, pattern=SLUG, max_length=64, description="The inbox of this role: open cases waiting for it.")
    state: str | None = Field(None, pattern=SLUG, max_length=64)
    process: str | None = Field(None, pattern=SLUG, max_length=100)
    code: str | None = Field(None, max_length=32, description="A tracking code or its beginning.")
    applicant: str | None = Field(None, max_length=64)
    created_from: Instant | None = Field(None, description="Cases created at or after (ISO 8601 date or date-time).")
    created_to: Instant | None = Field(None, description="Cases created before (ISO 8601 date or date-time).")
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, pattern=r"^[0-9]{1,12}$", description="next_cursor of the previous page")


CASE_QUERY = QueryModel(CaseQuery)


@router.get("/v1/cases", response_model=schemas.CaseList, openapi_extra=CASE_QUERY.openapi)
async def list_cases(request: Request, who: CurrentCaller, query: Annotated[CaseQuery, Depends(CASE_QUERY)]) -> dict[str, Any]:
    """The inbox (``role``: open cases waiting for it, nearest deadline first) and the search.
    Staff see their office's cases; a citizen sees their own, from every service."""
    message = case_pb2.ListCasesRequest(
        role=query.role or "", state=query.state or "", process=query.process or "",
        code=query.code or "", applicant=query.applicant or "", page_size=query.limit,
        page_token=query.cursor or "",
    )
    for field, value in (("created_from", query.created_from), ("created_to", query.created_to)):
        if value is not None:
            getattr(message, field).FromDatetime(value)
    _known_service(request, query.service)
    if who.kind == "staff":
        names = [query.service or request.app.state.office_services.get(who.office, "")]
    else:
        names = [query.service] if query.service else list(_services(request).clients)
    if not all(name in _services(request).clients for name in names):
        raise Problem(403, "the caller's office has no service here", slug="forbidden")
    answers = await asyncio.gather(
        *(_call(request, who, name, "ListCases", message) for name in names), return_exceptions=True
    )
    items: list[dict[str, Any]] = []
    missing: dict[str, str] = {}
    for name, answer in zip(names, answers, strict=True):
        if isinstance(answer, Problem) and answer.status == 503 and len(names) > 1:
            missing[name] = answer.detail  # a citizen's other services still answer
        elif isinstance(answer, BaseException):
            raise answer
        else:
            items.extend(case_body(case) for case in answer.cases)
    next_cursor = answers[0].next_page_token if len(names) == 1 else ""
    return {"items": items, "next_cursor": next_cursor or None, "missing_services": sorted(missing), "errors": missing}


@router.get("/v1/cases/{code}", response_model=schemas.Case)
async def get_case(code: Code, request: Request, who: CurrentCaller) -> dict[str, Any]:
    """A case by its tracking code (Persian or Arabic digits accepted)."""
    service = _service_of_code(request, code)
    answer = await _call(request, who, service, "GetCase", case_pb2.GetCaseRequest(code=code))
    return case_body(answer.case)


@router.get("/v1/cases/{code}/actions", response_model=schemas.AllowedActions)
async def allowed_actions(code: Code, request: Request, who: CurrentCaller) -> dict[str, Any]:
    """The actions the caller may take on the case now."""
    service = _service_of_code(request, code)
    answer = await _call(request, who, service, "ListAllowedActions", case_pb2.ListAllowedActionsRequest(code=code))
    return {
        "items": [
            {
                "name": a.name, "title_fa": a.title_fa, "to_state": a.to_state,
                "requires_documents": list(a.requires_documents), "requires_comment": a.requires_comment,
                "fields": list(a.fields),
            }
            for a in answer.actions
        ]
    }


@router.post("/v1/cases/{code}/actions/{action}", response_model=schemas.Case)
async def act(
    code: Code, action: Annotated[str, PathParam(max_length=64)], body: ActBody, request: Request, response: Response, who: CurrentCaller,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Take an action of the case's process. ``version`` is the case version you saw: if someone
    acted first the answer is 409 and nothing changes."""
    key = _require_key(idempotency_key)
    service = _service_of_code(request, code)
    data = Struct()
    data.update(body.data)
    answer = await _call(
        request, who, service, "Act",
        case_pb2.ActRequest(
            code=code, action=action, expected_version=body.version, comment=body.comment, data=data, idempotency_key=key
        ),
    )
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return case_body(answer.case)


@router.post("/v1/cases/{code}/documents", status_code=201, response_model=schemas.AttachedDocument)
async def attach_document(
    code: Code,
    request: Request,
    response: Response,
    who: CurrentCaller,
    kind: Annotated[str, Form(max_length=64)],
    file: Annotated[UploadFile, File()],
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Attach a document (multipart: ``kind`` and ``file``). Its kind, type and size are checked
    against the process definition before anything is kept."""
    key = _require_key(idempotency_key)
    service = _service_of_code(request, code)
    limit = _settings(request).max_document_bytes
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise Problem(413, f"a document may be at most {limit} bytes", slug="content-too-large")
    answer = await _call(
        request, who, service, "AttachDocument",
        case_pb2.AttachDocumentRequest(
            code=code, kind=kind, filename=file.filename or kind,
            content_type=file.content_type or "application/octet-stream", content=content, idempotency_key=key,
        ),
    )
    if answer.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    body = case_body(answer.case)
    body["document"] = document_body(answer.document)
    return body


@router.get(
    "/v1/cases/{code}/documents/{sha256}",
    response_class=Response,
    responses={
        200: {
            # Any of the media types the process's document kinds allow, as stored.
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The document as stored, with its own media type.",
        }
    },
)
async def download_document(
    code: Code, sha256: Annotated[str, PathParam(pattern="^[0-9a-fA-F]{64}$")], request: Request, who: CurrentCaller
) -> Response:
    """One of the case's documents, by the SHA-256 the case lists, for the applicant and the
    office's staff; anyone else gets 404, as if the case did not exist."""
    service = _service_of_code(request, code)
    answer = await _call(request, who, service, "GetDocument", case_pb2.GetDocumentRequest(code=code, sha256=sha256))
    document = answer.document
    return Response(
        answer.content,
        media_type=document.content_type,
        headers={
            "Content-Disposition": content_disposition(document.filename or document.kind),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


def content_disposition(filename: str) -> str:
    """An attachment header that keeps a Persian file name (RFC 6266, RFC 8187) with an ASCII
    fallback for old clients."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename) or "document"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get("/v1/cases/{code}/history", response_model=schemas.History)
async def case_history(code: Code, request: Request, who: CurrentCaller) -> dict[str, Any]:
    """The case's transitions, oldest first, each with its actor's role and time."""
    service = _service_of_code(request, code)
    answer = await _call(request, who, service, "GetHistory", case_pb2.GetHistoryRequest(code=code))
    return {
        "items": [
            {
                "event": e.event, "action": e.action, "from_state": e.from_state or None, "to_state": e.to_state,
                "actor": e.actor_id, "role": e.actor_role, "comment": e.comment, "version": e.version,
                "at": _instant(e.at),
            }
            for e in answer.entries
        ]
    }
