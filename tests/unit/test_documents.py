"""Documents: the type comes from the bytes, the name keeps no path or control characters."""

from __future__ import annotations

import importlib

import pytest

from ostan.foreign_nationals.v1 import forms_pb2  # noqa: F401 — registers the forms
from ostan_kit.cases.documents import MAX_FILENAME, check_document, safe_filename, sniffed_types
from ostan_kit.runtime.errors import InvalidArgument
from tests.unit.cases_support import service_book

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF"
EXE = b"MZ\x90\x00\x03" + b"\x00" * 200


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("C:\\Users\\x\\scan.pdf", "scan.pdf"),
        ("mal\x00ici\x1bous\u202egpj.pdf", "maliciousgpj.pdf"),
        ("گواهی\u200cنامه  اقامت.pdf", "گواهی\u200cنامه اقامت.pdf"),
        ("..", "scan"),
        ("", "scan"),
        ("\u202e\u202d", "scan"),
    ],
)
def test_a_file_name_keeps_no_path_or_control_characters(name, kept):
    assert safe_filename(name, "scan") == kept


def test_a_long_file_name_is_cut_keeping_its_extension():
    kept = safe_filename("ب" * 400 + ".pdf", "scan")
    assert len(kept) == MAX_FILENAME and kept.endswith(".pdf")


def test_types_come_from_the_bytes():
    assert "application/pdf" in sniffed_types(PDF)
    assert sniffed_types(PNG)[0] == "image/png"
    assert "image/jpeg" in sniffed_types(JPEG)
    assert sniffed_types(b"just some text\n" * 10) == []


@pytest.mark.parametrize(
    ("kind", "declared", "content"),
    [
        ("residence-document-scan", "application/pdf", b"just some text\n" * 10),
        ("photo", "image/png", EXE),
        ("photo", "image/jpeg", PNG),
        ("residence-document-scan", "application/pdf", PNG),
    ],
)
def test_a_declared_type_the_bytes_do_not_bear_out_is_refused(kind, declared, content):
    definition = service_book("foreign-nationals").latest["residence-document-extension"]
    with pytest.raises(InvalidArgument) as caught:
        check_document(definition, "residence-document-extension", kind, declared, content)
    assert caught.value.reason == "DOCUMENT_TYPE_NOT_ALLOWED"
    assert declared in caught.value.message


def test_a_document_whose_bytes_match_is_accepted():
    definition = service_book("foreign-nationals").latest["residence-document-extension"]
    check_document(definition, "residence-document-extension", "residence-document-scan", "application/pdf", PDF)
    check_document(definition, "residence-document-extension", "photo", "image/png", PNG)


def test_every_document_a_definition_allows_fits_the_gateway_and_its_service():
    from ostan_gateway.settings import GatewaySettings
    from ostan_kit.runtime.registry import SERVICES as REGISTRY
    from ostan_kit.runtime.service import ENVELOPE_BYTES

    gateway = GatewaySettings()
    for service in REGISTRY:
        importlib.import_module(f"ostan.{service.replace('-', '_')}.v1.forms_pb2")  # registers its forms
        largest = service_book(service).largest_document()
        assert 0 < largest <= gateway.max_document_bytes
        assert largest + ENVELOPE_BYTES <= gateway.max_message_bytes
