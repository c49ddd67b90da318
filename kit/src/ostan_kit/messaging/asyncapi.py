"""The AsyncAPI 3 document of what agencies may receive: one channel per agency × event type,
its CloudEvents headers and its versioned JSON Schema, built from the services' contracts.

    python -m ostan_kit.messaging.asyncapi > docs/events/asyncapi.json

The gateway serves the same document at ``GET /v1/events/asyncapi.json``, built from what the
running services report; a test checks that the repository's copy is current.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

from ostan_kit.agencies import agencies

ASYNCAPI_VERSION = "3.0.0"
DOCUMENT_VERSION = "1.0.0"
SCHEMA_FORMAT = "application/schema+json;version=draft-07"


def _headers(contract: dict[str, Any]) -> dict[str, Any]:
    """CloudEvents 1.0 binary mode over NATS: the attributes as ``ce-`` headers."""
    text = {"type": "string"}
    return {
        "type": "object",
        "required": ["ce-specversion", "ce-id", "ce-source", "ce-type", "ce-subject", "ce-time", "ce-dataschema"],
        "properties": {
            "ce-specversion": {"const": "1.0"},
            "ce-id": {**text, "description": "unique per event; deduplicate by it (Nats-Msg-Id is the same)"},
            "ce-source": {"const": f"/ostan/services/{contract['service']}"},
            "ce-type": {"const": contract["event_type"]},
            "ce-subject": {**text, "description": "the case's tracking code"},
            "ce-time": {**text, "format": "date-time"},
            "ce-dataschema": {"const": contract["schema"]["$id"]},
            "content-type": {"const": "application/json"},
            "Nats-Msg-Id": text,
        },
    }


def document(contracts: list[dict[str, Any]]) -> dict[str, Any]:
    """The AsyncAPI document of ``contracts`` (as ``agency_events.contracts`` gives them)."""
    known = agencies()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for contract in sorted(contracts, key=lambda item: item["schema_name"]):
        name = contract["schema_name"]
        agency = known[contract["agency"]]
        schemas[name] = contract["schema"]
        messages[name] = {
            "name": contract["event_type"],
            "title": f"{contract['service']} {contract['process']} {contract['event']}",
            "summary": f"For {agency.title_en}: the case's frame and the fields {contract['fields'] or 'none'}.",
            "contentType": "application/json",
            "headers": {"schemaFormat": SCHEMA_FORMAT, "schema": _headers(contract)},
            "payload": {"schemaFormat": SCHEMA_FORMAT, "schema": {"$ref": f"#/components/schemas/{name}"}},
        }
        channels[name] = {
            "address": contract["subject"],
            "title": f"{agency.title_en} ← {contract['service']} {contract['process']} {contract['event']}",
            "description": f"Legal basis: {contract['legal_basis']} (source: {contract['source']})",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        operations[f"receive.{name}"] = {
            "action": "receive",
            "title": f"{agency.title_en} receives {contract['service']} {contract['process']} {contract['event']}",
            "channel": {"$ref": f"#/channels/{name}"},
            "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:ostan:events:agencies",
        "info": {
            "title": "Ostan: events for agencies",
            "version": DOCUMENT_VERSION,
            "description": (
                "What other agencies may receive of the governorate's case events. Each agency "
                "connects with its own nkey identity and reads only its stream OSTAN_AGENCY_<AGENCY> "
                "(subjects ostan-agency.<agency>.events.>); nats-server refuses everything else. "
                "An event carries the case code, process, states and times, and only the form fields "
                "its grant names. Schemas change only by addition within a version; a new version is "
                "a new ce-type. Replay from the beginning, a sequence or a time with a durable pull "
                "consumer; deduplicate by ce-id."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:14222",
                "protocol": "nats",
                "description": "`make run` on one machine",
                "security": [{"$ref": "#/components/securitySchemes/nkey"}],
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
            "securitySchemes": {
                "nkey": {
                    "type": "asymmetricEncryption",
                    "description": (
                        "NATS nkey (Ed25519) challenge: the agency signs the server's nonce with its "
                        "seed (`python -m ostan_kit.agencies credentials <agency>` locally)."
                    ),
                }
            },
        },
    }


def repository_contracts() -> list[dict[str, Any]]:
    """Every installed service's contracts, read from its grants and process definitions."""
    from ostan_kit.messaging.agency_events import contracts
    from ostan_kit.messaging.grants import grants_file, read_grants, service_root
    from ostan_kit.processes.definitions import load_processes
    from ostan_kit.runtime.registry import SERVICES

    found: list[dict[str, Any]] = []
    for service in SERVICES:
        root = service_root(service)
        grants = read_grants(service, grants_file(root))
        if not grants.grants:
            continue
        importlib.import_module(f"ostan.{service.replace('-', '_')}.v1.forms_pb2")
        found.extend(contracts(grants, load_processes(root / "processes")))
    return found


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render(document(repository_contracts())))
