"""The catalogue endpoints of the gateway."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ostan_gateway import schemas
from ostan_gateway.catalogue import Snapshot
from ostan_gateway.listing import (
    NO_FILTERS,
    Filters,
    Kind,
    RunsAs,
    Scope,
    SortKey,
    Stage,
    decode_cursor,
    invalid,
    page,
)
from ostan_gateway.problems import Problem
from ostan_gateway.query import QueryModel
from ostan_gateway.search import query_terms
from ostan_kit.catalogue.entries import json_schema

router = APIRouter(tags=["catalogue"])

MAX_QUERY = 2000
JSON = "application/json"


# The catalogue's routes are the gateway's busiest and their pages are cached: they take the
# request alone and read it themselves, because FastAPI's dependency solving (a query model, a
# header, the snapshot) cost more than the rest of serving a cached page (bench/catalogue.py).


async def snapshot(request: Request) -> Snapshot:
    return await request.app.state.catalogue.snapshot()


class FilterParams(BaseModel):
    """Filters of the catalogue listing and search; an unknown parameter is refused."""

    model_config = ConfigDict(extra="forbid")

    deputy: str | None = Field(None, description="Deputy slug, e.g. political-security-social")
    office: str | None = Field(None, description="Office slug, e.g. foreign-nationals")
    service: str | None = Field(None, description="Hosting service, e.g. urban")
    type: Scope | None = Field(None, description="Booklet type: exclusive, general, shared or unknown")
    kind: Kind | None = None
    has_clients: bool | None = Field(None, description="Has external clients (ارباب رجوع)")
    electronic: Stage | None = Field(None, description="Entries electronic at this stage")
    agency: str | None = Field(None, max_length=200, description="An agency the entry deals with")
    runs_as: RunsAs | None = Field(
        None, description="own: a process definition of its own; generic: the generic request; record: not run"
    )
    cursor: str | None = Field(None, max_length=200, description="next_cursor of the previous page")

    def filters(self, request: Request) -> Filters:
        organisation = request.app.state.organisation
        if self.deputy and self.deputy not in {unit.slug for unit in organisation.deputies}:
            raise invalid("query.deputy", f"{self.deputy!r} is not a deputy of the booklet")
        if self.office and self.office not in {unit.slug for unit in organisation.offices}:
            raise invalid("query.office", f"{self.office!r} is not an office of the booklet")
        if self.service and self.service not in request.app.state.services.clients:
            raise invalid("query.service", f"{self.service!r} is not an office service")
        return Filters(
            self.deputy,
            self.office,
            self.service,
            self.type,
            self.kind,
            self.has_clients,
            self.electronic,
            self.agency,
            self.runs_as,
        )


class ListParams(FilterParams):
    sort: SortKey = "office"
    limit: int = Field(50, ge=1, le=200, description="Entries per page")


class SearchParams(FilterParams):
    q: str = Field(max_length=MAX_QUERY, description="Words in Persian or English")
    limit: int = Field(20, ge=1, le=200, description="Entries per page")


LIST_QUERY = QueryModel(ListParams)
SEARCH_QUERY = QueryModel(SearchParams)
IF_NONE_MATCH = {
    "name": "if-none-match",
    "in": "header",
    "required": False,
    "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "If-None-Match"},
}


def _json(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), media_type=JSON, headers=headers)


@router.get(
    "/v1/catalogue",
    responses={200: {"model": schemas.CatalogueList}, 304: {"description": "Not modified since the ETag given"}},
    openapi_extra={"parameters": [*LIST_QUERY.openapi["parameters"], IF_NONE_MATCH]},
)
async def list_catalogue(request: Request) -> Response:
    """Every office service's entries, filtered, sorted and a page at a time. A service that does
    not answer is named in ``missing_services``; the others still answer."""
    params = LIST_QUERY.read(request)
    chosen = params.filters(request)
    snap = await snapshot(request)
    etag = snap.etag
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)

    def render() -> bytes:
        query = {**chosen.as_query(), "sort": params.sort}
        offset = decode_cursor(params.cursor, query)
        ordered = snap.sorted_entries(params.sort)
        matching = ordered if chosen == NO_FILTERS else [entry for entry in ordered if chosen.matches(entry)]
        items, next_cursor = page(matching, offset=offset, limit=params.limit, query=query)
        body = {"items": items, "count": len(matching), "next_cursor": next_cursor, **snap.availability()}
        return orjson.dumps(body)

    key = (chosen, params.sort, params.limit, params.cursor)
    return Response(snap.rendered(key, render), media_type=JSON, headers=headers)


@router.get(
    "/v1/catalogue/search", responses={200: {"model": schemas.SearchResult}}, openapi_extra=SEARCH_QUERY.openapi
)
async def search_catalogue(request: Request) -> Response:
    """Entries with every word of ``q``, ranked: title before goal before documents. Arabic or
    Persian letters, ZWNJ or none, diacritics and any digit script find the same entries."""
    params = SEARCH_QUERY.read(request)
    chosen = params.filters(request)
    snap = await snapshot(request)
    terms = query_terms(params.q)
    query = {**chosen.as_query(), "terms": terms}
    offset = decode_cursor(params.cursor, query)
    hits = snap.index.search(terms)
    if chosen != NO_FILTERS:
        hits = [hit for hit in hits if chosen.matches(hit[1])]
    shown, next_cursor = page(hits, offset=offset, limit=params.limit, query=query)
    items = [{"score": score, **entry} for score, entry in shown]
    body = {"query": params.q, "terms": terms, "items": items, "count": len(hits), "next_cursor": next_cursor}
    return _json({**body, **snap.availability()})


@router.get("/v1/catalogue/stats", responses={200: {"model": schemas.CatalogueStats}})
async def catalogue_stats(request: Request) -> Response:
    """The booklet's Table 1 recomputed from the data, per office and deputy, beside the
    booklet's own figures, with the recorded discrepancies that explain each difference."""
    return Response((await snapshot(request)).stats_body, media_type=JSON)


