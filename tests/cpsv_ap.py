"""The CPSV-AP 3.2.0 check an EU validator makes: pyshacl with the profile's official shapes and
RDFS inference, read with the shapes alone and with the profile's vocabulary as ontology graph
(the two find different things: the vocabulary makes every public organisation a foaf:Agent,
which then needs an identifier and a title). Files and origin: tests/data/cpsv-ap/README.md."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pyshacl import validate
from rdflib import RDF, SH, Graph, URIRef

DATA = Path(__file__).parent / "data" / "cpsv-ap"
READINGS = ["shapes only", "with the 3.2.0 vocabulary"]


@cache
def shapes() -> Graph:
    return Graph().parse(DATA / "cpsv-ap-SHACL.ttl")


@cache
def vocabulary() -> Graph:
    return Graph().parse(DATA / "cpsv-ap.ttl")


def as_graph(jsonld: bytes) -> Graph:
    return Graph().parse(data=jsonld, format="json-ld")


def violations(data: Graph, reading: str) -> list[str]:
    """Every validation result (of any severity), one readable line each; none means it conforms."""
    ontology = vocabulary() if reading == READINGS[1] else None
    _, report, _ = validate(data, shacl_graph=shapes(), ont_graph=ontology, inference="rdfs")
    return sorted(
        f"{report.value(result, SH.focusNode)} {report.value(result, SH.resultPath)}: "
        f"{report.value(result, SH.resultMessage)}"
        for result in report.subjects(RDF.type, SH.ValidationResult)
    )


def undefined_profile_terms(data: Graph) -> set[URIRef]:
    """Properties and classes in the profile's own namespaces (cpsv:, cv:) that its vocabulary
    does not define: a consumer would not know them."""
    owned = ("http://purl.org/vocab/cpsv#", "http://data.europa.eu/m8g/")
    used = set(data.predicates()) | set(data.objects(None, RDF.type))
    defined = set(vocabulary().subjects())
    # str(): rdflib's URIRef.startswith does not take a tuple of prefixes
    return {term for term in used if isinstance(term, URIRef) and str(term).startswith(owned) and term not in defined}
