"""The foreign nationals office's own process definitions (services/foreign-nationals/processes),
each walked on the real engine and database: its happy path from its catalogue entry, its
correction, refusal and withdrawal, its SLA breach, and every guard it names."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from ostan.foreign_nationals.v1 import forms_pb2  # noqa: F401 — registers the forms
from ostan_kit.runtime.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from tests.unit.cases_support import breach, broken, citizen, event_subjects, staff

SERVICE = "foreign-nationals"
OFFICE = "foreign-nationals"
CLERK = staff("clerk-1", OFFICE, "clerk", name="کارشناس اتباع")
HEAD = staff("head-1", OFFICE, "head-of-office", name="رئیس دفتر")
CITIZEN = citizen("0084575948", "متقاضی")
PDF = b"%PDF-1.4 a scanned document"
JPEG = b"\xff\xd8\xff a photo"

# The clock starts Saturday 2026-04-18 09:00 Tehran = 1405/01/29, an ordinary working day.
IDENTITY = {
    "full_name": "محمد رضایی",
    "father_name": "علی",
    "nationality": "AFG",
    "document_type": "RESIDENCE_DOCUMENT_TYPE_AMAYESH_CARD",
    "document_number": "12345678",
    "document_expires_on": "1406/01/01",
    "mobile": "09121234567",
    "address": "قزوین، خیابان خیام",
}


@dataclass(frozen=True)
class Spec:
    slug: str
    entry: str
    form: dict[str, Any]
    documents: dict[str, tuple[str, bytes]]
    decide: str
    decision: dict[str, Any]
    decided_state: str
    refusal: dict[str, Any] = field(default_factory=lambda: {"reason": "مدارک ناقص است"})


SPECS = [
    Spec(
        "provincial-travel-sheet", "foreign-nationals-02",
        {**IDENTITY, "request_kind": "TRAVEL_SHEET_REQUEST_KIND_ISSUE", "destination": "تاکستان",
         "purpose": "کار فصلی", "requested_days": 90},
        {"residence-document-scan": ("application/pdf", PDF)},
        "issue", {"sheet_number": "۵۰۱", "valid_until": "1405/04/28", "valid_days": 90}, "issued",
    ),
    Spec(
        "exit-sheet", "foreign-nationals-15",
        {**IDENTITY, "destination_country": "AFG", "border_crossing": "دوغارون", "planned_exit_on": "1405/02/15"},
        {"residence-document-scan": ("application/pdf", PDF), "photo": ("image/jpeg", JPEG)},
        "issue", {"sheet_number": "601", "exit_by": "1405/02/30"}, "issued",
    ),
    Spec(
        "intercity-travel-sheet", "foreign-nationals-17",
        {**IDENTITY, "origin_city": "قزوین", "destination_city": "مشهد", "purpose": "زیارت",
         "travel_on": "1405/02/10", "return_on": "1405/02/20"},
        {"residence-document-scan": ("application/pdf", PDF)},
        "issue", {"sheet_number": "701", "valid_until": "1405/02/20"}, "issued",
    ),
    Spec(
        "marriage-permit", "foreign-nationals-04",
        {"husband_full_name": "رضا احمدی", "husband_national_code": "0084575948", "husband_mobile": "09121234567",
         "wife_full_name": "فاطمه حسینی", "wife_father_name": "حسن", "wife_nationality": "AFG",
         "wife_document_type": "RESIDENCE_DOCUMENT_TYPE_HOVIYAT", "wife_document_number": "87654321",
         "wife_document_expires_on": "1406/01/01", "address": "قزوین"},
        {"husband-id-card": ("image/jpeg", JPEG), "wife-residence-document": ("application/pdf", PDF)},
        "grant", {"permit_number": "801"}, "granted",
    ),
    Spec(
        "marriage-licence", "foreign-nationals-06",
        {"bride_full_name": "مریم کریمی", "bride_national_code": "0084575948", "bride_mobile": "09121234567",
         "groom_full_name": "احمد نوری", "groom_father_name": "محمود", "groom_nationality": "IRQ",
         "groom_document_type": "RESIDENCE_DOCUMENT_TYPE_PASSPORT_RESIDENCE", "groom_document_number": "44556677",
         "groom_document_expires_on": "1406/01/01", "address": "قزوین"},
        {"bride-id-card": ("image/jpeg", JPEG), "groom-residence-document": ("application/pdf", PDF)},
        "grant", {"licence_number": "901"}, "granted",
    ),
    Spec(
        "birth-registration", "foreign-nationals-22",
        {"child_full_name": "زهرا رضایی", "child_sex": "CHILD_SEX_FEMALE", "born_on": "1405/01/10",
         "place_of_birth": "قزوین، بیمارستان کوثر", "father_full_name": "محمد رضایی", "father_nationality": "AFG",
         "father_document_number": "12345678", "mother_full_name": "فاطمه حسینی", "mother_nationality": "AFG",
         "mother_document_number": "87654321", "mobile": "09121234567", "address": "قزوین"},
        {"birth-certificate": ("application/pdf", PDF), "parents-residence-documents": ("application/pdf", PDF)},
        "register", {"record_number": "1001"}, "registered",
    ),
    Spec(
        "housing-lease-permit", "foreign-nationals-33",
        {**{k: v for k, v in IDENTITY.items() if k != "address"}, "property_address": "قزوین، کوچه ۱۲",
         "landlord_full_name": "حسن محمدی", "landlord_national_code": "0067749828", "lease_months": 12},
        {"residence-document-scan": ("application/pdf", PDF)},
        "grant", {"permit_number": "1101", "valid_until": "1406/01/01"}, "granted",
    ),
    Spec(
        "sim-card-letter", "foreign-nationals-34",
        {**{k: v for k, v in IDENTITY.items() if k != "mobile"}, "operator_name": "همراه اول"},
        {"residence-document-scan": ("application/pdf", PDF)},
        "sign-letter", {"letter_number": "1201"}, "signed",
    ),
]
BY_SLUG = {spec.slug: spec for spec in SPECS}


async def act(engine, actor, case, action, key, comment="", **data):
    return (await engine.act(actor, case.code, action, case.version, comment, data, key)).message


async def start(engine, spec: Spec, key: str, actor=CITIZEN, **changes):
    return (await engine.start(actor, spec.entry, {**spec.form, **changes}, key)).message


async def attach_all(engine, spec: Spec, case, actor=CITIZEN):
    for kind, (content_type, content) in spec.documents.items():
        await engine.attach(actor, case.code, kind, kind, content_type, content, f"{case.code}-{kind}")
    return await engine.get(actor, case.code)


def test_every_definition_is_bound_to_its_booklet_entry(book):
    assert {entry: book.by_entry[entry].slug for entry in book.by_entry} == {
        "foreign-nationals-01": "residence-document-extension",
        **{spec.entry: spec.slug for spec in SPECS},
    }


@pytest.mark.parametrize("spec", SPECS, ids=[spec.slug for spec in SPECS])
async def test_from_the_catalogue_entry_to_delivery(engine, spec):
    case = await start(engine, spec, "s1")
    assert (case.process, case.definition, case.state, case.assigned_role) == (spec.slug, spec.slug, "submitted", "clerk")
    assert case.applicant_id == CITIZEN.subject
    case = await attach_all(engine, spec, case)
    case = await act(engine, CLERK, case, "start-review", "s2")
    case = await act(engine, HEAD, case, spec.decide, "s3", "موافقت شد", **spec.decision)
    assert (case.state, case.assigned_role) == (spec.decided_state, "clerk")
    case = await act(engine, CLERK, case, "deliver", "s4")
    assert (case.state, case.outcome, case.assigned_role) == ("delivered", "granted", "")
    assert [h.event for h in await engine.history(CLERK, case.code)] == [
        "submitted", *["document-attached"] * len(spec.documents), "start-review", spec.decide, "deliver",
    ]
    assert (await event_subjects(engine))[-1] == f"ostan.foreign-nationals.{spec.slug}.deliver"


@pytest.mark.parametrize("spec", SPECS, ids=[spec.slug for spec in SPECS])
async def test_correction_refusal_withdrawal_and_sla_breach(engine, clock, spec):
    case = await start(engine, spec, "c1")
    with pytest.raises(InvalidArgument) as caught:  # its documents come first
        await act(engine, CLERK, case, "start-review", "c2")
    assert {v.field for v in caught.value.violations} == {f"documents.{kind}" for kind in spec.documents}
    with pytest.raises(FailedPrecondition):  # no decision before the review
        await act(engine, HEAD, case, spec.decide, "c3", **spec.decision)
    case = await attach_all(engine, spec, case)
    case = await act(engine, CLERK, case, "start-review", "c4")
    with pytest.raises(PermissionDenied):  # the clerk does not decide
        await act(engine, CLERK, case, spec.decide, "c5", **spec.decision)
    with pytest.raises(InvalidArgument) as caught:  # a correction says what to correct
        await act(engine, CLERK, case, "request-correction", "c6")
    assert caught.value.violations[0].field == "comment"
    case = await act(engine, CLERK, case, "request-correction", "c7", "تصویر مدرک خوانا نیست")
    assert (case.state, case.assigned_role) == ("correction-requested", "applicant")
    case = await act(engine, CITIZEN, case, "resubmit", "c8")
    case = await act(engine, CLERK, case, "start-review", "c9")
    with pytest.raises(InvalidArgument) as caught:  # a refusal gives its reason
        await act(engine, HEAD, case, "refuse", "c10")
    assert caught.value.violations[0].field == "data.reason"
    case = await act(engine, HEAD, case, "refuse", "c11", **spec.refusal)
    assert (case.state, case.outcome) == ("refused", "refused")

    withdrawn = await act(engine, CITIZEN, await start(engine, spec, "w1"), "withdraw", "w2")
    assert withdrawn.outcome == "withdrawn"

    overdue = await start(engine, spec, "o1")
    # the submitted state's 2 working days are long gone
    overdue = await breach(engine, clock, overdue, 7, CLERK)
    assert f"ostan.foreign-nationals.{spec.slug}.sla-breached" in await event_subjects(engine)


async def test_the_travel_sheet_runs_90_days_at_most_and_an_extension_names_the_sheet(engine):
    spec = BY_SLUG["provincial-travel-sheet"]
    with pytest.raises(InvalidArgument) as caught:
        await start(engine, spec, "t1", requested_days=91)
    broken(caught, "at-most-90-days", "seed 001 line 576")
    assert caught.value.violations[0].field == "data.requested_days"
    extend = "TRAVEL_SHEET_REQUEST_KIND_EXTEND"
    with pytest.raises(InvalidArgument) as caught:
        await start(engine, spec, "t2", request_kind=extend)
    broken(caught, "previous-sheet-for-extension", "platform default")
    case = await start(engine, spec, "t3", request_kind=extend, previous_sheet_number="۴۰۰")
    assert case.data["previous_sheet_number"] == "400"
    case = await act(engine, CLERK, await attach_all(engine, spec, case), "start-review", "t4")
    with pytest.raises(InvalidArgument) as caught:
        await act(engine, HEAD, case, "issue", "t5", **{**spec.decision, "valid_days": 120})
    broken(caught, "at-most-90-days", "seed 001 line 576")


async def test_exit_and_intercity_sheets_refuse_dates_in_the_past(engine):
    exit_sheet, intercity = BY_SLUG["exit-sheet"], BY_SLUG["intercity-travel-sheet"]
    with pytest.raises(InvalidArgument) as caught:
        await start(engine, exit_sheet, "e1", planned_exit_on="1405/01/28")
    broken(caught, "exit-date-not-past", "platform default")
    case = await act(engine, CLERK, await attach_all(engine, exit_sheet, await start(engine, exit_sheet, "e2")),
                     "start-review", "e3")
    with pytest.raises(InvalidArgument) as caught:
        await act(engine, HEAD, case, "issue", "e4", sheet_number="1", exit_by="1405/01/01")
    broken(caught, "exit-by-not-past", "platform default")

    with pytest.raises(InvalidArgument) as caught:
        await start(engine, intercity, "i1", travel_on="1404/12/01")
    broken(caught, "travel-date-not-past", "platform default")
    case = await act(engine, CLERK, await attach_all(engine, intercity, await start(engine, intercity, "i2")),
                     "start-review", "i3")
    with pytest.raises(InvalidArgument) as caught:
        await act(engine, HEAD, case, "issue", "i4", sheet_number="1", valid_until="1405/01/01")
    broken(caught, "valid-until-not-past", "platform default")


@pytest.mark.parametrize(
    ("slug", "decide", "source"),
    [("housing-lease-permit", "grant", "seed 001 line 613"), ("sim-card-letter", "sign-letter", "seed 001 line 614")],
)
async def test_housing_and_sim_card_need_legal_residence(engine, clock, slug, decide, source):
    spec = BY_SLUG[slug]
    with pytest.raises(InvalidArgument) as caught:  # an expired residence document
        await start(engine, spec, "l1", document_expires_on="1405/01/28")
    broken(caught, "legal-residence", source)
    assert caught.value.violations[0].field == "data.document_expires_on"
    # Valid when asked (it expires 1405/02/01), expired by the time of the decision.
    case = await start(engine, spec, "l2", document_expires_on="1405/02/01")
    case = await act(engine, CLERK, await attach_all(engine, spec, case), "start-review", "l3")
    clock.now += timedelta(days=5)
    with pytest.raises(InvalidArgument) as caught:
        await act(engine, HEAD, case, decide, "l4", **spec.decision)
    broken(caught, "legal-residence", source)
    assert (await engine.get(CLERK, case.code)).state == "under-review"


async def test_forms_are_checked_field_by_field(engine):
    with pytest.raises(InvalidArgument) as caught:
        await start(engine, BY_SLUG["marriage-permit"], "f1", husband_national_code="0084575949")
    assert caught.value.violations[0].field == "data.husband_national_code"
    with pytest.raises(InvalidArgument) as caught:
        await start(engine, BY_SLUG["birth-registration"], "f2", child_sex="CHILD_SEX_UNSPECIFIED")
    assert caught.value.violations[0].field == "data.child_sex"
    with pytest.raises(InvalidArgument) as caught:
        await start(engine, BY_SLUG["housing-lease-permit"], "f3", landlord_national_code="", lease_months=None)
    assert {v.field for v in caught.value.violations} == {"data.landlord_national_code", "data.lease_months"}
