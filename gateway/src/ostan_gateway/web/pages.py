"""The web frontend the gateway serves at ``/``: server-rendered pages (Jinja2) in Persian first,
right to left, with an English toggle, and a little JavaScript. Pages call the same services the
API does, as the caller named by the session cookie (the same bearer token the API takes).

Citizens find a service, read it, apply, upload, track and download what was issued; staff work
their inbox and cases; supervisors see their office's figures. Forms post back to the pages
(post/redirect/get); the cookie is HttpOnly and SameSite=Strict, so another site cannot post
them for the user.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from google.protobuf.struct_pb2 import Struct

from ostan.common.v1 import case_pb2, issued_pb2
from ostan_gateway import case_stats_api, cases_api, issued_api, processes_api
from ostan_gateway.auth import Caller, issue_token
from ostan_gateway.problems import Problem
from ostan_gateway.search import query_terms
from ostan_gateway.web.i18n import STRINGS, jalali, persian_digits
from ostan_kit.runtime.errors import Unauthenticated
from ostan_kit.text.persian import ascii_digits
from ostan_kit.text.tracking import normalise_code

HERE = Path(__file__).parent
TOKEN_COOKIE = "ostan_token"
LANG_COOKIE = "ostan_lang"
SESSION_SECONDS = 8 * 3600
MAX_UPLOAD_FIELDS = 20
WHOLE_NUMBER = re.compile(r"-?[0-9]{1,18}")

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["jalali"] = lambda value, lang="fa": jalali(value, lang)
templates.env.filters["digits"] = lambda value, lang="fa": persian_digits(value) if lang == "fa" else str(value)
router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)


# -- session -------------------------------------------------------------------------------
async def session_caller(request: Request) -> Caller | None:
    token = request.cookies.get(TOKEN_COOKIE)
    if not token:
        return None
    verifier = request.app.state.token_verifier
    try:
        if verifier.needs_network(token):
            return await asyncio.to_thread(verifier.verify, token)
        return verifier.verify(token)
    except Unauthenticated:
        return None


def language(request: Request) -> str:
    return "en" if request.cookies.get(LANG_COOKIE) == "en" else "fa"


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    context.setdefault("caller", getattr(request.state, "web_caller", None))
    return templates.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "t": STRINGS[lang],
            "local_mode": bool(request.app.state.settings.local_keys_dir),
            "path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            "error": request.query_params.get("error", ""),
            "notice": request.query_params.get("notice", ""),
            "office_names": {
                o.slug: (o.title_fa if lang == "fa" else o.title_en) for o in request.app.state.organisation.offices
            },
            **context,
        },
        status_code=status,
        headers={"Cache-Control": "no-store", "Content-Language": lang},
    )


def back(path: str, **params: str) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v})
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


def form_key(form: Any) -> str:
    """The form's idempotency key (a form sent twice sends the same one), or a new one."""
    return str(form.get("idempotency_key", "")) or str(uuid.uuid4())


async def back_to_case(code: str, call: Awaitable[object], notice: str) -> RedirectResponse:
    """Make ``call`` for the case page's form, then go back to the page saying what came of it."""
    try:
        await call
    except Problem as problem:
        return back(f"/cases/{code}", error=problem.detail)
    return back(f"/cases/{code}", notice=notice)


async def signed_in(request: Request) -> Caller | RedirectResponse:
    caller = await session_caller(request)
    request.state.web_caller = caller
    if caller is None:
        return back("/signin", next=request.url.path)
    return caller


def _safe_next(value: str) -> str:
    """A path of this site to go on to, never another site: browsers read ``//host`` and
    ``/\\host`` as another host."""
    local = value.startswith("/") and not value.startswith("//") and "\\" not in value
    return value if local and value.isprintable() else "/"


# -- language and sign-in --------------------------------------------------------------------
@router.get("/lang/{lang}")
async def set_language(lang: str, next: str = "/") -> Response:
    response = back(_safe_next(next))
    response.set_cookie(LANG_COOKIE, "en" if lang == "en" else "fa", max_age=365 * 86400, samesite="lax")
    return response


@router.get("/signin")
async def signin_page(request: Request, next: str = "/") -> HTMLResponse:
    request.state.web_caller = await session_caller(request)
    offices = [(office.slug, office.title_fa, office.title_en) for office in request.app.state.organisation.offices]
    return render(request, "signin.html", next=_safe_next(next), offices=offices)


