"""The CPSV-AP export of the real catalogue data against the profile's official SHACL shapes."""

from __future__ import annotations

from pathlib import Path

import orjson
import pycountry
import pytest
from rdflib import RDF, Graph, Literal, Namespace, URIRef

from ostan_gateway.cpsv import catalogue_jsonld, service_iri
from ostan_kit.catalogue.entries import load_catalogue, load_organisation
from ostan_kit.runtime.registry import SERVICES
from tests.conftest import service_package
from tests.cpsv_ap import READINGS, as_graph, undefined_profile_terms, violations

ROOT = Path(__file__).resolve().parents[2]
ENTRIES = [
    entry.model_dump(mode="json")
    for name in SERVICES
    for entry in load_catalogue(service_package(name) / "catalogue")
]
ORGANISATION = load_organisation()
DOCUMENT = catalogue_jsonld(ORGANISATION, ENTRIES)
GRAPH = as_graph(orjson.dumps(DOCUMENT))
CPSV = Namespace("http://purl.org/vocab/cpsv#")
CV = Namespace("http://data.europa.eu/m8g/")
DCT = Namespace("http://purl.org/dc/terms/")


@pytest.mark.parametrize("reading", READINGS)
def test_the_export_of_the_whole_catalogue_conforms_to_cpsv_ap(reading):
    assert violations(GRAPH, reading) == []


@pytest.mark.parametrize("reading", READINGS)
def test_the_check_finds_what_the_profile_requires(reading):
    """The shapes are loaded and reach the nodes: a few services stripped of what the profile
    requires fail, each for its own reason."""
    entries = [entry for entry in ENTRIES if entry["documents"] and entry["parent_id"]][:2]
    document = catalogue_jsonld(ORGANISATION, entries)
    graph = as_graph(orjson.dumps(document))
    evidence = next(graph.objects(URIRef(service_iri(entries[0]["slug"])), CPSV.hasInput))
    graph.remove((evidence, DCT.identifier, None))
    graph.remove((URIRef(service_iri(entries[1]["slug"])), DCT.description, None))
    graph.remove((None, DCT.spatial, None))
    found = "\n".join(violations(graph, reading))
    assert f"{evidence} {DCT.identifier}" in found
    assert f"{service_iri(entries[1]['slug'])} {DCT.description}" in found
    assert f"urn:ostan:governorate {DCT.spatial}" in found


def test_every_cpsv_and_cv_term_used_is_in_the_profiles_vocabulary():
    assert undefined_profile_terms(GRAPH) == set()
    stray = Graph().add((URIRef(service_iri(ENTRIES[0]["slug"])), CV.hasInput, URIRef("urn:ostan:x")))
    assert undefined_profile_terms(stray) == {CV.hasInput}  # the term the export once used
    assert any(GRAPH.triples((None, CPSV.hasInput, None))) and any(GRAPH.triples((None, CPSV.produces, None)))


def test_every_entry_and_every_booklet_parent_is_a_public_service():
    services = set(GRAPH.subjects(RDF.type, CPSV.PublicService))
    parents = {entry["parent_id"] for entry in ENTRIES if entry["parent_id"]}
    assert services == {URIRef(service_iri(e["slug"])) for e in ENTRIES} | {URIRef(service_iri(p)) for p in parents}


def test_a_sub_service_and_its_booklet_parent_name_each_other():
    child = next(entry for entry in ENTRIES if entry["parent_id"])
    child_iri, parent_iri = URIRef(service_iri(child["slug"])), URIRef(service_iri(child["parent_id"]))
    assert (child_iri, CV.relatedService, parent_iri) in GRAPH
    assert (parent_iri, DCT.hasPart, child_iri) in GRAPH
    assert (parent_iri, DCT.identifier, Literal(child["parent_id"])) in GRAPH


def test_the_offices_are_in_qazvin_province():
    province = ORGANISATION.governorate.province
    assert "Qazv" in pycountry.subdivisions.get(code=province.iso_3166_2).name
    location = URIRef(f"urn:ostan:location:{province.iso_3166_2}")
    offices = set(GRAPH.subjects(RDF.type, CV.PublicOrganisation))
    assert len(offices) == len(ORGANISATION.offices) + 1
    assert all((office, DCT.spatial, location) in GRAPH for office in offices)


def test_provenance_is_iris_of_seed_lines():
    sources = set(GRAPH.objects(None, DCT.source))
    assert sources and all(isinstance(source, URIRef) for source in sources)
    assert URIRef("urn:ostan:seed:001_4beb4eaa6130e669.txt#line=633,634") in sources


def test_a_law_date_printed_as_a_jalali_date_becomes_an_xsd_date():
    dates = {str(value) for value in GRAPH.objects(None, URIRef("http://data.europa.eu/eli/ontology#date_document"))}
    assert "2009-08-29" in dates  # 1388/6/7
    assert all(len(value) == 10 for value in dates)
