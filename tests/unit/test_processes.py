from pathlib import Path

import pytest

from ostan.foreign_nationals.v1 import forms_pb2  # noqa: F401 — registers the form
from ostan_kit.errors import InvalidArgument
from ostan_kit.processes import load_processes

ROOT = Path(__file__).resolve().parents[2]
FOREIGN_NATIONALS = ROOT / "services" / "foreign-nationals" / "processes"

GOOD = {
    "full_name": "محمد  رضايي",
    "father_name": "علی",
    "nationality": "afg",
    "document_type": "RESIDENCE_DOCUMENT_TYPE_AMAYESH_CARD",
    "document_number": "۱۲۳۴۵۶۷۸",
    "document_expires_on": "۱۴۰۵/۹/۱",
    "mobile": "۰۹۱۲۱۲۳۴۵۶۷",
    "address": "قزوین، خیابان خیام",
}


@pytest.fixture(scope="module")
def extension():
    return load_processes(FOREIGN_NATIONALS)["residence-document-extension"]


def test_a_good_form_is_stored_normalised(extension):
    stored = extension.validate(GOOD)
    assert stored["full_name"] == "محمد رضایی"
    assert stored["nationality"] == "AFG"
    assert stored["document_number"] == "12345678"
    assert stored["document_expires_on"] == "1405/09/01"
    assert stored["mobile"] == "09121234567"


def _violations(extension, data):
    with pytest.raises(InvalidArgument) as caught:
        extension.validate(data)
    return {v.field: v.description for v in caught.value.violations}


def test_every_bad_field_is_named(extension):
    data = {**GOOD, "mobile": "123", "document_expires_on": "1405/13/01", "nationality": "ZZZ"}
    del data["father_name"]
    assert set(_violations(extension, data)) == {
        "data.mobile",
        "data.document_expires_on",
        "data.nationality",
        "data.father_name",
    }


def test_unknown_fields_and_wrong_types_are_refused(extension):
    assert "data" in _violations(extension, {**GOOD, "passport_colour": "blue"})
    assert "data" in _violations(extension, {**GOOD, "document_type": "VISA"})
    assert "data" in _violations(extension, {**GOOD, "full_name": 12})


def test_unspecified_enum_counts_as_missing(extension):
    data = {**GOOD, "document_type": "RESIDENCE_DOCUMENT_TYPE_UNSPECIFIED"}
    assert "data.document_type" in _violations(extension, data)


DEFINITION = (FOREIGN_NATIONALS / "residence-document-extension.yaml").read_text("utf-8")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("kind: mobile", "kind: telephone"), "unknown field kind"),
        (("  address: {kind: text, required: true}\n", ""), "have no rule"),
        (("fields:\n", "fields:\n  colour: {kind: text}\n"), "not in"),
        (("ResidenceDocumentExtension", "NoSuchForm"), "NoSuchForm"),
    ],
)
def test_a_wrong_definition_stops_the_start_naming_its_file(tmp_path, change, message):
    path = tmp_path / "broken.yaml"
    path.write_text(DEFINITION.replace(*change), "utf-8")
    with pytest.raises(ValueError, match=message) as caught:
        load_processes(tmp_path)
    assert str(path) in str(caught.value)
