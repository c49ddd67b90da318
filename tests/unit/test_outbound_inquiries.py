"""Outbound inquiries of case steps: sent from the outbox in the transition's transaction, one per
agency; answers recorded on the case with their signature and in its history; a late answer kept
and marked, a second answer or one to no request changing nothing; every step in the audit chain."""

from __future__ import annotations

import importlib

import pytest
from google.protobuf import json_format
from sqlalchemy import select

from ostan.common.v1 import events_pb2
from ostan.social.v1 import forms_pb2  # noqa: F401 — registers the forms
from ostan_devstack.agency_keys import AgencyKeyring
from ostan_kit.audit.chain import verify
from ostan_kit.inquiries.outbound import ANSWER_TYPE, AnswerIntake, answer_of, answers_consumer, load_outbound
from ostan_kit.inquiries.signatures import AnswerRefused
from ostan_kit.inquiries.types import InquiryDefinitionError
from ostan_kit.messaging.consumer import Event, Rejected
from ostan_kit.persistence.models import AuditRecordRow, CaseInquiryRow, OutboxRow
from ostan_kit.runtime.registry import SERVICES
from tests.unit.cases_support import (
    TRUSTED_AGENCY_KEYS,
    answer_intake,
    breach,
    service_book,
    service_folder,
    signed_answer,
)
from tests.unit.test_processes_social import CITIZEN, DOSSIER, SECRETARIAT, act, attach, dossier_stage

SERVICE = "social"


async def inquiring(engine, key: str):
    case = await dossier_stage(engine, key)
    case = await act(engine, CITIZEN, await attach(engine, CITIZEN, case, *DOSSIER), "submit-dossier", f"{key}3")
    return await act(engine, SECRETARIAT, case, "send-inquiries", f"{key}5")


async def rows(engine) -> list[CaseInquiryRow]:
    async with engine.database.session() as session:
        return list(await session.scalars(select(CaseInquiryRow).order_by(CaseInquiryRow.id)))


def answer(row: CaseInquiryRow, verdict: str = "positive") -> events_pb2.InquiryAnswered:
    return signed_answer(row.request_id, row.agency, verdict, {"letter": "12"})


async def test_entering_the_step_sends_one_request_per_agency_in_the_same_transaction(engine):
    case = await inquiring(engine, "s")
    sent = await rows(engine)
    assert [row.agency for row in sent] == ["intelligence", "police", "judiciary", "irgc"]
    assert all(row.subjects == ["0084575948", "0067749828", "0013542419"] and row.state == "inquiring" for row in sent)
    async with engine.database.session() as session:
        events = list(await session.scalars(select(OutboxRow).where(OutboxRow.subject.like("%inquiry-requested"))))
        kinds = list(await session.scalars(select(AuditRecordRow.kind)))
    requested = [json_format.Parse(e.payload, events_pb2.InquiryRequested()) for e in events]
    assert {(r.case_code, r.inquiry) for r in requested} == {(case.code, "four-authorities-background-check")}
    assert {r.request_id for r in requested} == {row.request_id for row in sent}
    assert requested[0].reply_subject == f"ostan.inquiry-answers.social.{requested[0].agency}"
    assert kinds.count("inquiry.sent") == 4


async def test_answers_are_recorded_once_with_their_signature(engine):
    await inquiring(engine, "a")
    sent = await rows(engine)
    intake = answer_intake(engine)
    assert await intake.record_answer(answer(sent[0])) == "recorded"
    assert await intake.record_answer(answer(sent[0], "negative")) == "duplicate"
    other = signed_answer(sent[1].request_id, "irgc", "positive")
    assert await intake.record_answer(other) == "unknown"  # another agency's request
    unsigned = events_pb2.InquiryAnswered(request_id=sent[1].request_id, agency=sent[1].agency, verdict="negative")
    with pytest.raises(AnswerRefused):
        await intake.record_answer(unsigned)
    for row in sent[1:]:
        await intake.record_answer(answer(row))
    recorded = await rows(engine)
    assert [row.verdict for row in recorded] == ["positive"] * 4 and not any(row.late for row in recorded)
    assert recorded[0].signature == answer(sent[0]).signature and recorded[0].answer == {"letter": "12"}
    with pytest.raises(ValueError):
        await intake.record_answer(events_pb2.InquiryAnswered(request_id="x", agency="police", verdict="maybe"))
    assert (await verify(engine.database))[1] is None


async def test_an_answer_after_the_case_moved_on_is_recorded_as_late(engine):
    case = await inquiring(engine, "l")
    sent = await rows(engine)
    case = await act(engine, SECRETARIAT, case, "refuse-after-inquiries", "l8", reason="پرونده ناقص")
    intake = answer_intake(engine)
    assert await intake.record_answer(answer(sent[0])) == "late"
    history = await engine.history(SECRETARIAT, case.code)
    assert history[-1].event == "inquiry-answered" and history[-1].to_state == "refused"


