"""Idempotency keys belong to their caller: the same key from another caller is another request,
and a replay is authorised like a first call."""

from __future__ import annotations

import pytest

from ostan.foreign_nationals.v1 import forms_pb2  # noqa: F401 — registers the form
from ostan_kit.persistence.models import CaseHistoryRow, CaseRow, IdempotencyRow
from ostan_kit.runtime.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from tests.unit.cases_support import citizen, count_rows, staff

SERVICE = "foreign-nationals"
PROCESS = "residence-document-extension"
GENERIC = "foreign-nationals-32"
FORM = {
    "full_name": "محمد رضایی",
    "father_name": "علی",
    "nationality": "AFG",
    "document_type": "RESIDENCE_DOCUMENT_TYPE_HOVIYAT",
    "document_number": "12345678",
    "document_expires_on": "1405/09/01",
    "mobile": "09121234567",
    "address": "قزوین",
}
CLERK = staff("clerk-1", "foreign-nationals", "clerk")
OTHER_CLERK = staff("clerk-2", "foreign-nationals", "clerk")
MOVED_CLERK = staff("clerk-1", "social-cultural", "clerk")  # the same person, now in another office
CITIZEN_A = citizen("0084575948", "زهرا کریمی")
CITIZEN_B = citizen("0067749828", "دیگری")
PDF = b"%PDF-1.4 residence document"


def generic_form(national_code: str) -> dict:
    return {"full_name": "زهرا", "national_code": national_code, "mobile": "09121234567", "subject": "گواهی"}


@pytest.mark.parametrize("key", ["", "  ", "k" * 201, "key\x00", "\x00", "a\x07b", "a\x85b"])
async def test_a_key_empty_too_long_or_with_a_control_character_is_invalid_and_writes_nothing(engine, key):
    """A web form's key is a form field, which can hold a NUL byte; PostgreSQL refuses those in text."""
    with pytest.raises(InvalidArgument) as raised:
        await engine.start(CITIZEN_A, GENERIC, generic_form("0084575948"), key)
    assert [violation.field for violation in raised.value.violations] == ["idempotency_key"]
    assert await count_rows(engine, CaseRow) == 0


async def test_another_citizen_with_the_same_key_and_body_gets_a_case_of_their_own(engine):
    first = await engine.start(CITIZEN_A, GENERIC, generic_form("0084575948"), "shared-key")
    second = await engine.start(CITIZEN_B, GENERIC, generic_form("0084575948"), "shared-key")
    assert not second.replayed
    assert second.message.code != first.message.code
    assert second.message.applicant_id == "0067749828"
    assert await count_rows(engine, CaseRow) == 2
    assert await count_rows(engine, IdempotencyRow) == 2
    # and each caller's replay is their own first answer
    again = await engine.start(CITIZEN_A, GENERIC, generic_form("0084575948"), "shared-key")
    assert again.replayed and again.message == first.message


async def test_another_officer_with_the_same_key_acts_anew_or_is_refused_but_never_replayed(engine):
    case = (await engine.start(CLERK, PROCESS, FORM, "start")).message
    await engine.attach(CLERK, case.code, "residence-document-scan", "s.pdf", "application/pdf", PDF, "scan")
    attached = await engine.attach(CLERK, case.code, "photo", "p.jpg", "image/jpeg", b"\xff\xd8\xff\xe0 photo", "ph")
    case = attached.message.case
    await engine.act(CLERK, case.code, "start-review", case.version, "", {}, "act-key")
    # Not the first officer's answer: their own request, on a case that has moved on since.
    with pytest.raises((Conflict, FailedPrecondition)):
        await engine.act(OTHER_CLERK, case.code, "start-review", case.version, "", {}, "act-key")
    assert await count_rows(engine, CaseHistoryRow, CaseHistoryRow.event == "start-review") == 1


async def test_a_replay_is_authorised_like_a_first_call(engine):
    case = (await engine.start(CLERK, PROCESS, FORM, "start")).message
    # The clerk moved to another office: the replay of their start must not hand them the case.
    with pytest.raises(PermissionDenied):
        await engine.start(MOVED_CLERK, PROCESS, FORM, "start")
    await engine.attach(CLERK, case.code, "residence-document-scan", "s.pdf", "application/pdf", PDF, "scan")
    with pytest.raises(NotFound):
        await engine.attach(MOVED_CLERK, case.code, "residence-document-scan", "s.pdf", "application/pdf", PDF, "scan")
    attached = await engine.attach(CLERK, case.code, "photo", "p.jpg", "image/jpeg", b"\xff\xd8\xff\xe0 photo", "ph")
    case = attached.message.case
    acted = await engine.act(CLERK, case.code, "start-review", case.version, "", {}, "act-key")
    assert not acted.replayed
    with pytest.raises(NotFound):
        await engine.act(MOVED_CLERK, case.code, "start-review", case.version, "", {}, "act-key")
    assert (await engine.act(CLERK, case.code, "start-review", case.version, "", {}, "act-key")).replayed
