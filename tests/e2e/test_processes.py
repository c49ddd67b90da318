"""What a frontend needs besides cases: every process described (its form as JSON Schema) and the
documents of a case downloadable by those who may see it."""

from __future__ import annotations

import hashlib
from urllib.parse import unquote

import httpx
import jsonschema
import pytest

from tests.e2e.conftest import RESIDENCE_FORM, bearer, start_case

pytestmark = pytest.mark.e2e
CITIZEN = bearer("citizen")
OTHER_CITIZEN = bearer("citizen", subject="0067749828", name="دیگری")
SOCIAL_CLERK = bearer(subject="clerk-9", office="social-cultural")


def test_every_process_is_listed_with_its_service(stack):
    with httpx.Client(base_url=stack.config.gateway_url) as client:
        body = client.get("/v1/processes").json()
    assert body["missing_services"] == []
    slugs = {(item["service"], item["slug"]) for item in body["items"]}
    assert ("foreign-nationals", "residence-document-extension") in slugs
    assert ("political", "assembly-permit") in slugs
    # The generic request runs in every service, so each lists it.
    assert sum(1 for service, slug in slugs if slug == "generic-request") == 7


def test_a_process_form_is_a_json_schema_that_accepts_a_real_form(stack):
    with httpx.Client(base_url=stack.config.gateway_url) as client:
        process = client.get("/v1/processes/residence-document-extension").json()
        by_entry = client.get("/v1/processes/foreign-nationals-01").json()
    assert by_entry["slug"] == process["slug"]
    form = process["form"]
    jsonschema.Draft202012Validator.check_schema(form)
    validator = jsonschema.Draft202012Validator(form)
    assert list(validator.iter_errors(RESIDENCE_FORM)) == []  # Persian digits and all
    assert set(form["required"]) >= {"full_name", "document_number", "mobile"}
    assert form["properties"]["document_expires_on"]["format"] == "jalali-date"
    choices = [choice["const"] for choice in form["properties"]["document_type"]["oneOf"]]
    assert "RESIDENCE_DOCUMENT_TYPE_AMAYESH_CARD" in choices
    assert not any(choice.endswith("_UNSPECIFIED") for choice in choices)
    assert list(validator.iter_errors({**RESIDENCE_FORM, "document_type": "VISA"}))
    assert list(validator.iter_errors({**RESIDENCE_FORM, "passport_colour": "blue"}))
    documents = {d["kind"]: d for d in process["documents"]}
    assert documents["photo"]["max_bytes"] == 2_000_000
    assert documents["photo"]["title_fa"]
    approve = next(a for a in process["actions"] if a["name"] == "approve")
    assert approve["fields"]["required"] == ["extended_until"]
    assert approve["title_fa"] and approve["roles"] == ["head-of-office"]
    assert {s["name"] for s in process["states"] if s["terminal"]} == {"delivered", "refused", "withdrawn"}
    assert process["sla"]["days"] == 15 and process["sla"]["counting"] == "calendar"
    assert "Civil Procedure Law" in process["sla"]["rule"]


def test_every_form_schema_is_valid(stack):
    with httpx.Client(base_url=stack.config.gateway_url) as client:
        items = client.get("/v1/processes").json()["items"]
        for item in items:
            process = client.get(f"/v1/processes/{item['slug']}", params={"service": item["service"]})
            assert process.status_code == 200, process.text
            jsonschema.Draft202012Validator.check_schema(process.json()["form"])


def test_unknown_and_ambiguous_processes_are_problems(stack):
    with httpx.Client(base_url=stack.config.gateway_url) as client:
        unknown = client.get("/v1/processes/no-such-process")
        ambiguous = client.get("/v1/processes/generic-request")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
    assert ambiguous.status_code == 422
    assert ambiguous.json()["errors"][0]["field"] == "service"


def test_a_document_downloads_for_the_applicant_and_staff_only(stack):
    content = b"%PDF-1.4 scan of a residence document"
    sha256 = hashlib.sha256(content).hexdigest()
    with httpx.Client(base_url=stack.config.gateway_url, headers=CITIZEN, timeout=30) as client:
        case = start_case(client, "download-1").json()
        attached = client.post(
            f"/v1/cases/{case['code']}/documents",
            data={"kind": "residence-document-scan"},
            files={"file": ("مدرک اقامت.pdf", content, "application/pdf")},
            headers={"Idempotency-Key": "download-2"},
        )
        assert attached.status_code == 201, attached.text
        path = f"/v1/cases/{case['code']}/documents/{sha256}"
        mine = client.get(path)
        assert mine.status_code == 200
        assert mine.content == content
        assert mine.headers["content-type"] == "application/pdf"
        disposition = mine.headers["content-disposition"]
        assert disposition.startswith("attachment;")
        assert unquote(disposition.split("filename*=UTF-8''")[1]) == "مدرک اقامت.pdf"
        staff = client.get(path, headers=bearer())
        assert staff.status_code == 200 and staff.content == content
        for stranger in (OTHER_CITIZEN, SOCIAL_CLERK):
            refused = client.get(path, headers=stranger)
            assert refused.status_code == 404, refused.text
        assert client.get(f"/v1/cases/{case['code']}/documents/{'0' * 64}").status_code == 404
        assert client.get(f"/v1/cases/{case['code']}/documents/not-a-hash").status_code == 422
