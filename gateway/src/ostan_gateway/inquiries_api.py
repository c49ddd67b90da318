"""The inquiry endpoints (استعلام) other agencies call with their bearer token.

``GET /v1/inquiries`` lists every type and what the calling agency is granted (X-Road's
listMethods and allowedMethods); ``POST /v1/inquiries/{type}`` answers with the granted fields
only, bound to the request by its SHA-256 and signed as a JWS (EdDSA) whose keys
``GET /v1/inquiries/keys`` publishes as a JWKS.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.convertors import Convertor, register_url_convertor

from ostan_gateway.auth import CurrentCaller
from ostan_gateway.inquiries import InquiryDesk, type_view
from ostan_gateway.problems import Problem, problem_response

log = logging.getLogger(__name__)

router = APIRouter(tags=["inquiries"])


class InquiryTypeConvertor(Convertor):
    """An inquiry type id in a path; never ``keys``, which is the JWKS's path beside the types."""

    regex = r"(?!keys(?:/|$))[a-z0-9]+(?:-[a-z0-9]+)*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("inquiry_type", InquiryTypeConvertor())

TypeId = Annotated[str, Path(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=100, description="An inquiry type id.")]


class InquiryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(
        min_length=1, max_length=64, description="Whom or what it asks about, as the type's subject kind says."
    )
    purpose: str = Field(min_length=1, max_length=500, pattern=r"\S", description="Why the agency asks.")
    officer: str = Field(min_length=1, max_length=200, pattern=r"\S", description="The requesting officer.")
    request_id: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="The agency's id of the request; the same id again returns the same answer.",
    )


class InquiryFieldView(BaseModel):
    name: str
    title_fa: str
    title_en: str


class InquiryTypeView(BaseModel):
    id: str
    version: int
    title_fa: str
    title_en: str
    subject_kind: str = Field(description="national-code, document-number or case-code")
    services: list[str]
    composite: bool
    legal_basis: str
    fields: list[InquiryFieldView]
    granted: bool = Field(description="Whether the calling agency may ask it.")
    granted_fields: list[str] = Field(description="The fields the calling agency sees; empty when not granted.")


class InquiryTypes(BaseModel):
    types: list[InquiryTypeView]
    missing_services: list[str] = Field(description="Services that did not answer: their types are not listed.")


class SignedAnswer(BaseModel):
    answer: dict[str, Any] = Field(description="The signed payload, decoded: the granted fields, request hash, time.")
    jws: str = Field(description="Compact JWS (EdDSA, Ed25519) over the answer's RFC 8785 canonical JSON.")
    kid: str = Field(description="The key that signed it, in GET /v1/inquiries/keys.")


# RFC 7517 §5: a JWK Set, served as application/jwk-set+json.
JWKS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["keys"],
    "properties": {
        "keys": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["kty", "crv", "x", "kid", "use", "alg"],
                "properties": {name: {"type": "string"} for name in ("kty", "crv", "x", "kid", "use", "alg")},
            },
        }
    },
}


def _desk(request: Request) -> InquiryDesk:
    return request.app.state.inquiries


@router.get("/v1/inquiries", response_model=InquiryTypes)
async def list_inquiries(request: Request, who: CurrentCaller) -> dict[str, Any]:
    """Every inquiry type the services answer, and for an agency what it is granted of each."""
    directory = await _desk(request).directory.get()
    return {
        "types": [type_view(known, who) for _, known in sorted(directory.types.items())],
        "missing_services": sorted(directory.missing),
    }


@router.get(
    "/v1/inquiries/keys",
    response_class=Response,
    responses={200: {"description": "The JWK Set.", "content": {"application/jwk-set+json": {"schema": JWKS_SCHEMA}}}},
)
async def inquiry_keys(request: Request) -> Response:
    """The public keys answers are signed with (JWKS, newest first); keys stay after a rotation."""
    return Response(
        orjson.dumps(_desk(request).signer.jwks()),
        media_type="application/jwk-set+json",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.post("/v1/inquiries/{inquiry_type:inquiry_type}", response_model=SignedAnswer)
async def ask_inquiry(request: Request, inquiry_type: TypeId, body: InquiryRequest, who: CurrentCaller) -> Any:
    """Ask one inquiry; the answer carries only the fields granted to the calling agency.

    403: not an agency, or the agency is not granted this type (it learns nothing about the
    subject); 404: no such type, or nothing held for the subject; 422: a malformed subject (check
    digit), no purpose or officer, or a request id reused for another question; 429: over the
    agency's rate, with ``Retry-After``; 503: the answering service did not answer in time."""
    try:
        return await _desk(request).ask(who, inquiry_type, body.model_dump())
    except Problem as problem:
        if problem.status == 403:
            log.warning(
                "inquiry refused",
                extra={"agency": who.agency, "caller": who.subject, "inquiry": inquiry_type, "request_id": body.request_id},
            )
        headers = {"Retry-After": str(problem.extensions["retry_after"])} if problem.status == 429 else None
        return problem_response(problem, request.url.path, headers)