def test_every_inquiry_an_action_names_is_defined(tmp_path):
    with pytest.raises(InquiryDefinitionError, match="four-authorities-background-check"):
        load_outbound(tmp_path, service_book(SERVICE))
    assert set(load_outbound(service_folder(SERVICE) / "inquiries", service_book(SERVICE))) == {
        "four-authorities-background-check", "companies-registration-office-notice"
    }


async def test_at_80_percent_of_the_step_the_silent_agencies_are_reminded_and_the_breach_escalates(engine, clock):
    case = await inquiring(engine, "r")
    sent = await rows(engine)
    intake = answer_intake(engine)
    for row in sent[:3]:
        await intake.record_answer(answer(row))
    await breach(engine, clock, case, 30, SECRETARIAT, role="supervisor")  # past the step's 15 working days
    async with engine.database.session() as session:
        reminded = [
            json_format.Parse(event.payload, events_pb2.InquiryRequested())
            for event in await session.scalars(select(OutboxRow).where(OutboxRow.subject.like("%inquiry-reminded")))
        ]
    assert [(r.agency, r.request_id) for r in reminded] == [(sent[3].agency, sent[3].request_id)]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_service_defines_each_inquiry_its_steps_send(service):
    importlib.import_module(f"ostan.{SERVICES[service].package.removeprefix('ostan_')}.v1.forms_pb2")
    load_outbound(service_folder(service) / "inquiries", service_book(service))


def _answer_event(data: object, agency: str = "police") -> Event:
    return Event(
        id="r-1-answer", type=ANSWER_TYPE, source=f"/agencies/{agency}", subject="", time="", data=data,
        attributes={}, nats_subject=f"ostan.inquiry-answers.social.{agency}", stream_sequence=1,
    )


@pytest.mark.parametrize(
    "data",
    [["not", "an", "object"], {"request_id": "r-1", "agency": "police", "verdict": "maybe"},
     {"agency": "police", "verdict": "positive"}, {"request_id": "r-1", "agency": "police", "verdict": 3}],
)
def test_an_answer_the_consumer_cannot_read_is_rejected_for_parking(data):
    with pytest.raises(Rejected):
        answer_of(_answer_event(data))


def test_the_answers_consumer_reads_only_its_own_service_answers():
    consumer = answers_consumer("social", None, AnswerIntake("social", None, lambda: None))  # type: ignore[arg-type]
    assert consumer.stream == "OSTAN_INQUIRY_ANSWERS" and consumer.durable == "inquiry-answers-social"
    assert consumer.filter_subjects == ["ostan.inquiry-answers.social.*"]
    assert consumer.dead_letter_subject == "ostan-dead.social.inquiry-answers-social"
    assert answer_of(_answer_event({"request_id": "r-1", "agency": "police", "verdict": "refused"})).verdict == "refused"
    with pytest.raises(Rejected, match="no keys"):  # unsigned, and the intake trusts no keys
        consumer.validate(_answer_event({"request_id": "r-1", "agency": "police", "verdict": "refused"}))


def test_the_answers_consumer_parks_an_answer_its_agency_did_not_sign():
    intake = AnswerIntake("social", None, lambda: None, TRUSTED_AGENCY_KEYS)  # type: ignore[arg-type]
    consumer = answers_consumer("social", None, intake)  # type: ignore[arg-type]
    genuine = json_format.MessageToDict(signed_answer("r-1", "police", "positive", {"letter": "7"}))
    assert consumer.validate(_answer_event(genuine)).verdict == "positive"
    forger = AgencyKeyring(None)
    forged = json_format.MessageToDict(signed_answer("r-1", "police", "positive", keyring=forger))
    tampered = {**genuine, "verdict": "negative"}
    for data, reason in [(forged, "is not one of agency .police."), (tampered, "signed verdict"),
                         ({**genuine, "signature": ""}, "not signed")]:
        with pytest.raises(Rejected, match=reason):
            consumer.validate(_answer_event(data))
    # The police's genuine answer on another agency's subject.
    with pytest.raises(Rejected, match="on the subject of 'irgc'"):
        consumer.validate(_answer_event(genuine, agency="irgc"))
    # A service with no keys refuses every agency (deny by default).
    bare = answers_consumer("social", None, AnswerIntake("social", None, lambda: None))  # type: ignore[arg-type]
    with pytest.raises(Rejected, match="no keys are configured for agency 'police'"):
        bare.validate(_answer_event(genuine))
