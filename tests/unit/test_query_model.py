"""Query models read by pydantic directly: the same documented parameters as FastAPI's own query
models, the same answers, the same 422 problems."""

from typing import Annotated, Literal

import httpx
from fastapi import Depends, FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field

from ostan_gateway.cases_api import CaseQuery
from ostan_gateway.catalogue_api import ListParams, SearchParams
from ostan_gateway.events_api import BreachQuery
from ostan_gateway.query import QueryModel


class Sample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    q: str = Field(max_length=5, description="Words")
    sort: Literal["title", "office"] = "office"
    limit: int = Field(20, ge=1, le=200)
    open: bool | None = None


def apps(model: type[BaseModel]) -> tuple[FastAPI, FastAPI]:
    fastapis, ours = FastAPI(), FastAPI()
    reader = QueryModel(model)

    @fastapis.get("/items")
    async def by_fastapi(params: Annotated[model, Query()]) -> dict:  # type: ignore[valid-type]
        return params.model_dump()

    @ours.get("/items", openapi_extra=reader.openapi)
    async def by_pydantic(params: Annotated[model, Depends(reader)]) -> dict:  # type: ignore[valid-type]
        return params.model_dump()

    return fastapis, ours


def test_the_parameters_are_documented_as_fastapi_documents_them():
    for model in (Sample, ListParams, SearchParams, CaseQuery, BreachQuery):
        fastapis, ours = apps(model)
        theirs = fastapis.openapi()["paths"]["/items"]["get"]["parameters"]
        mine = ours.openapi()["paths"]["/items"]["get"]["parameters"]
        assert sorted(mine, key=lambda p: p["name"]) == sorted(theirs, key=lambda p: p["name"]), model.__name__


async def test_answers_and_refusals_are_those_of_fastapis_query_models():
    fastapis, ours = apps(Sample)
    queries = [
        "q=abc", "q=abc&limit=۷", "q=abc&limit=7&limit=9", "q=abc&open=true", "q=abcdefgh", "limit=3",
        "q=a&sort=nope", "q=a&unknown=1", "q=a&limit=0", "",
    ]
    for query in queries:
        answers = []
        for app in (fastapis, ours):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                answers.append(await client.get(f"/items?{query}"))
        theirs, mine = answers
        assert mine.status_code == theirs.status_code, query
        if theirs.status_code == 200:
            assert mine.json() == theirs.json(), query
        else:
            assert [(e["loc"], e["type"]) for e in mine.json()["detail"]] == [
                (e["loc"], e["type"]) for e in theirs.json()["detail"]
            ], query
