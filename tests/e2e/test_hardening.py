"""What an attacker tried, each answered cleanly: no 5xx from any input, no answer to the wrong
caller, documents up to their kind's limit stored and larger ones a 413, bodies bounded before
they are parsed, uploads typed by their bytes."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.e2e.conftest import bearer, count_rows, start_case

pytestmark = pytest.mark.e2e
PROBLEM = "application/problem+json"
# Citizens of their own, so that other tests' listings of a citizen's cases are not disturbed.
CITIZEN_A = bearer("citizen", subject="1234567806", name="زهرا کریمی")
CITIZEN_B = bearer("citizen", subject="2345678917", name="دیگری")
GENERIC_FORM = {"full_name": "زهرا کریمی", "national_code": "1234567806", "mobile": "09121234567", "subject": "گواهی"}


def attach(client: httpx.Client, code: str, kind: str, name: str, content: bytes, media: str, key: str):
    return client.post(
        f"/v1/cases/{code}/documents",
        data={"kind": kind},
        files={"file": (name, content, media)},
        headers={"Idempotency-Key": key},
    )


def assert_problem(answer: httpx.Response, status: int) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    return answer.json()


def test_another_callers_idempotency_key_never_returns_the_first_callers_case(stack):
    url = stack.config.gateway_url
    body = {"process": "foreign-nationals-32", "data": GENERIC_FORM}
    with httpx.Client(base_url=url, headers=CITIZEN_A) as a, httpx.Client(base_url=url, headers=CITIZEN_B) as b:
        first = a.post("/v1/cases", json=body, headers={"Idempotency-Key": "hijack-1"})
        assert first.status_code == 201, first.text
        second = b.post("/v1/cases", json=body, headers={"Idempotency-Key": "hijack-1"})
        assert second.status_code == 201, second.text
        assert "Idempotent-Replayed" not in second.headers
        case = second.json()
        assert case["code"] != first.json()["code"]
        assert case["applicant"]["id"] == "2345678917"
        assert case["applicant"]["name"] == "دیگری"  # B's own case, though B's form copied A's
        # The first caller's replay is still theirs.
        again = a.post("/v1/cases", json=body, headers={"Idempotency-Key": "hijack-1"})
        assert again.status_code == 200 and again.json()["code"] == first.json()["code"]


def test_a_start_without_service_naming_an_unknown_process_is_a_422(client):
    answer = client.post("/v1/cases", json={"process": "nope", "data": {}}, headers={"Idempotency-Key": "nope"})
    body = assert_problem(answer, 422)
    assert body["errors"][0]["field"] == "process"


@pytest.mark.parametrize("depth", [30, 50, 90])
def test_deeply_nested_data_is_a_422_naming_the_depth(client, depth):
    nested: dict = {}
    for _ in range(depth):
        nested = {"a": nested}
    answer = client.post(
        "/v1/cases",
        json={"service": "foreign-nationals", "process": "residence-document-extension", "data": nested},
        headers={"Idempotency-Key": f"deep-{depth}"},
    )
    body = assert_problem(answer, 422)
    assert any(e["field"] == "data" and "deep" in e["message"] for e in body["errors"]), body


def test_an_absurd_version_or_cursor_is_a_422(client):
    case = start_case(client, "absurd").json()
    answer = client.post(
        f"/v1/cases/{case['code']}/actions/start-review",
        json={"version": 2**63}, headers={"Idempotency-Key": "absurd-version"},
    )
    assert assert_problem(answer, 422)["errors"][0]["field"] == "version"
    answer = client.get("/v1/cases", params={"cursor": "99999999999999999999"})
    assert assert_problem(answer, 422)["errors"][0]["field"] == "query.cursor"
    assert client.get("/v1/cases", params={"cursor": "-1"}).status_code == 422


@pytest.mark.parametrize("field", ["state", "role", "process"])
def test_a_case_list_filter_with_a_nul_byte_is_a_422_not_a_database_error(client, field):
    """Found by the fuzz test: PostgreSQL refuses a NUL byte in text, and the service answered 502."""
    answer = client.get("/v1/cases", params={field: "submitted\x00"})
    assert assert_problem(answer, 422)["errors"][0]["field"] == f"query.{field}"


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+00:11", "9999-12-31T23:59:59-01:00"])
def test_an_instant_that_utc_cannot_hold_is_a_422(client, instant):
    """Found by the fuzz test: converting it to UTC overflowed, a 500."""
    answer = client.get("/v1/cases", params={"created_from": instant})
    assert assert_problem(answer, 422)["errors"][0]["field"] == "query.created_from"


def test_a_kept_alive_connection_keeps_working_after_an_error(stack):
    """Raw HTTP/1.1 on one socket: an error answer, then a good one on the same connection."""
    with socket.create_connection(("127.0.0.1", stack.config.gateway_port), timeout=10) as sock:
        reader = sock.makefile("rb")
        for path, status in (("/v1/cases/NOPE", 401), ("/v1/catalogue/no-such-entry", 404), ("/healthz", 200)):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: gateway\r\n\r\n".encode())
            head = reader.readline()
            assert head.split()[1] == str(status).encode(), head
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                assert not (name.lower() == "connection" and "close" in value.lower())
            reader.read(length)


def test_a_json_body_over_the_limit_is_a_413_before_parsing(client):
    big = b'{"process": "x", "data": {' + b",".join(b'"k%d": 1' % i for i in range(200_000)) + b"}}"
    assert len(big) > 1_000_000
    headers = {"Idempotency-Key": "big", "Content-Type": "application/json"}
    body = assert_problem(client.post("/v1/cases", content=big, headers=headers), 413)
    assert "1000000" in body["detail"].replace(",", "")

    def chunks():
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    chunked = client.post("/v1/cases", content=chunks(), headers=headers)
    assert "content-length" not in chunked.request.headers
    assert_problem(chunked, 413)


def test_a_document_up_to_its_kinds_limit_is_stored_and_one_over_it_is_a_413(stack, client):
    case = start_case(client, "big-documents").json()
    limit = 5_000_000  # residence-document-scan
    pdf = b"%PDF-1.4\n" + b"0" * (limit - 9 - 100)
    stored = attach(client, case["code"], "residence-document-scan", "scan.pdf", pdf, "application/pdf", "big-ok")
    assert stored.status_code == 201, stored.text[:500]
    assert stored.json()["document"]["size"] == len(pdf)
    over = b"%PDF-1.4\n" + b"0" * (limit - 9 + 1)
    refused = attach(client, case["code"], "residence-document-scan", "scan.pdf", over, "application/pdf", "big-over")
    body = assert_problem(refused, 413)
    assert "larger than max" not in refused.text.lower() and "grpc" not in refused.text.lower()
    assert str(limit) in body["detail"]


def test_the_type_of_an_upload_comes_from_its_bytes(stack, client):
    case = start_case(client, "sniffed").json()
    before = count_rows(stack, "foreign-nationals", "case_documents")
    text_as_pdf = attach(client, case["code"], "residence-document-scan", "a.pdf", b"just some text\n" * 10,
                         "application/pdf", "sniff-1")
    assert_problem(text_as_pdf, 415)
    exe_as_png = attach(client, case["code"], "photo", "a.png", b"MZ\x90\x00\x03" + b"\x00" * 200, "image/png",
                        "sniff-2")
    assert_problem(exe_as_png, 415)
    png_as_jpeg = attach(client, case["code"], "photo", "a.jpg", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/jpeg",
                         "sniff-3")
    assert_problem(png_as_jpeg, 415)
    assert count_rows(stack, "foreign-nationals", "case_documents") == before


def test_an_uploaded_file_name_keeps_no_path_or_control_characters(client):
    case = start_case(client, "names").json()
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
    cases = [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("mal\x1bici\x7fous\u202egpj.pdf", "maliciousgpj.pdf"),
        ("گواهی\u200cنامه.pdf", "گواهی\u200cنامه.pdf"),
        ("..", "residence-document-scan"),
    ]
    for index, (name, expected) in enumerate(cases):
        answer = attach(client, case["code"], "residence-document-scan", name, pdf, "application/pdf", f"name-{index}")
        assert answer.status_code == 201, answer.text
        assert answer.json()["document"]["filename"] == expected
    long = attach(client, case["code"], "residence-document-scan", "ب" * 400 + ".pdf", pdf, "application/pdf", "long")
    filename = long.json()["document"]["filename"]
    assert len(filename) <= 200 and filename.endswith(".pdf")