def _session(response: Response, request: Request, token: str) -> Response:
    response.set_cookie(
        TOKEN_COOKIE, token, max_age=SESSION_SECONDS, httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/signin/local")
async def signin_local(request: Request) -> Response:
    """Local runs only: a token from the local issuer, as ``python -m ostan_gateway.tokens`` makes."""
    settings = request.app.state.settings
    if not settings.local_keys_dir:
        raise Problem(404, "local sign-in exists only in a local run", slug="not-found")
    form = await request.form()
    kind = str(form.get("kind", "citizen"))
    next_path = _safe_next(str(form.get("next", "/")))
    secret = settings.token_secret()
    try:
        if kind == "staff":
            roles = [r.strip() for r in str(form.get("roles", "")).replace("،", ",").split(",") if r.strip()]
            token = issue_token(
                secret, kind="staff", subject=str(form.get("subject", "")).strip() or "staff-web",
                name=str(form.get("name", "")).strip(), roles=roles, office=str(form.get("office", "")),
                ttl_seconds=SESSION_SECONDS,
            )
        else:
            token = issue_token(
                secret, kind="citizen", subject=str(form.get("national_code", "")).strip(),
                name=str(form.get("name", "")).strip(), roles=["applicant"], ttl_seconds=SESSION_SECONDS,
            )
        request.app.state.token_verifier.verify(token)
    except (Unauthenticated, ValueError, TypeError) as error:
        return back("/signin", next=next_path, error=str(error))
    return _session(back(next_path), request, token)


@router.post("/signin/token")
async def signin_token(request: Request) -> Response:
    """A token obtained from the identity provider, pasted."""
    form = await request.form()
    token = str(form.get("token", "")).strip()
    next_path = _safe_next(str(form.get("next", "/")))
    try:
        verifier = request.app.state.token_verifier
        if verifier.needs_network(token):
            await asyncio.to_thread(verifier.verify, token)
        else:
            verifier.verify(token)
    except Unauthenticated as error:
        return back("/signin", next=next_path, error=str(error))
    return _session(back(next_path), request, token)


@router.post("/signout")
async def signout() -> Response:
    response = back("/")
    response.delete_cookie(TOKEN_COOKIE)
    return response


# -- the catalogue ---------------------------------------------------------------------------
@router.get("/")
async def home(request: Request, q: str = "") -> HTMLResponse:
    request.state.web_caller = await session_caller(request)
    snap = await request.app.state.catalogue.snapshot()
    query = q.strip()[:200]
    if query:
        hits = [entry for _score, entry in snap.index.search(query_terms(query))][:50]
    else:
        hits = [entry for entry in snap.entries if entry.get("runs_as") == "own"][:60]
    return render(request, "home.html", q=query, entries=hits, searched=bool(query), count=len(hits))


@router.get("/services/{slug}")
async def service_page(request: Request, slug: str) -> HTMLResponse:
    request.state.web_caller = await session_caller(request)
    snap = await request.app.state.catalogue.snapshot()
    entry = snap.by_key.get(slug.strip().lower())
    if entry is None:
        return render(request, "error.html", status=404, message=STRINGS[language(request)]["no_service"])
    process = None
    if entry.get("runs_as") in ("own", "generic"):
        try:
            process = await processes_api.get_process(entry["slug"], request)
        except Problem:
            process = None
    return render(request, "service.html", entry=entry, process=process)


# -- applying --------------------------------------------------------------------------------
async def _process(request: Request, slug: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    snap = await request.app.state.catalogue.snapshot()
    entry = snap.by_key.get(slug)
    process = await processes_api.get_process(slug, request)
    return process, entry


@router.get("/apply/{slug}")
async def apply_page(request: Request, slug: str) -> Response:
    caller = await signed_in(request)
    if isinstance(caller, RedirectResponse):
        return caller
    process, entry = await _process(request, slug)
    return render(
        request, "apply.html", process=process, entry=entry, slug=slug, values={}, field_errors={},
        key=str(uuid.uuid4()),
    )


def form_data(schema: dict[str, Any], form: Any) -> dict[str, Any]:
    """The form's values typed as the process schema says (lists one per line)."""
    data: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type")
        if kind == "boolean":
            data[name] = form.get(name) == "on"
            continue
        raw = str(form.get(name, "")).strip()
        if not raw:
            continue
        if kind == "array":
            items = [line.strip() for line in raw.splitlines() if line.strip()]
            data[name] = items if prop.get("items", {}).get("type") != "object" else []
        elif kind == "integer":
            digits = ascii_digits(raw)
            # Not a whole number: passed on as typed, for the service to name the field.
            data[name] = int(digits) if WHOLE_NUMBER.fullmatch(digits) else raw
        else:
            data[name] = raw
    return data


@router.post("/apply/{slug}")
async def apply_submit(request: Request, slug: str) -> Response:
    caller = await signed_in(request)
    if isinstance(caller, RedirectResponse):
        return caller
    process, entry = await _process(request, slug)
    form = await request.form()
    key = form_key(form)
    data = form_data(process["form"], form)
    struct = Struct()
    struct.update(data)
    try:
        answer = await cases_api._call(
            request, caller, process["service"], "StartCase",
            case_pb2.StartCaseRequest(
                process=entry["slug"] if entry and entry.get("runs_as") == "generic" else process["slug"],
                data=struct, idempotency_key=key,
            ),
        )
    except Problem as problem:
        errors = {
            str(e.get("field", "")).removeprefix("data."): e.get("message", "") for e in problem.extensions.get("errors", [])
        }
        return render(
            request, "apply.html", status=problem.status, process=process, entry=entry, slug=slug,
            values={k: str(form.get(k, "")) for k in process["form"].get("properties", {})},
            field_errors=errors, key=key, error=problem.detail,
        )
    return back(f"/cases/{answer.case.code}", notice="created")


# -- tracking and a case -----------------------------------------------------------------------
@router.get("/track")
async def track(request: Request, code: str = "") -> Response:
    request.state.web_caller = await session_caller(request)
    if code:
        try:
            normalised = normalise_code(code)
        except ValueError as error:
            return render(request, "track.html", code=code, error=str(error))
        return back(f"/cases/{normalised}")
    return render(request, "track.html", code="")


async def _titles(request: Request) -> dict[str, dict[str, str]]:
    """Persian titles of every process and state, for lists of cases."""
    snapshot = await request.app.state.processes.snapshot()
    processes, states = {}, {}
    for key, process in snapshot.processes.items():
        processes[key] = process["title_fa"]
        for state in process["states"]:
            states[f"{key}/{state['name']}"] = state["title_fa"] or state["name"]
    return {"process_titles": processes, "state_titles": states}


async def _process_of_case(request: Request, case: dict[str, Any]) -> dict[str, Any] | None:
    snapshot = await request.app.state.processes.snapshot()
    return snapshot.processes.get(f"{case['service']}/{case['definition']}")


SLA_WARNING_SHARE = 0.8


def sla(case: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """Where the case stands against its current state's deadline: ok, warning (80% used) or breach."""
    due, entered = case["state_due_at"]["utc"], case.get("state_entered_at", {}).get("utc")
    if not due:
        return {"status": "none", "hours_left": None}
    now = now or datetime.now(UTC)
    due_at = datetime.fromisoformat(due.replace("Z", "+00:00"))
    left = (due_at - now).total_seconds()
    status = "ok"
    if case["breached"] or left <= 0:
        status = "breach"
    elif entered:
        start = datetime.fromisoformat(entered.replace("Z", "+00:00"))
        total = (due_at - start).total_seconds()
        if total > 0 and (now - start).total_seconds() >= SLA_WARNING_SHARE * total:
            status = "warning"
    return {"status": status, "hours_left": int(left // 3600)}


@router.get("/cases/{code}")
async def case_page(request: Request, code: str) -> Response:
    caller = await signed_in(request)
    if isinstance(caller, RedirectResponse):
        return caller
    try:
        service = cases_api._service_of_code(request, code)
        answer = await cases_api._call(request, caller, service, "GetCase", case_pb2.GetCaseRequest(code=code))
    except Problem as problem:
        return render(request, "error.html", status=problem.status, message=problem.detail)
    case = cases_api.case_body(answer.case)
    code = case["code"]
    history, actions = await asyncio.gather(
        cases_api._call(request, caller, service, "GetHistory", case_pb2.GetHistoryRequest(code=code)),
        cases_api._call(request, caller, service, "ListAllowedActions", case_pb2.ListAllowedActionsRequest(code=code)),
    )
    process = await _process_of_case(request, case)
    issued = None
    if case["outcome"] == "granted" and process and process.get("issues"):
        try:
            got = await cases_api._call_stub(
                request, caller, service, "issued", "GetIssued", issued_pb2.GetIssuedRequest(code=code)
            )
            issued = issued_api.issued_body(got.document, got.status)
        except Problem:
            issued = None
    action_specs = {a["name"]: a for a in (process or {}).get("actions", [])}
    return render(
        request, "case.html", case=case, process=process, sla=sla(case), issued=issued,
        states={s["name"]: s for s in (process or {}).get("states", [])},
        history=[
            {"action": e.action, "event": e.event, "from": e.from_state, "to": e.to_state, "role": e.actor_role,
             "comment": e.comment, "at": e.at.ToJsonString()}
            for e in history.entries
        ],
        actions=[
            {"name": a.name, "title_fa": a.title_fa, "requires_comment": a.requires_comment,
             "requires_documents": list(a.requires_documents),
             "fields": action_specs.get(a.name, {}).get("fields", {"properties": {}})}
            for a in actions.actions
        ],
        key=str(uuid.uuid4()),
    )


@router.post("/cases/{code}/documents")
async def case_upload(request: Request, code: str) -> Response:
    caller = await signed_in(request)
    if isinstance(caller, RedirectResponse):
        return caller
    service = cases_api._service_of_code(request, code)
    limit = request.app.state.settings.max_document_bytes
    form = await request.form(max_files=1, max_fields=MAX_UPLOAD_FIELDS)
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        return back(f"/cases/{code}", error="no file")
    content = await upload.read(limit + 1)
    if len(content) > limit:
        return back(f"/cases/{code}", error=f"a document may be at most {limit} bytes")
    attach = case_pb2.AttachDocumentRequest(
        code=code, kind=str(form.get("kind", "")), filename=upload.filename or "document",
        content_type=upload.content_type or "application/octet-stream", content=content,
        idempotency_key=form_key(form),
    )
    return await back_to_case(code, cases_api._call(request, caller, service, "AttachDocument", attach), "uploaded")


@router.post("/cases/{code}/actions/{action}")
async def case_act(request: Request, code: str, action: str) -> Response:
    caller = await signed_in(request)
    if isinstance(caller, RedirectResponse):
        return caller
    service = cases_api._service_of_code(request, code)
    form = await request.form()
    case = cases_api.case_body(
        (await cases_api._call(request, caller, service, "GetCase", case_pb2.GetCaseRequest(code=code))).case
    )
    process = await _process_of_case(request, case)
    spec = next((a for a in (process or {}).get("actions", []) if a["name"] == action), None)
    data = form_data(spec["fields"], form) if spec else {}
    struct = Struct()
    struct.update(data)
    version = ascii_digits(str(form.get("version", "0")).strip()) or "0"
    if not version.isascii() or not version.isdigit() or len(version) > 18:
        return back(f"/cases/{code}", error="the case's version is not a whole number")
    act = case_pb2.ActRequest(
        code=code, action=action, expected_version=int(version),
        comment=str(form.get("comment", "")), data=struct, idempotency_key=form_key(form),
    )
    return await back_to_case(code, cases_api._call(request, caller, service, "Act", act), "acted")


@router.post("/cases/{code}/revoke")
async def case_revoke(request: Request, code: str) -> Response:
    caller = await signed_in(request)
    if isinstance(caller, RedirectResponse):
        return caller
    service = cases_api._service_of_code(request, code)
    form = await request.form()
    revoke = issued_pb2.RevokeIssuedRequest(code=code, reason=str(form.get("reason", "")), idempotency_key=form_key(form))
    return await back_to_case(
        code, cases_api._call_stub(request, caller, service, "issued", "RevokeIssued", revoke), "revoked"
    )


@router.get("/cases/{code}/documents/{sha256}")
async def case_document(request: Request, code: str, sha256: str) -> Response:
    caller = await signed_in(request)
    if isinstance(caller, RedirectResponse):
        return caller
    return await cases_api.download_document(code, sha256, request, caller)


@router.get("/cases/{code}/issued.pdf")
async def case_issued_pdf(request: Request, code: str) -> Response:
    caller = await signed_in(request)
    if isinstance(caller, RedirectResponse):
        return caller
    return await issued_api.get_issued_pdf(code, request, caller)


# -- staff -------------------------------------------------------------------------------------
async def _cases(request: Request, caller: Caller, **filters: str) -> list[dict[str, Any]]:
    service = request.app.state.office_services.get(caller.office, "")
    if service not in request.app.state.services.clients:
        raise Problem(403, "the caller's office has no service here", slug="forbidden")
    items: list[dict[str, Any]] = []
    token = ""
    for _ in range(10):  # at most 2,000 cases
        answer = await cases_api._call(
            request, caller, service, "ListCases", case_pb2.ListCasesRequest(page_size=200, page_token=token, **filters)
        )
        items.extend(cases_api.case_body(case) for case in answer.cases)
        token = answer.next_page_token
        if not token:
            break
    return items


@router.get("/inbox")
async def inbox(request: Request, role: str = "") -> Response:
    caller = await signed_in(request)
    if isinstance(caller, RedirectResponse):
        return caller
    if caller.kind != "staff":
        return back("/my")
    roles = sorted(caller.roles)
    role = role if role in roles else (roles[0] if roles else "")
    try:
        # Waiting for the role: assigned to it, or in a state where one of its actions applies
        # (the head of office decides cases the clerk still holds).
        cases = [case for case in await _cases(request, caller) if not case["outcome"]]
    except Problem as problem:
        return render(request, "error.html", status=problem.status, message=problem.detail)
    snapshot = await request.app.state.processes.snapshot()

    def waits_for_role(case: dict[str, Any]) -> bool:
        if case["assigned_role"] == role:
            return True
        process = snapshot.processes.get(f"{case['service']}/{case['definition']}") or {}
        return any(case["state"] in a["from"] and role in a["roles"] for a in process.get("actions", []))

    rows = [{**case, "sla": sla(case)} for case in cases if waits_for_role(case)]
    return render(request, "inbox.html", role=role, roles=roles, cases=rows, **await _titles(request))


@router.get("/my")
async def my_cases(request: Request) -> Response:
    caller = await signed_in(request)
    if isinstance(caller, RedirectResponse):
        return caller
    if caller.kind == "staff":
        return back("/inbox")
    listing = await cases_api.list_cases(request, caller, cases_api.CaseQuery())
    return render(request, "my.html", cases=listing["items"], **await _titles(request))


@router.get("/office")
async def office_figures(request: Request) -> Response:
    """A supervisor's office figures, from ``GET /v1/stats/cases``: open by state, finished by
    outcome, time to decision and SLA compliance per process; the performance and inspection
    office sees every office."""
    caller = await signed_in(request)
    if isinstance(caller, RedirectResponse):
        return caller
    if caller.kind != "staff":
        return back("/my")
    first = request.query_params.get("from") or None
    last = request.query_params.get("to") or None
    try:
        stats = await case_stats_api.case_stats(request, caller, from_=first, to=last, office=None)
    except Problem as problem:
        return render(request, "error.html", status=problem.status, message=problem.detail)
    return render(
        request, "office.html", stats=stats, first=first or "", last=last or "", **await _titles(request)
    )


def duration(seconds: float, lang: str = "fa") -> str:
    """A time to decision, in days past one day and in hours below it."""
    strings = STRINGS[lang]
    if seconds >= 86400:
        value, unit = f"{seconds / 86400:.1f}", strings["days"]
    else:
        value, unit = f"{seconds / 3600:.1f}", strings["hours"]
    value = value.removesuffix(".0")
    return f"{persian_digits(value).replace('.', '٫') if lang == 'fa' else value} {unit}"


def share(value: float | None, lang: str = "fa") -> str:
    if value is None:
        return "—"
    text = f"{value * 100:.0f}%"
    return persian_digits(text).replace("%", "٪") if lang == "fa" else text


templates.env.filters["duration"] = duration
templates.env.filters["share"] = share


# -- verification ------------------------------------------------------------------------------
def verify_page(request: Request, body: dict[str, Any]) -> HTMLResponse:
    return render(request, "verify.html", document=body, caller=None)

