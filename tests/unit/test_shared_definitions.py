"""kit's shared definitions (the commission pattern, the generic request) are versioned: a
definition pins the version it extends, and every version stays loadable."""

from __future__ import annotations

import pytest
import yaml

from ostan.common.v1 import forms_pb2  # noqa: F401 — registers the shared forms
from ostan_kit.processes.definitions import (
    GENERIC_SLUG,
    SHARED,
    DefinitionError,
    UnknownVersion,
    load_processes,
    read_definition,
)
from ostan_kit.runtime.registry import SERVICES
from tests.conftest import service_package

SERVICE_FOLDERS = [service_package(name) for name in sorted(SERVICES)]
BODY = "slug: exam-protection-commission\ncatalogue: [security-law-enforcement-11]\n"


def test_every_shared_file_is_named_by_its_slug_and_version():
    files = sorted(SHARED.glob("*.yaml"))
    assert {path.name for path in files} >= {"commission@1.yaml", "generic-request@1.yaml"}
    for path in files:
        data = yaml.safe_load(path.read_text("utf-8"))
        assert path.stem == f"{data['slug']}@{data['version']}"
        read_definition(path)  # each version still loads


def test_every_definition_that_extends_pins_a_version():
    for folder in SERVICE_FOLDERS:
        for path in (folder / "processes").glob("*.yaml"):
            data = yaml.safe_load(path.read_text("utf-8"))
            if "extends" in data:
                assert "@" in data["extends"], path
                assert (SHARED / f"{data['extends']}.yaml").is_file(), path


def test_every_service_pins_the_generic_request_it_runs():
    for folder in SERVICE_FOLDERS:
        pin = read_definition(folder / "processes" / "generic-request.yaml")
        assert (pin.slug, pin.version) == (GENERIC_SLUG, 1), folder


@pytest.mark.parametrize(
    ("extends", "message"),
    [
        ("commission", r"pin a version, one of .*commission@1"),
        ("commission@7", r"kit has no such shared definition \(has: commission@1"),
        ("nothing@1", r"kit has no such shared definition \(has: none\)"),
    ],
)
def test_an_unpinned_or_unknown_version_stops_the_start(tmp_path, extends, message):
    path = tmp_path / "body.yaml"
    path.write_text(f"{BODY}extends: {extends}\n", "utf-8")
    with pytest.raises(DefinitionError, match=message) as caught:
        load_processes(tmp_path)
    assert f"{path}:3:" in str(caught.value)


def test_a_pinned_body_runs_that_version(tmp_path):
    (tmp_path / "body.yaml").write_text(f"extends: commission@1\n{BODY}", "utf-8")
    book = load_processes(tmp_path)
    body = book.latest["exam-protection-commission"]
    assert body.form == "ostan.common.v1.CommissionMeeting" and "invited" in body.states


def test_a_case_of_an_older_generic_request_stays_loadable_after_the_pin_moves(tmp_path, monkeypatch):
    # kit releases generic-request@2 beside @1; the office moves its pin to @2.
    shared = tmp_path / "shared"
    shared.mkdir()
    first = (SHARED / "generic-request@1.yaml").read_text("utf-8")
    (shared / "generic-request@1.yaml").write_text(first, "utf-8")
    (shared / "generic-request@2.yaml").write_text(first.replace("version: 1", "version: 2", 1), "utf-8")
    monkeypatch.setattr("ostan_kit.processes.definitions.SHARED", shared)
    processes = tmp_path / "processes"
    processes.mkdir()
    (processes / "generic-request.yaml").write_text("extends: generic-request@2\n", "utf-8")
    book = load_processes(processes)
    assert book.generic.version == 2  # new cases
    assert book.version(GENERIC_SLUG, 1).version == 1  # cases started before the move
    with pytest.raises(UnknownVersion, match="version 3"):
        book.version(GENERIC_SLUG, 3)
