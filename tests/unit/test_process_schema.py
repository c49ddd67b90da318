"""Each process described for a frontend: its form's JSON Schema is valid, agrees with what the
service itself accepts, and carries the proto's Persian labels."""

from __future__ import annotations

import importlib
import re

import jsonschema
import pytest

from ostan_kit.processes.schema import describe, enum_choices, field_label
from ostan_kit.runtime.registry import SERVICES
from tests.forms import RESIDENCE_FORM
from tests.unit.cases_support import service_book

for _info in SERVICES.values():  # registers every service's forms
    importlib.import_module(f"ostan.{_info.name.replace('-', '_')}.v1.forms_pb2")

PERSIAN_LETTER = re.compile("[\u0600-\u06ff]")



@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_description_is_valid_json_schema(service):
    book = service_book(service)
    for definition in book.latest.values():
        description = describe(definition, service)
        jsonschema.Draft202012Validator.check_schema(description["form"])
        for action in description["actions"]:
            jsonschema.Draft202012Validator.check_schema(action["fields"])
        # Only what the definition keeps is described, and every field it keeps is.
        assert set(description["form"]["properties"]) == set(definition.fields), definition.slug
        assert set(description["form"].get("required", [])) == {
            name for name, rule in definition.fields.items() if rule.required
        }


def test_a_form_the_service_accepts_the_schema_accepts_too():
    definition = service_book("foreign-nationals").latest["residence-document-extension"]
    form = describe(definition, "foreign-nationals")["form"]
    definition.validate_form(RESIDENCE_FORM)
    assert list(jsonschema.Draft202012Validator(form).iter_errors(RESIDENCE_FORM)) == []
    missing = {key: value for key, value in RESIDENCE_FORM.items() if key != "mobile"}
    assert [error.validator for error in jsonschema.Draft202012Validator(form).iter_errors(missing)] == ["required"]


def test_enum_values_carry_their_persian_labels():
    definition = service_book("foreign-nationals").latest["residence-document-extension"]
    choices = describe(definition, "foreign-nationals")["form"]["properties"]["document_type"]["oneOf"]
    labels = {choice["const"]: choice["title"] for choice in choices}
    assert labels["RESIDENCE_DOCUMENT_TYPE_AMAYESH_CARD"] == "کارت آمایش"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_field_a_definition_keeps_has_a_persian_label(service):
    unlabelled = []
    for definition in service_book(service).latest.values():
        for field in definition.form_class().DESCRIPTOR.fields:
            if field.name in definition.fields and not field_label(field):
                unlabelled.append(f"{definition.slug}: {field.full_name}")
    assert unlabelled == []


def _forms_modules():
    return [importlib.import_module(f"ostan.{info.name.replace('-', '_')}.v1.forms_pb2") for info in SERVICES.values()] + [
        importlib.import_module("ostan.common.v1.forms_pb2")
    ]


def test_every_enum_value_of_every_form_has_a_persian_label():
    unlabelled = []
    for module in _forms_modules():
        for enum in module.DESCRIPTOR.enum_types_by_name.values():
            for choice in enum_choices(enum):
                if choice["title"] == choice["const"] or not choice["title"].strip():
                    unlabelled.append(f"{enum.full_name}.{choice['const']}")
    assert unlabelled == []


def test_labels_are_persian_and_shown_in_the_schema():
    definition = service_book("political").latest["assembly-permit"]
    properties = describe(definition, "political")["form"]["properties"]
    assert all(PERSIAN_LETTER.search(schema.get("title", "")) for schema in properties.values()), properties
