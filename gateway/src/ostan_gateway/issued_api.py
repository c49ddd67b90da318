"""What granted cases issued: the record and its PDF for the case's applicant and staff, its
revocation by staff, and the public verification page the PDF's QR code points to."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ostan.common.v1 import issued_pb2
from ostan_gateway import schemas
from ostan_gateway.auth import CurrentCaller
from ostan_gateway.cases_api import Code, _call_stub, _require_key, _service_of_code, content_disposition
from ostan_gateway.issued_pdf import render_pdf

router = APIRouter(tags=["issued"])


class RevokeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


def issued_body(document: issued_pb2.IssuedDocument, status: issued_pb2.IssuedStatus) -> dict[str, Any]:
    return {
        "code": document.code,
        "service": document.service,
        "process": document.process,
        "kind": document.kind,
        "title_fa": document.title_fa,
        "title_en": document.title_en,
        "office": {"slug": document.office, "title_fa": document.office_title_fa},
        "applicant_name": document.applicant_name,
        "fields": [{"name": f.name, "label_fa": f.label_fa, "value": f.value} for f in document.fields],
        "issued_at": {
            "utc": document.issued_at.ToJsonString(), "jalali": document.issued_at_jalali,
        },
        "valid_until_jalali": document.valid_until_jalali or None,
        "revoked_at": document.revoked_at.ToJsonString() if document.HasField("revoked_at") else None,
        "revoked_reason": document.revoked_reason or None,
        "status": {"authentic": status.authentic, "current": status.current, "state": status.state},
        "signature": {
            "algorithm": "Ed25519", "key_id": document.key_id, "value": document.signature,
            "signed_record": document.signed_record_json,
        },
    }


def verify_url(request: Request, code: str) -> str:
    base = request.app.state.settings.public_url or str(request.base_url)
    return f"{base.rstrip('/')}/v1/verify/{code}"


@router.get("/v1/cases/{code}/issued", response_model=schemas.Issued)
async def get_issued(code: Code, request: Request, who: CurrentCaller) -> dict[str, Any]:
    """What the case issued (a permit, licence, card or certificate), with whether it is
    authentic and current; for the applicant and the office's staff."""
    service = _service_of_code(request, code)
    answer = await _call_stub(request, who, service, "issued", "GetIssued", issued_pb2.GetIssuedRequest(code=code))
    return issued_body(answer.document, answer.status)


@router.get(
    "/v1/cases/{code}/issued.pdf",
    response_class=Response,
    responses={
        200: {
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The issued document as a PDF.",
        }
    },
)
async def get_issued_pdf(code: Code, request: Request, who: CurrentCaller) -> Response:
    """The issued document as a PDF, with a QR code to its verification page."""
    service = _service_of_code(request, code)
    answer = await _call_stub(request, who, service, "issued", "GetIssued", issued_pb2.GetIssuedRequest(code=code))
    document = answer.document
    content = render_pdf(document, answer.status, verify_url(request, document.code))
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": content_disposition(f"{document.code}.pdf"),
            "Cache-Control": "private, no-store",
        },
    )


@router.post("/v1/cases/{code}/issued/revoke", response_model=schemas.Issued)
async def revoke_issued(
    code: Code, body: RevokeBody, request: Request, response: Response, who: CurrentCaller,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> dict[str, Any]:
    """Revoke what the case issued (staff of the roles its definition names), with a reason."""
    key = _require_key(idempotency_key)
    service = _service_of_code(request, code)
    answer = await _call_stub(
        request, who, service, "issued", "RevokeIssued",
        issued_pb2.RevokeIssuedRequest(code=code, reason=body.reason, idempotency_key=key),
    )
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return issued_body(answer.document, answer.status)


async def verify(request: Request, code: str) -> dict[str, Any]:
    service = _service_of_code(request, code)
    services = request.app.state.services
    answer = await services.call(
        service, services[service].verification.Verify, issued_pb2.VerifyRequest(code=code),
        request.app.state.settings.case_deadline,
    )
    body = issued_body(answer.document, answer.status)
    body["signature"]["signed_record"] = None
    return body


@router.get(
    "/v1/verify/{code}",
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Issued"}},
                "text/html": {"schema": {"type": "string"}},
            },
            "description": "Whether the document is authentic and current: JSON, or the page for a browser.",
        }
    },
)
async def verify_issued(code: Code, request: Request) -> Response:
    """Public: whether the document with this code is authentic (its record verifies against the
    issuing service's signature) and current (not revoked, not expired). A browser (Accept:
    text/html) gets the page; anyone else JSON."""
    body = await verify(request, code)
    if "text/html" in request.headers.get("accept", ""):
        from ostan_gateway.web.pages import verify_page

        return verify_page(request, body)
    from fastapi.responses import JSONResponse

    return JSONResponse(body, headers={"Cache-Control": "no-store"})
