"""Inquiry types as data, and the desk that answers them from a service's cases: deny by default,
only granted fields, refusals that tell nothing, replays by request id, every step audited."""

from __future__ import annotations

import importlib

import pytest
from sqlalchemy import select

from ostan.common.v1 import inquiry_pb2
from ostan_kit.audit.chain import verify
from ostan_kit.inquiries.desk import InquiryDesk
from ostan_kit.inquiries.types import InquiryDefinitionError, agencies, load_inquiry_types, read_inquiry_type
from ostan_kit.persistence.models import AuditRecordRow
from ostan_kit.runtime.errors import InvalidArgument, NotFound, PermissionDenied
from ostan_kit.runtime.registry import SERVICES
from ostan_kit.security.actors import Actor
from tests.forms import RESIDENCE_FORM
from tests.unit.cases_support import citizen, service_book, service_folder, staff

SERVICE = "foreign-nationals"
CLERK = staff("clerk-1", "foreign-nationals", "clerk")


def agency(slug: str) -> Actor:
    return Actor(f"{slug}-system", "agency", slug, frozenset({"inquirer"}), agency=slug)


def request(subject: str = "12345678", request_id: str = "r-1", **fields: str) -> inquiry_pb2.AskInquiryRequest:
    values = {"type": "residence-document-status", "purpose": "کنترل", "officer": "افسر", **fields}
    return inquiry_pb2.AskInquiryRequest(subject=subject, request_id=request_id, **values)


def types_of(service: str):
    importlib.import_module(f"ostan.{SERVICES[service].package.removeprefix('ostan_')}.v1.forms_pb2")
    return load_inquiry_types(service_folder(service) / "inquiries", service_book(service))


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_service_answers_at_least_one_type_of_its_own_traced_to_a_seed(service):
    own = {kind_id: kind for kind_id, kind in types_of(service).items() if not kind.composite}
    assert own, f"{service} answers no inquiry of its own"
    for kind in own.values():
        assert kind.legal_basis.seed and kind.legal_basis.lines and kind.grants
        assert set(kind.grants) <= set(agencies())


def test_type_ids_are_unique_across_the_services_but_the_shared_composite():
    seen: dict[str, str] = {}
    for service in sorted(SERVICES):
        for kind_id, kind in types_of(service).items():
            if kind.composite:
                continue
            assert kind_id not in seen, f"{kind_id} is answered by {seen[kind_id]} and {service}"
            seen[kind_id] = service


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ("grants:\n  nobody-we-know: [holder_name]\n", "unknown agency 'nobody-we-know'"),
        ("grants:\n  police: [no_such_field]\n", "no such fields ['no_such_field']"),
        ("answered_from:\n  processes: [marriage-permit-x]\n  match: applicant\n", "is not a process of the service"),
        ("subject: passport\n", "subject"),
    ],
)
def test_a_wrong_type_file_names_the_file_line_and_problem(tmp_path, change, problem):
    original = (service_folder(SERVICE) / "inquiries" / "residence-document-status.yaml").read_text("utf-8")
    key = change.split(":")[0]
    kept = []
    skipping = False
    for line in original.splitlines():
        if line.startswith(f"{key}:"):
            skipping = True
            continue
        if skipping and line.startswith("  "):
            continue
        skipping = False
        kept.append(line)
    path = tmp_path / "bad.yaml"
    path.write_text("\n".join(kept) + "\n" + change, "utf-8")
    with pytest.raises(InquiryDefinitionError) as raised:
        read_inquiry_type(path, service_book(SERVICE))
    assert str(raised.value).startswith(f"{path}:") and problem in str(raised.value)


def test_an_answer_from_a_data_field_that_no_process_has_is_refused(tmp_path):
    original = (service_folder(SERVICE) / "inquiries" / "residence-document-status.yaml").read_text("utf-8")
    path = tmp_path / "bad.yaml"
    path.write_text(original.replace("from: data.extended_until", "from: data.extended_till"), "utf-8")
    with pytest.raises(InquiryDefinitionError, match="'data.extended_till' is no field"):
        read_inquiry_type(path, service_book(SERVICE))


