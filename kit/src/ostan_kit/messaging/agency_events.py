"""What an agency receives: a projection of a case event onto the agency's own subject, carrying
the case code, process, states and times and only the form fields its grant names.

The projection is staged in the outbox in the same transaction as the change, so an agency event
exists exactly when its case change does. Each event type an agency receives has a versioned JSON
Schema (``schema_for``), the contract the AsyncAPI document publishes.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ostan_kit.messaging import cloudevents
from ostan_kit.messaging.grants import EventGrants, Grant
from ostan_kit.messaging.natsauth import agency_event_subject
from ostan_kit.persistence.models import CaseRow, OutboxRow
from ostan_kit.processes.definitions import ProcessBook, ProcessDefinition

SCHEMA_VERSION = 1
JSON_SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"
# Agency event ids derive from the case event's id, so the same change always projects to the same id.
_NAMESPACE = uuid.UUID("5b0f7d1e-3c55-4d9e-9a55-6f0c2b1d7a10")

_KIND_SCHEMAS: dict[str, dict[str, Any]] = {
    "text": {"type": "string"},
    "digits": {"type": "string", "pattern": "^[0-9]+$"},
    "national-code": {"type": "string", "pattern": "^[0-9]{10}$"},
    "mobile": {"type": "string", "pattern": "^09[0-9]{9}$"},
    "jalali-date": {"type": "string", "pattern": "^[0-9]{4}/[0-9]{2}/[0-9]{2}$"},
    "country": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 3166-1 alpha-3"},
    "enum": {"type": "string"},
    "integer": {"type": "integer"},
    "boolean": {"type": "boolean"},
    "texts": {"type": "array", "items": {"type": "string"}},
    "national-codes": {"type": "array", "items": {"type": "string", "pattern": "^[0-9]{10}$"}},
    "records": {"type": "array", "items": {"type": "object"}},
}


def event_type(grant: Grant, event: str) -> str:
    """The CloudEvents type of an agency event (versioned: a new version is a new type)."""
    return f"ir.ostan.agency.{grant.service}.{grant.process}.{event}.v{SCHEMA_VERSION}"


def schema_name(grant: Grant, event: str) -> str:
    return f"{grant.agency}.{grant.service}.{grant.process}.{event}.v{SCHEMA_VERSION}"


def schema_id(grant: Grant, event: str) -> str:
    """``ce-dataschema``: the URI naming the schema, its ``$id`` in the AsyncAPI document."""
    return f"urn:ostan:event-schema:{schema_name(grant, event)}"


def schema_for(grant: Grant, event: str, definition: ProcessDefinition) -> dict[str, Any]:
    """The JSON Schema of one agency event type: nothing beyond the listed properties."""
    fields = {
        name: {**_KIND_SCHEMAS[definition.fields[name].kind], "title": name} for name in grant.fields
    }
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": schema_id(grant, event),
        "title": f"{grant.service} {grant.process} {event}, as {grant.agency} receives it",
        "description": f"Granted to {grant.agency}. Legal basis: {grant.legal_basis}",
        "type": "object",
        "additionalProperties": False,
        "required": [
            "case_code", "service", "process", "process_version", "event",
            "from_state", "to_state", "occurred_at", "occurred_at_jalali", "fields",
        ],
        "properties": {
            "case_code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{4}-[0-9]{6}-[0-9]$"},
            "service": {"const": grant.service},
            "process": {"const": grant.process},
            "process_version": {"type": "integer", "minimum": 1},
            "event": {"const": event},
            "from_state": {"type": "string"},
            "to_state": {"type": "string"},
            "occurred_at": {"type": "string", "format": "date-time"},
            "occurred_at_jalali": {"type": "string"},
            "fields": {
                "type": "object",
                "additionalProperties": False,
                "properties": fields,
            },
        },
    }


def project(grant: Grant, case_event: dict[str, Any], case_data: dict[str, Any]) -> dict[str, Any]:
    """The agency's view of one case event: its frame and only the granted fields."""
    return {
        "case_code": case_event["case_code"],
        "service": grant.service,
        "process": grant.process,
        "process_version": case_event["process_version"],
        "event": case_event["event"],
        "from_state": case_event["from_state"],
        "to_state": case_event["to_state"],
        "occurred_at": case_event["occurred_at"],
        "occurred_at_jalali": case_event["occurred_at_jalali"],
        "fields": {name: case_data[name] for name in grant.fields if name in case_data},
    }


def stage_agency_events(session: AsyncSession, grants: EventGrants, case: CaseRow, source: OutboxRow) -> int:
    """Beside the case event ``source``, one outbox row per agency granted this event."""
    process, event = case.process, source.subject.rsplit(".", 1)[1]
    matching = grants.matching(process, event)
    if not matching:
        return 0
    case_event = json.loads(source.payload)
    case_event.setdefault("from_state", "")
    case_event.setdefault("process_version", case.process_version)
    for grant in matching:
        event_id = str(uuid.uuid5(_NAMESPACE, f"{source.id}/{grant.agency}"))
        headers = cloudevents.binary_headers(
            event_id=event_id,
            source=f"/ostan/services/{grants.service}",
            event_type=event_type(grant, event),
            subject=case.code,
            time=source.created_at,
            data_schema=schema_id(grant, event),
        )
        payload = project(grant, case_event, case.data or {})
        session.add(
            OutboxRow(
                id=event_id,
                subject=agency_event_subject(grant.agency, grants.service, process, event),
                headers=headers,
                payload=json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode(),
                created_at=source.created_at,
                published_at=None,
                attempts=0,
                last_error="",
            )
        )
    return len(matching)


def contracts(grants: EventGrants, book: ProcessBook) -> list[dict[str, Any]]:
    """Every event type this service gives an agency: where it is read, its type and schema."""
    found = []
    for grant in grants.grants:
        definition = book.latest[grant.process]
        for event in grant.events:
            found.append(
                {
                    "agency": grant.agency,
                    "service": grant.service,
                    "process": grant.process,
                    "event": event,
                    "subject": agency_event_subject(grant.agency, grant.service, grant.process, event),
                    "event_type": event_type(grant, event),
                    "schema_name": schema_name(grant, event),
                    "schema": schema_for(grant, event, definition),
                    "legal_basis": grant.legal_basis,
                    "source": grant.source,
                    "fields": list(grant.fields),
                }
            )
    return found
