"""The shapes of the gateway's answers: every route declares one, so the OpenAPI document is
what the API answers (the fuzz suite checks each answer against it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ostan_gateway.listing import RunsAs
from ostan_kit.catalogue.entries import CatalogueEntry

# A tracking code as a path parameter: Persian and Arabic digits are read as their ASCII twins.
_DIGIT = "[0-9۰-۹٠-٩]"
TRACKING_CODE_PATTERN = rf"^[A-Za-z]{{2}}-{_DIGIT}{{4}}-{_DIGIT}{{6,12}}-{_DIGIT}$"


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProblemError(BaseModel):
    field: str = Field(description="Where: `data.mobile` in the body, `query.limit` in the query.")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem; some carry more members (``errors``, ``allowed_actions``, …)."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(description="A URI reference naming the kind of problem, e.g. `/problems/invalid-request`.")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    instance: str | None = None
    errors: list[ProblemError] | None = Field(None, description="The fields that are wrong, when any are.")
    missing_services: list[str] | None = Field(None, description="Services that did not answer, when that is the cause.")
    service_errors: dict[str, str] | None = Field(None, description="Why each of those services did not answer.")
    trace_id: str | None = Field(
        None, pattern="^[0-9a-f]{32}$", description="The request's trace: ops find it, and its log lines, by this id."
    )


class Instant(_Answer):
    utc: str | None = Field(description="ISO 8601 in UTC, e.g. 2026-04-18T05:30:00Z")
    jalali: str | None = Field(description="The same instant on the Jalali calendar in Tehran, e.g. 1405/01/29 09:00:00")


class Applicant(_Answer):
    id: str
    name: str


class Document(_Answer):
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    attached_by: str
    attached_at: Instant


class Comment(_Answer):
    author: str
    role: str
    text: str
    action: str
    at: Instant


class Case(_Answer):
    code: str = Field(pattern=TRACKING_CODE_PATTERN, examples=["FN-1405-000042-3"])
    service: str
    process: str
    definition: str
    process_version: int
    state: str
    version: int
    assigned_role: str | None
    outcome: str | None
    breached: bool
    applicant: Applicant
    data: dict[str, Any]
    created_at: Instant
    updated_at: Instant
    state_due_at: Instant
    process_due_at: Instant
    documents: list[Document]
    comments: list[Comment]


class AttachedDocument(Case):
    document: Document = Field(description="The document this call attached.")


class CaseList(_Answer):
    items: list[Case]
    next_cursor: str | None
    missing_services: list[str] = Field(description="Services that did not answer; their cases are not listed.")
    errors: dict[str, str]


class AllowedAction(_Answer):
    name: str
    title_fa: str
    to_state: str
    requires_documents: list[str]
    requires_comment: bool
    fields: list[str]


class AllowedActions(_Answer):
    items: list[AllowedAction]


class HistoryEntry(_Answer):
    event: str
    action: str
    from_state: str | None
    to_state: str
    actor: str
    role: str
    comment: str
    version: int
    at: Instant


class History(_Answer):
    items: list[HistoryEntry]


class Health(_Answer):
    status: str


class Readiness(_Answer):
    status: str
    services: dict[str, str]


class EntryView(CatalogueEntry):
    """A catalogue entry as the gateway shows it: how it runs, and which process runs it."""

    model_config = ConfigDict(extra="allow", title="CatalogueEntryView")

    runs_as: RunsAs
    process: str


class SearchHit(EntryView):
    model_config = ConfigDict(extra="allow", title="SearchHit")

    score: float


class _Availability(BaseModel):
    missing_services: list[str] = Field(description="Services that did not answer.")
    errors: dict[str, str] = Field(description="Why each of them did not.")


class CatalogueList(_Availability):
    items: list[EntryView]
    count: int
    next_cursor: str | None


class SearchResult(_Availability):
    query: str
    terms: list[str]
    items: list[SearchHit]
    count: int
    next_cursor: str | None


class CatalogueStats(BaseModel):
    model_config = ConfigDict(extra="allow")

    offices: list[dict[str, Any]]
    deputies: list[dict[str, Any]]
    total: dict[str, Any]
    booklet_source: dict[str, Any]


class ProcessSummary(BaseModel):
    model_config = ConfigDict(extra="allow")

    slug: str
    version: int
    service: str
    title_fa: str
    title_en: str
    catalogue: list[str]
    sla: Any


class ProcessList(_Availability):
    items: list[ProcessSummary]


class ProcessDetail(ProcessSummary, _Availability):
    model_config = ConfigDict(extra="allow")


class TimeToDecision(_Answer):
    median: float = Field(ge=0, description="Seconds from start to the final state, median of the finished cases.")
    p90: float = Field(ge=0, description="The same, 90th percentile (nearest rank).")


class SlaFigures(_Answer):
    breached: int = Field(ge=0, description="Cases with at least one SLA breach (a state's or the process's).")
    warned: int = Field(ge=0, description="SLA warnings fired on these cases.")
    compliance: float = Field(ge=0, le=1, description="The share of the started cases without a breach.")


class ProcessFigures(_Answer):
    process: str
    started: int = Field(ge=0)
    open_by_state: dict[str, int]
    finished_by_outcome: dict[str, int]
    time_to_decision_seconds: TimeToDecision
    sla: SlaFigures


class OfficeTotals(_Answer):
    started: int = Field(ge=0)
    open: int = Field(ge=0)
    finished: int = Field(ge=0)
    sla_breached: int = Field(ge=0)
    sla_compliance: float | None = Field(ge=0, le=1)


class OfficeFigures(_Answer):
    office: str
    service: str
    processes: list[ProcessFigures]
    totals: OfficeTotals


class PeriodStart(_Answer):
    jalali: str = Field(description="The first day, e.g. 1405/01/01")
    utc: str = Field(description="Its midnight in Tehran, as UTC")


class PeriodEnd(_Answer):
    jalali: str = Field(description="The last day, e.g. 1405/12/29")
    utc_before: str = Field(description="The next day's midnight in Tehran, as UTC: cases started before it count")


class CaseStats(_Answer):
    from_: PeriodStart = Field(alias="from")
    to: PeriodEnd
    offices: list[OfficeFigures] = Field(description="Best SLA compliance first, then the most cases.")
    missing_services: list[str] = Field(description="Services that did not answer; their offices are not listed.")
    errors: dict[str, str] = Field(description="Why each of those services did not answer.")
