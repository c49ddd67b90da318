import importlib

import pytest

from ostan.foreign_nationals.v1 import forms_pb2  # noqa: F401 — registers the form
from ostan_kit.processes.definitions import DefinitionError, load_processes
from ostan_kit.runtime.errors import InvalidArgument
from ostan_kit.runtime.registry import SERVICES
from tests.conftest import service_package

FOREIGN_NATIONALS = service_package("foreign-nationals") / "processes"

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
    return load_processes(FOREIGN_NATIONALS).latest["residence-document-extension"]


def test_a_good_form_is_stored_normalised(extension):
    stored = extension.validate_form(GOOD)
    assert stored["full_name"] == "محمد رضایی"
    assert stored["nationality"] == "AFG"
    assert stored["document_number"] == "12345678"
    assert stored["document_expires_on"] == "1405/09/01"
    assert stored["mobile"] == "09121234567"


def _violations(extension, data):
    with pytest.raises(InvalidArgument) as caught:
        extension.validate_form(data)
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


def _line_of(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "message", "at"),
    [
        ("kind: mobile", "kind: telephone", "unknown field kind", "  mobile: {kind: telephone"),
        ("  address: {kind: text, required: true}\n", "", "has no rule", "fields:"),
        ("fields:\n  full_name", "fields:\n  colour: {kind: text}\n  full_name", "is not in", "  colour:"),
        ("ResidenceDocumentExtension", "NoSuchForm", "NoSuchForm", "form: "),
        ("    roles: [head-of-office]\n    fields:\n      reason", "    roles: [judge]\n    fields:\n      reason",
         "unknown role 'judge'", "roles: [judge]"),
        ("requires_documents: [residence-document-scan, photo]", "requires_documents: [passport]",
         "unknown document 'passport'", "requires_documents: [passport]"),
        ("    to: delivered\n", "    to: decided\n", "'delivered' cannot be reached", "  delivered: {"),
        ("  - name: deliver\n    title_fa: تحویل مدرک\n    from: [decided]", "  - name: deliver\n    title_fa: تحویل مدرک\n    from: [resubmitted]",
         "'decided' is a dead end but not terminal", "  decided: {"),
    ],
)
def test_a_wrong_definition_stops_the_start_naming_file_line_and_problem(tmp_path, old, new, message, at):
    assert old in DEFINITION
    broken = DEFINITION.replace(old, new, 1)
    path = tmp_path / "broken.yaml"
    path.write_text(broken, "utf-8")
    with pytest.raises(ValueError, match=message) as caught:
        load_processes(tmp_path)
    assert f"{path}:{_line_of(broken, at)}:" in str(caught.value)


def test_working_days_override_the_day_rule_only_where_a_source_is_cited(tmp_path):
    text = (FOREIGN_NATIONALS / "residence-document-extension.yaml").read_text("utf-8")
    folder = tmp_path / "processes"
    folder.mkdir()
    (folder / "d.yaml").write_text(text.replace("sla_days: ", "sla_working_days: ", 1), "utf-8")
    with pytest.raises(DefinitionError, match="روز کاری"):
        load_processes(folder)
    cited = text.replace("sla_days: ", "working_days_source: 'seed X line 1 «۵ روز کاری»'\nsla_working_days: ", 1)
    (folder / "d.yaml").write_text(cited, "utf-8")
    assert load_processes(folder).latest["residence-document-extension"].working_days_source


def test_every_definition_reads_its_days_by_the_one_rule():
    """No definition of the offices counts working days: no source says «روز کاری»; the public
    complaint's and the Article 79 board's unqualified «روز» count alike."""
    for name in sorted(SERVICES):
        importlib.import_module(f"ostan.{name.replace('-', '_')}.v1.forms_pb2")
        for definition in load_processes(service_package(name) / "processes").latest.values():
            assert not definition.sla_working_days and not definition.working_days_source, definition.origin
            assert not any(state.sla_working_days for state in definition.states.values()), definition.origin
