"""The events endpoints: the AsyncAPI document of what agencies may receive, built from what
every service reports, and the governor's province-wide register of SLA breaches."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ostan.common.v1 import event_contracts_pb2
from ostan.governor.v1 import register_pb2
from ostan_gateway.auth import CurrentCaller
from ostan_gateway.cases_api import ServiceName
from ostan_gateway.problems import Problem
from ostan_gateway.schemas import Instant
from ostan_gateway.services import Services
from ostan_kit.messaging import asyncapi

router = APIRouter(tags=["events"])
SUPERVISING_ROLE = "supervisor"


def _services(request: Request) -> Services:
    return request.app.state.services


class SlaBreach(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(description="The ce-id of the office's event that reported the breach.")
    service: str
    case_code: str
    process: str
    kind: Literal["sla-breached", "process-sla-breached"]
    state: str
    escalated_to: str | None = Field(description="The role the case was escalated to, if it was.")
    due_at: str | None = Field(description="When it was due, ISO 8601 in UTC.")
    breached_at: Instant


class SlaBreachList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[SlaBreach]
    next_cursor: str | None


ASYNCAPI_ANSWER = {
    200: {
        "description": "The AsyncAPI 3.0.0 document (https://www.asyncapi.com/docs/reference/specification/v3.0.0).",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["asyncapi", "info", "channels", "operations", "components"],
                    "properties": {"asyncapi": {"type": "string", "const": asyncapi.ASYNCAPI_VERSION}},
                }
            }
        },
    }
}


@router.get("/v1/events/asyncapi.json", responses=ASYNCAPI_ANSWER, response_class=Response)
async def asyncapi_document(request: Request) -> Response:
    """The AsyncAPI 3 document of every event type an agency may receive, with its JSON Schema
    and legal basis. Public: contracts are no secret. 503 when a service did not say its own."""
    services = _services(request)
    deadline = request.app.state.settings.catalogue_deadline

    async def ask(name: str) -> list[dict[str, Any]]:
        client = services[name]
        answer = await services.call(
            name, client.contracts.ListAgencyEventContracts,
            event_contracts_pb2.ListAgencyEventContractsRequest(), deadline,
        )
        return [
            {
                "agency": item.agency, "service": item.service, "process": item.process, "event": item.event,
                "subject": item.subject, "event_type": item.event_type, "schema_name": item.schema_name,
                "schema": json.loads(item.schema_json), "legal_basis": item.legal_basis, "source": item.source,
                "fields": list(item.fields),
            }
            for item in answer.contracts
        ]

    names = list(services.clients)
    answers = await asyncio.gather(*(ask(name) for name in names), return_exceptions=True)
    missing = sorted(name for name, answer in zip(names, answers, strict=True) if isinstance(answer, BaseException))
    if missing:
        raise Problem(503, "services did not report their event contracts: " + ", ".join(missing),
                      slug="contracts-unavailable", missing_services=missing)
    contracts = [contract for answer in answers for contract in answer]  # type: ignore[union-attr]
    return Response(asyncapi.render(asyncapi.document(contracts)), media_type="application/json")


class BreachQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: ServiceName | None = Field(None, description="Only this office service's breaches.")
    escalated_to: str | None = Field(None, max_length=64, pattern=r"^[a-z][a-z0-9-]*$")
    limit: int = Field(50, ge=1, le=100)
    cursor: str | None = Field(None, max_length=40)


@router.get("/v1/sla-breaches", response_model=SlaBreachList)
async def sla_breaches(request: Request, who: CurrentCaller, query: Annotated[BreachQuery, Query()]) -> dict[str, Any]:
    """The province-wide register of SLA breaches and escalations, newest first, kept by the
    governor's service from every office's events. Staff with the ``supervisor`` role: in the
    governor's offices every service's, elsewhere their own service's."""
    if who.kind != "staff" or SUPERVISING_ROLE not in who.roles:
        raise Problem(403, f"the register is for staff with the {SUPERVISING_ROLE!r} role", slug="forbidden")
    services = _services(request)
    if "governor" not in services.clients:
        raise Problem(503, "the governor's service is not configured", slug="service-unavailable")
    answer = await services.call(
        "governor",
        services["governor"].register.ListSlaBreaches,
        register_pb2.ListSlaBreachesRequest(
            service=query.service or "", escalated_to=query.escalated_to or "",
            page_size=query.limit, page_token=query.cursor or "",
        ),
        request.app.state.settings.case_deadline,
        who,
    )

    def instant(stamp: Any) -> str:
        return stamp.ToDatetime(UTC).isoformat().replace("+00:00", "Z")

    return {
        "items": [
            {
                "event_id": item.event_id, "service": item.service, "case_code": item.case_code,
                "process": item.process, "kind": item.kind, "state": item.state,
                "escalated_to": item.escalated_to or None,
                "due_at": instant(item.due_at) if item.HasField("due_at") else None,
                "breached_at": {"utc": instant(item.breached_at), "jalali": item.breached_at_jalali},
            }
            for item in answer.breaches
        ],
        "next_cursor": answer.next_page_token or None,
    }
