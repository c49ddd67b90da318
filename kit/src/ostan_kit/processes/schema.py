"""A process described for a frontend: its form as JSON Schema (from the form's protobuf message
and the definition's field rules, with the Persian labels the proto carries), its documents,
states, actions and SLAs. Nothing here is written twice: it is all read off the definition and
the form's descriptor."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from ostan.common.v1 import options_pb2
from ostan_kit.processes.definitions import FieldRule, ProcessDefinition
from ostan_kit.text.workdays import DAY_RULE

JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
ANY_DIGIT = "[0-9۰-۹٠-٩]"

# What each field kind accepts, as JSON Schema; the service's normaliser has the last word (it
# also checks what a pattern cannot, such as the national code's check digit).
KIND_SCHEMAS: dict[str, dict[str, Any]] = {
    "text": {"type": "string", "maxLength": 4000},
    "digits": {"type": "string", "pattern": r"^[0-9۰-۹٠-٩\s\-]+$"},
    "national-code": {"type": "string", "format": "ir-national-code", "pattern": rf"^{ANY_DIGIT}{{10}}$"},
    "mobile": {"type": "string", "format": "ir-mobile", "pattern": r"^[+0-9۰-۹٠-٩\s()\-]{10,17}$"},
    "jalali-date": {
        "type": "string",
        "format": "jalali-date",
        "pattern": rf"^{ANY_DIGIT}{{4}}[/\-]{ANY_DIGIT}{{1,2}}[/\-]{ANY_DIGIT}{{1,2}}$",
    },
    "country": {"type": "string", "format": "iso-3166-alpha-3", "pattern": "^[A-Za-z]{3}$"},
    "enum": {"type": "string"},
    "integer": {"type": "integer"},
    "boolean": {"type": "boolean"},
    "texts": {"type": "array", "items": {"type": "string", "maxLength": 4000}},
    "national-codes": {
        "type": "array",
        "uniqueItems": True,
        "items": {"type": "string", "format": "ir-national-code", "pattern": rf"^{ANY_DIGIT}{{10}}$"},
    },
    "records": {"type": "array", "items": {"type": "object"}},
    "role": {"type": "string", "pattern": "^[a-z0-9]+(?:-[a-z0-9]+)*$"},
}

_SCALARS = {
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_INT32: {"type": "integer"},
    FieldDescriptor.TYPE_INT64: {"type": "integer"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "minimum": 0},
    FieldDescriptor.TYPE_UINT64: {"type": "integer", "minimum": 0},
    FieldDescriptor.TYPE_DOUBLE: {"type": "number"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number"},
}


def field_label(field: FieldDescriptor) -> str:
    return field.GetOptions().Extensions[options_pb2.label_fa]


def enum_choices(enum: EnumDescriptor) -> list[dict[str, str]]:
    """The values a form may send (never the UNSPECIFIED zero), each with its Persian label."""
    choices = []
    for value in enum.values:
        if value.number == 0 and value.name.endswith("_UNSPECIFIED"):
            continue
        label = value.GetOptions().Extensions[options_pb2.value_label_fa]
        choices.append({"const": value.name, "title": label or value.name})
    return choices


def _from_proto(field: FieldDescriptor) -> dict[str, Any]:
    """The JSON Schema of a proto field by its type alone."""
    if field.type == FieldDescriptor.TYPE_ENUM:
        item: dict[str, Any] = {"type": "string", "oneOf": enum_choices(field.enum_type)}
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        item = message_schema(field.message_type)
    else:
        item = dict(_SCALARS.get(field.type, {"type": "string"}))
    if field.is_repeated:
        return {"type": "array", "items": item}
    return item


def message_schema(message: Descriptor, rules: dict[str, FieldRule] | None = None) -> dict[str, Any]:
    """An object schema for ``message``. With ``rules`` (a definition's), only the fields it keeps,
    each refined by its rule; without, every field of the message (a record's)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in message.fields:
        if rules is not None and field.name not in rules:
            continue  # accepted by the message, but the definition keeps nothing of it
        schema = _from_proto(field)
        rule = (rules or {}).get(field.name)
        if rule is not None:
            schema = _refine(schema, rule)
            if rule.required:
                required.append(field.name)
        label = field_label(field)
        if label:
            schema["title"] = label
        properties[field.name] = schema
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def _refine(schema: dict[str, Any], rule: FieldRule) -> dict[str, Any]:
    """The proto's shape with the rule's kind laid over it (the kind knows formats and patterns)."""
    kind = KIND_SCHEMAS[rule.kind]
    if rule.kind == "enum" and "oneOf" in schema:
        return schema
    if rule.kind == "records" and schema.get("type") == "array":
        return schema  # the message's own record shape says more than "object"
    if rule.kind == "integer" and schema.get("type") == "string":
        return {"type": "string", "pattern": KIND_SCHEMAS["digits"]["pattern"]}
    return {**kind}


def rules_schema(rules: dict[str, FieldRule]) -> dict[str, Any]:
    """An object schema from field rules alone (an action's fields have no proto message)."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            name: {**KIND_SCHEMAS[rule.kind], **({"title": rule.title_fa} if rule.title_fa else {})}
            for name, rule in rules.items()
        },
        "additionalProperties": False,
    }
    required = [name for name, rule in rules.items() if rule.required]
    if required:
        schema["required"] = required
    return schema


def _sla(days: int | None, working: float | None, due_field: str = "") -> dict[str, Any] | None:
    """How long a state or process may take: days by kit's day rule (calendar days counted as the
    Civil Procedure Law counts them), working days where the source says so, or a date field."""
    if days:
        return {"days": days, "counting": "calendar", "rule": DAY_RULE}
    if working:
        return {"days": working, "counting": "working"}
    if due_field:
        return {"due_field": due_field, "counting": "calendar", "rule": DAY_RULE}
    return None


def describe(definition: ProcessDefinition, service: str) -> dict[str, Any]:
    form = message_schema(definition.form_class().DESCRIPTOR, definition.fields)
    return {
        "slug": definition.slug,
        "version": definition.version,
        "service": service,
        "title_fa": definition.title_fa,
        "title_en": definition.title_en,
        "catalogue": list(definition.catalogue),
        "form": {"$schema": JSON_SCHEMA, "title": definition.title_fa, **form},
        "documents": [
            {"kind": kind, "title_fa": rule.title_fa, "types": list(rule.types), "max_bytes": rule.max_bytes}
            for kind, rule in definition.documents.items()
        ],
        "roles": dict(definition.roles),
        "supervisor_role": definition.supervisor_role,
        "start": {"state": definition.start.state, "roles": list(definition.start.roles)},
        "states": [
            {
                "name": name,
                "title_fa": state.title_fa,
                "assignee_role": state.assignee_role,
                **({"assignee_field": state.assignee_field} if state.assignee_field else {}),
                "sla": _sla(state.sla_days, state.sla_working_days, state.due_field),
                "terminal": state.terminal,
                "outcome": state.outcome,
            }
            for name, state in definition.states.items()
        ],
        "actions": [
            {
                "name": action.name,
                "title_fa": action.title_fa,
                "from": list(action.from_states),
                "to": action.to,
                "roles": list(action.roles),
                "requires_documents": list(action.requires_documents),
                "requires_comment": action.requires_comment,
                "fields": rules_schema(action.fields),
            }
            for action in definition.actions
        ],
        "sla": _sla(definition.sla_days, definition.sla_working_days),
        "issues": definition.issues.model_dump() if definition.issues else None,
    }
