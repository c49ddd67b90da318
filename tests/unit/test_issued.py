"""What a granted case issues: the record's signature, its checks in a definition, and the PDF's
Persian text really shaped (joined letter forms, right to left)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
import yaml
from fontTools.ttLib import TTFont
from pypdf import PdfReader

import ostan.foreign_nationals.v1.forms_pb2  # noqa: F401 — registers the forms
from ostan.common.v1 import issued_pb2
from ostan_gateway.issued_pdf import FONTS, render_pdf
from ostan_kit.cases.issued import Issuer, canonical, ensure_issuing_key
from ostan_kit.processes.definitions import DefinitionError, read_definition
from tests.unit.cases_support import service_book

RECORD = {"code": "FN-1405-000001-7", "fields": [{"name": "full_name", "label_fa": "نام", "value": "محمد رضایی"}]}
TITLE = "مجوز تمدید مدرک اقامتی اتباع خارجی"


def test_a_signed_record_verifies_and_a_changed_one_does_not(tmp_path):
    issuer = Issuer.configured(path=ensure_issuing_key(tmp_path, "foreign-nationals"))
    signature = issuer.sign(RECORD)
    assert issuer.verifies(RECORD, issuer.key_id, signature)
    changed = {**RECORD, "fields": [{**RECORD["fields"][0], "value": "کس دیگری"}]}
    assert not issuer.verifies(changed, issuer.key_id, signature)
    other = Issuer.configured(path=ensure_issuing_key(tmp_path / "other", "foreign-nationals"))
    assert not other.verifies(RECORD, issuer.key_id, signature)
    assert not issuer.verifies(RECORD, issuer.key_id, "not-base64!")
    # The key made once is kept: a restarted service signs with the same key.
    assert Issuer.configured(path=ensure_issuing_key(tmp_path, "foreign-nationals")).key_id == issuer.key_id


def test_the_canonical_form_ignores_key_order_and_keeps_persian():
    assert canonical({"b": 1, "a": "قزوین"}) == canonical({"a": "قزوین", "b": 1}) == '{"a":"قزوین","b":1}'.encode()


def test_the_residence_extension_says_what_it_issues():
    definition = service_book("foreign-nationals").latest["residence-document-extension"]
    assert definition.issues is not None and definition.issues.kind == "permit"
    assert "extended_until" in definition.issues.fields


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"fields": ["no_such_field"]}, "unknown field"),
        ({"revoke_roles": ["nobody"]}, "unknown role"),
        ({"valid_until": "full_name"}, "no Jalali-date field"),
    ],
)
def test_a_definition_issuing_nonsense_is_refused(change, problem, tmp_path):
    definition = service_book("foreign-nationals").latest["residence-document-extension"]
    data = definition.model_dump(by_alias=True, exclude_none=True)
    data["issues"] = {**data["issues"], **change}
    with pytest.raises(DefinitionError, match=problem):
        path = tmp_path / "residence-document-extension.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
        read_definition(path)


def _document() -> issued_pb2.IssuedDocument:
    document = issued_pb2.IssuedDocument(
        code="FN-1405-000001-7", kind="permit", title_fa=TITLE, office_title_fa="اداره کل امور اتباع و مهاجرین خارجی",
        issued_at_jalali="1405/09/09 10:20:00", valid_until_jalali="1406/09/01", key_id="0123456789abcdef",
        fields=[issued_pb2.IssuedField(name="full_name", label_fa="نام و نام خانوادگی", value="محمد رضایی")],
    )
    document.issued_at.FromDatetime(datetime(2026, 11, 30, tzinfo=UTC))
    return document


def _embedded_glyph_names(pdf: bytes) -> set[str]:
    """The glyphs of the fonts the PDF embeds (fpdf2 embeds the subset it used)."""
    names: set[str] = set()
    for font in PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]["/Font"].values():
        descriptor = font.get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
        names |= set(TTFont(io.BytesIO(descriptor["/FontFile2"].get_object().get_data())).getGlyphOrder())
    return names


def test_the_pdf_text_is_persian_shaped_right_to_left_with_the_verification_link():
    status = issued_pb2.IssuedStatus(authentic=True, current=True, state="valid")
    pdf = render_pdf(_document(), status, "https://example.test/v1/verify/FN-1405-000001-7")
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert TITLE in text and "https://example.test/v1/verify/FN-1405-000001-7" in text
    # Shaped text is set in the font's joined forms (initial, medial, final: the glyphs of the
    # Arabic presentation forms, U+FB50–U+FEFF); letters set one by one would use none of them.
    joined = {name for name in _embedded_glyph_names(pdf) if name.startswith(("uniFE", "uniFB"))}
    assert len(joined) >= 10, joined
    assert "uniFE92" in TTFont(FONTS / "Vazirmatn-Regular.ttf").getGlyphOrder()  # beh, medial
