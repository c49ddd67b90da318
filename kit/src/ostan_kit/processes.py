"""Process definitions, kept as data in each service's ``processes/`` folder.

A definition names its application form (a message of the service's proto package), the kind
and requiredness of each field, and the state and event a new case starts with. It is checked
when the service starts, so a wrong file stops the start with a message naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import Message
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ostan_kit.errors import FieldViolation, InvalidArgument
from ostan_kit.fields import KINDS


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldRule(_Model):
    kind: str
    required: bool = False

    @model_validator(mode="after")
    def _known_kind(self) -> FieldRule:
        if self.kind not in KINDS:
            raise ValueError(f"unknown field kind {self.kind!r}; known: {sorted(KINDS)}")
        return self


class Start(_Model):
    state: str
    event: str
    role: str


class ProcessDefinition(_Model):
    slug: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    version: int = Field(ge=1)
    title_fa: str
    title_en: str
    catalogue: str
    form: str
    fields: dict[str, FieldRule]
    start: Start

    def form_class(self) -> type[Message]:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(self.form)
        return message_factory.GetMessageClass(descriptor)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        """The form as it will be stored, or InvalidArgument naming every bad field."""
        try:
            json_format.ParseDict(data, self.form_class()())
        except json_format.ParseError as error:
            raise InvalidArgument(
                "the form does not match " + self.form,
                [FieldViolation("data", str(error))],
            ) from error
        violations: list[FieldViolation] = []
        stored: dict[str, Any] = {}
        for name, rule in self.fields.items():
            value = data.get(name)
            if value in (None, "", []):
                if rule.required:
                    violations.append(FieldViolation(f"data.{name}", "is required"))
                continue
            try:
                stored[name] = KINDS[rule.kind](value)
            except ValueError as error:
                violations.append(FieldViolation(f"data.{name}", str(error)))
        if violations:
            raise InvalidArgument("the form has invalid fields", violations)
        return stored


def load_processes(folder: Path) -> dict[str, ProcessDefinition]:
    """Every definition in ``folder``, checked against the form it names."""
    definitions: dict[str, ProcessDefinition] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            definition = ProcessDefinition.model_validate(yaml.safe_load(path.read_text("utf-8")))
            descriptor = definition.form_class().DESCRIPTOR
        except Exception as error:  # re-raised naming the file
            raise ValueError(f"{path}: {error}") from error
        form_fields = {field.name for field in descriptor.fields}
        unknown = sorted(set(definition.fields) - form_fields)
        if unknown:
            raise ValueError(f"{path}: fields {unknown} are not in {definition.form}")
        unruled = sorted(form_fields - set(definition.fields))
        if unruled:
            raise ValueError(f"{path}: fields {unruled} of {definition.form} have no rule")
        if definition.slug in definitions:
            raise ValueError(f"{path}: process {definition.slug!r} is defined twice")
        definitions[definition.slug] = definition
    return definitions
