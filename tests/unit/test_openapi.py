"""The OpenAPI document describes the API: it is valid OpenAPI (checked by openapi-spec-validator),
every answer has a schema, every problem is application/problem+json, and /docs loads nothing
from another host. The gateway runs in process, with no office service behind it."""

from __future__ import annotations

import re

import httpx
import pytest
from openapi_spec_validator import validate

from ostan_gateway.app import create_app
from ostan_gateway.auth import issue_token
from ostan_gateway.problems import DOCUMENTED
from ostan_gateway.settings import GatewaySettings


@pytest.fixture
def settings(tmp_path) -> GatewaySettings:
    return GatewaySettings(services={}, local_keys_dir=tmp_path)


@pytest.fixture
async def gateway(settings):
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


@pytest.fixture
async def openapi(gateway) -> dict:
    answer = await gateway.get("/openapi.json")
    assert answer.status_code == 200
    return answer.json()


async def test_the_document_is_valid_openapi(openapi):
    validate(openapi)


def operations(openapi: dict):
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


async def test_every_answer_has_a_schema_and_every_problem_is_a_problem_document(openapi):
    assert "Problem" in openapi["components"]["schemas"]
    for path, method, operation in operations(openapi):
        answers = operation["responses"]
        ok = [status for status in answers if status.startswith("2")]
        assert ok, (path, method)
        for status in ok:
            content = answers[status].get("content", {})
            assert content and all(media.get("schema") for media in content.values()), (path, method, status)
            assert all(media["schema"] != {} for media in content.values()), (path, method, status)
        for status in DOCUMENTED:
            media = answers[str(status)]["content"]
            assert list(media) == ["application/problem+json"], (path, method, status)
            assert media["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}


async def test_tracking_codes_have_their_pattern_and_case_calls_their_bearer(openapi):
    for path, _method, operation in operations(openapi):
        if "{code}" in path:
            code = next(p for p in operation["parameters"] if p["name"] == "code")
            pattern = re.compile(code["schema"]["pattern"])
            assert pattern.match("FN-1405-000042-3") and pattern.match("FN-۱۴۰۵-۰۰۰۰۴۲-۳")
            assert not pattern.match("../etc") and not pattern.match("FN-1405-99999999999999999-1")
        if path.startswith("/v1/cases"):
            assert operation["security"] == [{"bearer": []}]


@pytest.mark.parametrize("value", ["0.5", "1700000000", "yesterday", "1405/01/01"])
async def test_created_to_is_a_date_not_a_number(gateway, settings, value):
    staff = issue_token(
        settings.token_secret(), subject="clerk-1", kind="staff", name="سارا", roles=["clerk"], office="foreign-nationals"
    )
    answer = await gateway.get("/v1/cases", params={"created_to": value}, headers={"Authorization": f"Bearer {staff}"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "query.created_to"


async def test_options_and_405_name_every_method_of_the_path(gateway):
    options = await gateway.options("/v1/cases")
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, OPTIONS, POST"
    refused = await gateway.delete("/v1/cases")
    assert refused.status_code == 405 and refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["allow"] == "GET, OPTIONS, POST"
    assert (await gateway.options("/v1/cases/FN-1405-000042-3/documents")).headers["allow"] == "OPTIONS, POST"
    assert (await gateway.options("/v1/nowhere")).status_code == 404


async def test_docs_load_nothing_from_another_host(gateway):
    page = await gateway.get("/docs")
    assert page.status_code == 200
    references = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
    assert references, page.text
    assert all(reference.startswith("/") and not reference.startswith("//") for reference in references), references
    assert '"validatorUrl": null' in page.text
    for reference in references:
        assert (await gateway.get(reference)).status_code == 200, reference