@router.get("/v1/catalogue/schema", response_model=dict[str, Any])
async def catalogue_schema() -> dict[str, Any]:
    """The JSON Schema every catalogue file validates against (an entry: ``$defs.CatalogueEntry``)."""
    return json_schema()


@router.get(
    "/v1/catalogue.jsonld",
    response_class=Response,
    responses={200: {"content": {"application/ld+json": {"schema": {"type": "object"}}}, "description": "CPSV-AP JSON-LD"}},
)
async def catalogue_jsonld(request: Request) -> Response:
    """The whole catalogue as CPSV-AP JSON-LD for catalogue harvesters."""
    snap = await snapshot(request)
    headers = {"Ostan-Missing-Services": ",".join(snap.missing_services)} if snap.missing else None
    return Response(snap.jsonld_body, media_type="application/ld+json", headers=headers)


@router.get("/v1/catalogue/{id_or_slug}", responses={200: {"model": schemas.EntryView}})
async def catalogue_entry(id_or_slug: str, request: Request) -> Response:
    """One entry by its 11-digit booklet ID (any digit script) or its slug."""
    snap = await snapshot(request)
    key = id_or_slug.strip().lower().translate(str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789"))
    entry = snap.by_key.get(key)
    if entry is None:
        if snap.missing:
            raise Problem(
                503,
                f"no entry {id_or_slug!r} among the services that answered; "
                f"{', '.join(snap.missing_services)} did not answer",
                slug="service-unavailable",
                # In a problem, ``errors`` names bad fields; the services' errors have their own member.
                missing_services=snap.missing_services,
                service_errors=snap.availability()["errors"],
            )
        raise Problem(404, f"no catalogue entry {id_or_slug!r}", slug="not-found")
    headers = {"Ostan-Missing-Services": ",".join(snap.missing_services)} if snap.missing else None
    return _json(entry, headers)
