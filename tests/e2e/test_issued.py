"""What a granted case issues, end to end: the permit is recorded and signed in the transaction
that grants the case, its applicant downloads it as a PDF whose Persian text is shaped and whose
QR code leads to the public verification page, and its revocation shows there."""

from __future__ import annotations

import io
import json

import httpx
from pypdf import PdfReader
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.e2e.conftest import bearer, count_rows, start_case

# A citizen of its own, so that the cases here do not show in other modules' lists of "my cases" on the shared stack.
CITIZEN = bearer("citizen", subject="0012345679", name="مریم رضایی")
OTHER_CITIZEN = bearer("citizen", subject="0067749828", name="دیگری")
CLERK = bearer()
HEAD = bearer(subject="head-1", name="رئیس اداره", roles=["head-of-office"])
SCAN = ("scan.pdf", b"%PDF-1.4 residence document", "application/pdf")
PHOTO = ("photo.png", b"\x89PNG\r\n\x1a\n photo", "image/png")


def grant(client: httpx.Client, prefix: str) -> str:
    """A residence document extension taken from submission to delivery; its code."""
    started = start_case(client, f"{prefix}-start", **CITIZEN)
    assert started.status_code == 201, started.text
    code = started.json()["code"]
    for kind, file in (("residence-document-scan", SCAN), ("photo", PHOTO)):
        attached = client.post(
            f"/v1/cases/{code}/documents", data={"kind": kind}, files={"file": file},
            headers={"Idempotency-Key": f"{prefix}-{kind}", **CITIZEN},
        )
        assert attached.status_code == 201, attached.text
    version = client.get(f"/v1/cases/{code}", headers=CITIZEN).json()["version"]
    for action, who, data in (
        ("start-review", CLERK, {}),
        ("approve", HEAD, {"extended_until": "۱۴۰۶/۰۹/۰۱"}),
        ("deliver", CLERK, {}),
    ):
        acted = client.post(
            f"/v1/cases/{code}/actions/{action}", json={"version": version, "data": data},
            headers={"Idempotency-Key": f"{prefix}-{action}", **who},
        )
        assert acted.status_code == 200, acted.text
        version = acted.json()["version"]
    return code


def test_a_granted_case_issues_a_signed_permit_its_applicant_downloads_and_anyone_verifies(stack):
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as client:
        code = grant(client, "issued-1")
        assert count_rows(stack, "foreign-nationals", "issued_documents", f"WHERE code = '{code}'") == 1

        issued = client.get(f"/v1/cases/{code}/issued", headers=CITIZEN)
        assert issued.status_code == 200, issued.text
        body = issued.json()
        assert body["kind"] == "permit" and body["status"] == {"authentic": True, "current": True, "state": "valid"}
        shown = {field["name"]: field for field in body["fields"]}
        assert shown["document_type"]["value"] == "کارت آمایش"
        assert shown["extended_until"]["value"] == "1406/09/01"
        assert body["valid_until_jalali"] == "1406/09/01"
        assert body["office"]["title_fa"]

        pdf = client.get(f"/v1/cases/{code}/issued.pdf", headers=CITIZEN)
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
        assert code in text and "مجوز تمدید مدرک اقامتی اتباع خارجی" in text
        assert f"/v1/verify/{code}" in text
        assert client.get(f"/v1/cases/{code}/issued.pdf", headers=OTHER_CITIZEN).status_code == 404
        assert client.get(f"/v1/cases/{code}/issued.pdf").status_code == 401

        verified = client.get(f"/v1/verify/{code}")  # public: no token
        assert verified.status_code == 200
        assert verified.json()["status"]["state"] == "valid"
        page = client.get(f"/v1/verify/{code}", headers={"Accept": "text/html"})
        assert page.headers["content-type"].startswith("text/html") and 'data-state="valid"' in page.text

        refused = client.post(
            f"/v1/cases/{code}/issued/revoke", json={"reason": "اشتباه"},
            headers={"Idempotency-Key": "issued-1-revoke-clerk", **CLERK},
        )
        assert refused.status_code == 403, refused.text
        revoked = client.post(
            f"/v1/cases/{code}/issued/revoke", json={"reason": "مدرک جعلی بود"},
            headers={"Idempotency-Key": "issued-1-revoke", **HEAD},
        )
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["status"]["state"] == "revoked"
        assert client.get(f"/v1/verify/{code}").json()["status"] == {
            "authentic": True, "current": False, "state": "revoked",
        }
        history = client.get(f"/v1/cases/{code}/history", headers=CLERK).json()["items"]
        assert history[-1]["event"] == "issued-revoked" and history[-1]["comment"] == "مدرک جعلی بود"


def test_a_changed_record_no_longer_verifies(stack):
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as client:
        code = grant(client, "issued-2")
        url = make_url(stack.database_url("foreign-nationals"))
        driver = "sqlite" if url.get_backend_name() == "sqlite" else "postgresql+psycopg"
        engine = create_engine(url.set(drivername=driver))
        with engine.begin() as connection:
            record = connection.execute(
                text("SELECT record FROM issued_documents WHERE code = :code"), {"code": code}
            ).scalar_one()
            record = json.loads(record) if isinstance(record, str) else record
            record["valid_until_jalali"] = "1499/01/01"
            connection.execute(
                text("UPDATE issued_documents SET record = :record WHERE code = :code"),
                {"record": json.dumps(record, ensure_ascii=False), "code": code},
            )
        engine.dispose()
        assert client.get(f"/v1/verify/{code}").json()["status"]["state"] == "not-authentic"


def test_verifying_an_unknown_or_malformed_code_is_a_problem(stack):
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as client:
        assert client.get("/v1/verify/FN-1405-999999-0").status_code in (404, 422)
        malformed = client.get("/v1/verify/not-a-code")
        assert malformed.status_code == 422 and malformed.headers["content-type"] == "application/problem+json"
