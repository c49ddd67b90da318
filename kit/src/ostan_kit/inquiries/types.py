"""Inquiry types (استعلام) as data: each service keeps the questions other agencies may ask it in
its ``inquiries/`` folder, with the grants (agency × type × fields, deny by default).

A type names the kind of its subject (which decides how the identifier is checked), the cases it
is answered from, the fields it can answer and where each comes from, the legal basis, and for
each agency granted it the fields that agency sees. Everything is checked when the service
starts: a wrong file stops the start with a message naming the file, the line and the problem.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ostan.common.v1 import inquiry_pb2
from ostan_kit.processes import fields
from ostan_kit.processes.definitions import ProcessBook
from ostan_kit.text.tracking import normalise_code

SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
HERE = Path(__file__).parent
SHARED = HERE / "shared"

SubjectKind = Literal["national-code", "document-number", "case-code"]


def _document_number(value: str) -> str:
    number = fields.digits(value)
    if not 6 <= len(number) <= 16:
        raise ValueError("a document number has 6 to 16 digits")
    return number


def _case_code(value: str) -> str:
    return normalise_code(fields.text(value))


# Each kind's normaliser raises ValueError with a message for the agency.
SUBJECT_KINDS: dict[str, Callable[[str], str]] = {
    "national-code": fields.national_code,
    "document-number": _document_number,
    "case-code": _case_code,
}

# What a field may be answered from: a column of the case, or ``data.<form or action field>``.
CASE_SOURCES = frozenset(
    {"service", "code", "process", "process_title", "state", "state_title", "outcome", "applicant_name", "created_at", "updated_at"}
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LegalBasis(_Model):
    text: str = Field(min_length=1)
    seed: str = ""
    lines: list[int] = Field(default_factory=list, max_length=2)
    catalogue: str = ""


class AnswerField(_Model):
    title_fa: str
    title_en: str
    # ``code``, ``state``… (CASE_SOURCES) or ``data.<field>``; a composite type's parts are fixed.
    source: str = Field(alias="from")

    @model_validator(mode="after")
    def _known_source(self) -> AnswerField:
        if self.source not in CASE_SOURCES and not (self.source.startswith("data.") and len(self.source) > 5):
            raise ValueError(f"from {self.source!r}: one of {sorted(CASE_SOURCES)} or data.<field>")
        return self


class AnsweredFrom(_Model):
    # The processes whose cases answer; empty in a composite type: every process of the service.
    processes: list[str] = []
    # How the subject finds the case: its tracking code or its applicant.
    match: Literal["code", "applicant"]


class InquiryType(_Model):
    id: str = Field(pattern=SLUG)
    version: int = Field(ge=1)
    title_fa: str
    title_en: str
    subject: SubjectKind
    legal_basis: LegalBasis
    answered_from: AnsweredFrom
    fields: dict[str, AnswerField] = Field(min_length=1)
    # agency slug → the fields it sees; an agency not named sees nothing.
    grants: dict[str, list[str]] = {}
    composite: bool = False
    origin: str = Field(default="", exclude=True)

    @model_validator(mode="after")
    def _consistent(self) -> InquiryType:
        if self.id == "keys":
            raise ValueError("id 'keys' is the path of the answers' signing keys; choose another")
        if self.answered_from.match == "code" and self.subject != "case-code":
            raise ValueError("answered_from.match code needs subject case-code")
        if self.answered_from.match == "applicant" and self.subject == "case-code":
            raise ValueError("a case-code subject is matched by code")
        if not self.composite and not self.answered_from.processes:
            raise ValueError("answered_from.processes names at least one process")
        for agency, granted in self.grants.items():
            unknown = sorted(set(granted) - set(self.fields))
            if unknown:
                raise ValueError(f"grants.{agency}: no such fields {unknown}")
            if not granted:
                raise ValueError(f"grants.{agency}: grant at least one field, or leave the agency out")
        return self

    def granted_fields(self, agency: str) -> list[str]:
        return list(self.grants.get(agency, ()))

    def normalise_subject(self, subject: str) -> str:
        return SUBJECT_KINDS[self.subject](subject)

    def message(self, service: str) -> inquiry_pb2.InquiryType:
        basis = self.legal_basis
        where = f"seed {basis.seed} l.{'-'.join(map(str, basis.lines))}" if basis.seed else ""
        return inquiry_pb2.InquiryType(
            id=self.id,
            version=self.version,
            service=service,
            title_fa=self.title_fa,
            title_en=self.title_en,
            subject_kind=self.subject,
            fields=[
                inquiry_pb2.InquiryField(name=name, title_fa=field.title_fa, title_en=field.title_en)
                for name, field in self.fields.items()
            ],
            legal_basis="; ".join(filter(None, (basis.text, where))),
            composite=self.composite,
            grants=[
                inquiry_pb2.InquiryGrant(agency=agency, fields=granted) for agency, granted in sorted(self.grants.items())
            ],
        )


class InquiryDefinitionError(ValueError):
    """An inquiry file is wrong; the message names the file, the line and the problem."""


@cache
def agencies() -> dict[str, dict[str, str]]:
    """The agencies grants may name (``agencies.yaml``)."""
    return yaml.safe_load((HERE / "agencies.yaml").read_text("utf-8"))["agencies"]


def _line(node: yaml.Node | None, key: str) -> int:
    if isinstance(node, yaml.MappingNode):
        for name, _ in node.value:
            if name.value == key:
                return name.start_mark.line + 1
    return node.start_mark.line + 1 if node is not None else 1


def read_inquiry_type(path: Path, book: ProcessBook | None = None) -> InquiryType:
    text = path.read_text("utf-8")
    try:
        node = yaml.compose(text)
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise InquiryDefinitionError(f"{path}: not YAML: {error}") from error
    try:
        kind = InquiryType.model_validate({**raw, "origin": str(path)})
    except ValidationError as error:
        first = error.errors()[0]
        where = first["loc"][0] if first["loc"] else ""
        location = ".".join(map(str, first["loc"])) or "file"
        raise InquiryDefinitionError(f"{path}:{_line(node, str(where))}: {location}: {first['msg']}") from error
    for agency in kind.grants:
        if agency not in agencies():
            raise InquiryDefinitionError(
                f"{path}:{_line(node, 'grants')}: grants: unknown agency {agency!r}; known: {sorted(agencies())}"
            )
    if book is not None:
        own = set(book.own())
        for process in kind.answered_from.processes:
            if process not in own:
                raise InquiryDefinitionError(
                    f"{path}:{_line(node, 'answered_from')}: answered_from: {process!r} is not a process of the service"
                )
        # A data.<field> answer names a field of the form or of an action of those processes.
        known: set[str] = set()
        for process in kind.answered_from.processes:
            definition = book.latest[process]
            known.update(definition.fields)
            for action in definition.actions:
                known.update(action.fields)
        for name, field in kind.fields.items():
            if field.source.startswith("data.") and kind.answered_from.processes and field.source[5:] not in known:
                raise InquiryDefinitionError(
                    f"{path}:{_line(node, 'fields')}: fields.{name}: {field.source!r} is no field of "
                    f"{', '.join(kind.answered_from.processes)}"
                )
    return kind


def load_inquiry_types(folder: Path | None, book: ProcessBook | None = None) -> dict[str, InquiryType]:
    """The shared types of kit and the service's own, by id; a duplicate id is an error."""
    found: dict[str, InquiryType] = {}
    own = sorted(path for path in folder.glob("*.yaml") if path.name != "outbound.yaml") if folder and folder.is_dir() else []
    paths = sorted(SHARED.glob("*.yaml")) + own
    for path in paths:
        kind = read_inquiry_type(path, book if path.parent != SHARED else None)
        if kind.id in found:
            raise InquiryDefinitionError(f"{path}: the inquiry type {kind.id!r} is also defined in {found[kind.id].origin}")
        found[kind.id] = kind
    return found
