"""The service catalogue's schema, defined once.

Every service keeps its entries as YAML under its own ``catalogue/`` folder; this module is the
schema they validate against, the loader that reads them and the conversion to and from the
``ostan.common.v1.CatalogueEntry`` message (the field names are the same on both sides).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ostan_kit.runtime.registry import SERVICES

# libyaml's loader when PyYAML was built with it: the catalogue is read at every start.
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SERVICE_ID = re.compile(r"^\d{11}$")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

# The service that hosts an entry or an office: one of the registry's (runtime/registry.py).
HostingService = Literal[tuple(SERVICES)]  # type: ignore[valid-type]
Scope = Literal["exclusive", "general", "shared", "unknown"]
EntryKind = Literal["service", "sub-service", "process", "procedure", "service-card"]
ProcessType = Literal["managerial", "support", "core-exclusive", "core-shared"]
Nature = Literal["sovereign", "operational"]
Level = Literal["national", "regional", "provincial", "county", "hq", "urban", "rural"]
Trigger = Literal["recipient-request", "scheduled", "event", "agency-decision", "other"]
Stage = Literal["inform", "start", "process", "deliver"]
InquiryMode = Literal["online", "batch", "non-electronic"]
ServiceType = Literal["g2c", "g2b", "g2g"]
LifeEvent = Literal[
    "birth",
    "education",
    "health",
    "tax",
    "business",
    "social-security",
    "property-registration",
    "urban-utilities",
    "insurance",
    "marriage",
    "retirement",
    "documents-certificates",
    "death",
    "other",
]
DiscrepancyKind = Literal[
    "shifted-flags",
    "missing-rows",
    "malformed-id",
    "scrambled-table",
    "contradiction",
    "typo",
    "ambiguous",
    "other",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Model):
    """Where a fact was read: a seed file and an inclusive 1-based line range."""

    seed: str = Field(pattern=r"^\d{3}_[0-9a-f]{16}\.txt$")
    line_start: int = Field(ge=1)
    line_end: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Source:
        if self.line_end < self.line_start:
            raise ValueError("line_end is before line_start")
        return self


class Discrepancy(_Model):
    """A defect of the source recorded as data, never silently fixed."""

    kind: DiscrepancyKind
    field: str = ""
    description: str
    source: Source


class LawReference(_Model):
    """A law, bylaw, circular or letter the source cites: number and Jalali date as printed."""

    title: str
    number: str = ""
    date_jalali: str = ""
    article: str = ""
    source: Source


class Item(_Model):
    """A line of a list (document, output, form, recipient…) with its source."""

    text: str
    source: Source


class Step(_Model):
    order: int = Field(ge=1)
    text: str
    branch: str = ""
    source: Source


class StageStatus(_Model):
    """Electronic status of one stage of the card's access table (both flags may be set)."""

    stage: Stage
    electronic: bool = False
    non_electronic: bool = False
    medium: str = ""
    source: Source


class AgencyExchange(_Model):
    """An agency the process deals with, and how."""

    agency: str
    systems: str = ""
    exchanged_fields: str = ""
    inquiry_modes: list[InquiryMode] = []
    inquiry_by: Literal["agency", "applicant", ""] = ""
    internal: bool = False
    source: Source


class Link(_Model):
    """Another entry this one is tied to (the booklet entry a card describes, the process a
    procedure belongs to), and how the tie was made."""

    slug: str
    method: str


class CatalogueEntry(_Model):
    # identity
    slug: str
    service_id: str = ""
    parent_id: str = ""
    parent_title_fa: str = ""
    parent_title_en: str = ""
    booklet_row: int | None = None
    card_id: str = ""
    describes: Link | None = None
    part_of: Link | None = None
    title_fa: str
    title_en: str
    kind: EntryKind
    deputy: str
    office: str
    hosting_service: HostingService
    # booklet flags
    scope: Scope = "unknown"
    has_clients: bool | None = None
    # identity card
    goal: str = ""
    process_types: list[ProcessType] = []
    nature: Nature | None = None
    levels: list[Level] = []
    recipients: list[Item] = []
    triggers: list[Trigger] = []
    trigger_note: str = ""
    outputs: list[Item] = []
    documents: list[Item] = []
    laws: list[LawReference] = []
    forms: list[Item] = []
    electronic: list[StageStatus] = []
    systems: list[Item] = []
    web_addresses: list[Item] = []
    agencies: list[AgencyExchange] = []
    steps: list[Step] = []
    # service identity card (seed 002's «فرم شناسنامه خدمات»)
    description: str = ""
    service_types: list[ServiceType] = []
    life_events: list[LifeEvent] = []
    recipients_count: str = ""
    average_duration: str = ""
    frequency: str = ""
    in_person_visits: str = ""
    fees: list[Item] = []
    access_channels: list[Item] = []
    # provenance: the source of each scalar field by name; list items carry their own
    provenance: dict[str, Source]
    discrepancies: list[Discrepancy] = []

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if value and not SLUG.match(value):
            raise ValueError(f"{value!r} is not a lowercase kebab-case slug")
        return value

    @field_validator("service_id", "parent_id")
    @classmethod
    def _service_id(cls, value: str) -> str:
        if value and not SERVICE_ID.match(value):
            raise ValueError(f"{value!r} is not an 11-digit booklet service ID")
        return value

    @model_validator(mode="after")
    def _sourced(self) -> CatalogueEntry:
        for name in ("title_fa", "office"):
            if name not in self.provenance:
                raise ValueError(f"provenance lacks the source of {name}")
        return self


class CatalogueFile(_Model):
    entries: list[CatalogueEntry]


def load_catalogue(folder: Path) -> list[CatalogueEntry]:
    """Every entry of every ``*.yaml`` file in ``folder``; a bad file fails naming itself."""
    entries: list[CatalogueEntry] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            raw = yaml.load(path.read_text(encoding="utf-8"), Loader=SafeLoader) or {"entries": []}
            entries.extend(CatalogueFile.model_validate(raw).entries)
        except Exception as error:  # re-raised with the file's name, which the error lacks
            raise ValueError(f"{path}: {error}") from error
    slugs = [entry.slug for entry in entries]
    duplicated = sorted({slug for slug in slugs if slugs.count(slug) > 1})
    if duplicated:
        raise ValueError(f"{folder}: duplicate slugs {duplicated}")
    return entries


def json_schema() -> dict:
    """The catalogue file's JSON Schema; a catalogue entry is ``$defs.CatalogueEntry``."""
    return CatalogueFile.model_json_schema()


class Table1Row(_Model):
    services: int
    exclusive: int
    general: int
    shared: int
    with_clients: int


class Unit(_Model):
    slug: str
    title_fa: str
    title_en: str
    table1: Table1Row
    source: Source
    deputy: str = ""
    hosting_service: HostingService | None = None


class Province(_Model):
    title_fa: str
    title_en: str
    iso_3166_2: str = Field(pattern=r"^[A-Z]{2}-[A-Z0-9]{1,3}$")


class Governorate(_Model):
    """The organisation the booklet describes, and the province it governs."""

    slug: str
    title_fa: str
    title_en: str
    province: Province
    source: Source


class Organisation(_Model):
    """Deputies and offices as the booklet's Table 1 prints them (``data/organisation.yaml``)."""

    source: Source
    governorate: Governorate
    deputies: list[Unit]
    offices: list[Unit]


def load_organisation() -> Organisation:
    path = Path(__file__).with_name("data") / "organisation.yaml"
    return Organisation.model_validate(yaml.safe_load(path.read_text("utf-8")))