@pytest.fixture
def desk(engine) -> InquiryDesk:
    return InquiryDesk(SERVICE, engine.database, engine.book, types_of(SERVICE), clock=engine.clock)


async def audit_kinds(desk: InquiryDesk) -> list[str]:
    async with desk.database.session() as session:
        return list(await session.scalars(select(AuditRecordRow.kind).order_by(AuditRecordRow.sequence)))


async def test_an_agency_sees_only_its_granted_fields_and_a_replay_answers_the_same(engine, desk):
    await engine.start(CLERK, "residence-document-extension", RESIDENCE_FORM, "k-1")
    police = await desk.ask(agency("police"), request("۱۲۳۴۵۶۷۸"))
    assert dict(police.answer) == {
        "holder_name": "محمد رضایی",
        "nationality": "AFG",
        "document_expires_on": "1405/09/01",
        "extension_outcome": None,
        "extended_until": None,
    }
    assert (police.subject, police.service, police.replayed) == ("12345678", SERVICE, False)
    again = await desk.ask(agency("police"), request("12345678"))
    assert again.replayed and again.answer == police.answer and again.answered_at == police.answered_at
    with pytest.raises(InvalidArgument) as reused:
        await desk.ask(agency("police"), request("12345678", purpose="دیگر"))
    assert [v.field for v in reused.value.violations] == ["request_id"]
    judiciary = await desk.ask(agency("judiciary"), request(request_id="j-1"))
    assert "case_code" in judiciary.answer and "updated_at" in judiciary.answer
    assert await audit_kinds(desk) == ["case.transition", "inquiry.answered", "inquiry.invalid", "inquiry.answered"]
    assert (await verify(desk.database))[1] is None


async def test_not_granted_is_refused_before_the_subject_is_looked_at(engine, desk):
    await engine.start(CLERK, "residence-document-extension", RESIDENCE_FORM, "k-1")
    details = []
    for subject in ("12345678", "99999999", "x"):
        with pytest.raises(PermissionDenied) as refused:
            await desk.ask(agency("inspection-organisation"), request(subject, request_id=subject))
        details.append(refused.value.message)
    assert len(set(details)) == 1
    for who in (CLERK, citizen("0084575948")):
        with pytest.raises(PermissionDenied):
            await desk.ask(who, request())
    assert (await audit_kinds(desk))[1:] == ["inquiry.refused"] * 5


async def test_unknown_subjects_types_and_malformed_requests(engine, desk):
    with pytest.raises(NotFound):
        await desk.ask(agency("police"), request("87654321"))
    with pytest.raises(NotFound):
        await desk.ask(agency("police"), request(type="no-such-type"))
    with pytest.raises(InvalidArgument) as malformed:
        await desk.ask(agency("police"), request("12", purpose=" ", officer="", request_id=""))
    assert [v.field for v in malformed.value.violations] == ["subject", "purpose", "officer", "request_id"]
    assert await audit_kinds(desk) == ["inquiry.not-found", "inquiry.invalid", "inquiry.invalid"]


async def test_the_composite_lists_every_case_of_the_national_code(engine, desk):
    applicant = citizen("0084575948")
    await engine.start(applicant, "residence-document-extension", RESIDENCE_FORM, "k-1")
    await engine.start(applicant, "residence-document-extension", RESIDENCE_FORM, "k-2")
    answer = await desk.ask(
        agency("judiciary"), request("۰۰۸۴۵۷۵۹۴۸", type="holdings", request_id="h-1")
    )
    holdings = answer.answer["holdings"]
    assert len(holdings) == 2 and {h["service"] for h in holdings} == {SERVICE}
    none = await desk.ask(agency("judiciary"), request("0067749828", type="holdings", request_id="h-2"))
    assert list(none.answer["holdings"]) == []
    with pytest.raises(InvalidArgument):
        await desk.ask(agency("judiciary"), request("0084575949", type="holdings", request_id="h-3"))
