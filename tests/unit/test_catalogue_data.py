"""The catalogue data: valid, hosted once, generated from the seeds and not edited by hand."""

from __future__ import annotations

import filecmp
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ostan_kit.catalogue.entries import load_catalogue
from ostan_kit.runtime.registry import SERVICES
from ostan_kit.text.persian import ascii_digits, search_key
from tests.conftest import service_package

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT.parent / "shared" / "seeds"
ORGANISATION = ROOT / "kit" / "src" / "ostan_kit" / "catalogue" / "data" / "organisation.yaml"


@pytest.fixture(scope="module")
def catalogues():
    return {name: load_catalogue(service_package(name) / "catalogue") for name in SERVICES}


def test_every_service_serves_entries_it_hosts(catalogues):
    for name, entries in catalogues.items():
        assert entries, f"{name} has no catalogue entries"
        assert {entry.hosting_service for entry in entries} == {name}


def test_no_entry_is_hosted_by_two_services(catalogues):
    slugs = [entry.slug for entries in catalogues.values() for entry in entries]
    assert len(slugs) == len(set(slugs))


def test_every_office_of_table_1_has_a_home(catalogues):
    organisation = yaml.safe_load(ORGANISATION.read_text("utf-8"))
    offices = {office["slug"]: office["hosting_service"] for office in organisation["offices"]}
    assert len(offices) == 17
    assert set(offices.values()) == set(SERVICES)
    hosted = {(entry.office, entry.hosting_service) for entries in catalogues.values() for entry in entries}
    assert {office for office, _ in hosted} == set(offices)
    assert all(offices[office] == service for office, service in hosted)


def test_cards_link_only_to_booklet_entries_that_exist(catalogues):
    slugs = {entry.slug for entries in catalogues.values() for entry in entries}
    for entries in catalogues.values():
        for entry in entries:
            if entry.describes is not None:
                assert entry.describes.slug in slugs, entry.slug


GENERATORS = ["build_booklet.py", "build_cards.py"]


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seeds are in ../shared, beside the repository")
@pytest.mark.parametrize("generator", GENERATORS)
def test_the_data_is_what_the_generators_make_from_the_seeds(generator, tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "catalogue" / generator), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    made = [path for path in tmp_path.rglob("*.yaml")]
    assert made
    for path in made:
        committed = ROOT / path.relative_to(tmp_path)
        assert filecmp.cmp(path, committed, shallow=False), f"{committed} differs from its generator's output"


def _seed_lines(seed: str) -> list[str]:
    return (SEEDS / seed).read_text("utf-8").splitlines()


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seeds are in ../shared, beside the repository")
def test_every_title_and_booklet_id_is_in_its_seed(catalogues):
    """Compared after a normalisation that ignores ZWNJ, ی/ي, ک/ك, diacritics and digit script.
    A title printed over several lines, or (seed 002) with its words in visual order, must have
    every word in the lines its provenance names."""
    keys = {}
    for entries in catalogues.values():
        for entry in entries:
            source = entry.provenance["title_fa"]
            if source.seed not in keys:
                lines = _seed_lines(source.seed)
                keys[source.seed] = (search_key(" ".join(lines)), lines)
            whole, lines = keys[source.seed]
            if search_key(entry.title_fa) not in whole:
                cited = search_key(" ".join(lines[source.line_start - 3 : source.line_end + 2]))
                words = [re.sub(r"[^\w]", "", search_key(word)) for word in entry.title_fa.split()]
                missing = [word for word in words if word not in cited]
                assert not missing, f"{entry.slug}: {missing} not in {source.seed}:{source.line_start}"
            for name in ("service_id", "parent_id"):
                value = getattr(entry, name)
                if value:
                    assert value in ascii_digits(" ".join(lines)), f"{entry.slug}: {name} {value} not in its seed"


def test_the_exported_json_schema_is_current(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "tools" / "export_schema.py"), str(tmp_path / "s.json")], check=True)
    committed = ROOT / "kit" / "src" / "ostan_kit" / "catalogue" / "data" / "catalogue.schema.json"
    assert filecmp.cmp(tmp_path / "s.json", committed, shallow=False), "run tools/export_schema.py"
