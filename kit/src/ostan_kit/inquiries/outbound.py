"""Outbound inquiries: what a case step asks other agencies (an action's ``inquiries:``).

Each name an action gives is defined in the service's ``inquiries/outbound.yaml``: the agencies
asked and whom about. Entering the step stages one ``inquiry-requested`` event per agency in the
outbox, in the transition's transaction, with a row that waits for the answer. An answer comes
back as an ``InquiryAnswered`` event; it counts only if its signature verifies with a key of that
agency the service is configured with (``signatures.AgencyKeys``: deny by default); otherwise the
consumer parks it in the service's dead letters with the reason. ``record_answer`` keeps a verified
answer on the case with its signature, in the history and the audit chain; a late answer is kept
too (marked late), a second answer to the same request changes nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import uuid_utils
import yaml
from google.protobuf import json_format
from nats.js.api import StreamConfig
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ostan.common.v1 import events_pb2
from ostan_kit.audit.chain import append
from ostan_kit.cases.records import Change, record
from ostan_kit.inquiries.signatures import AgencyKeys, AnswerRefused
from ostan_kit.inquiries.types import SLUG, InquiryDefinitionError, agencies
from ostan_kit.messaging.consumer import Consumer, Event, Rejected
from ostan_kit.messaging.natsauth import (
    DEAD_LETTER_STREAM,
    INQUIRY_ANSWERS_ROOT,
    INQUIRY_ANSWERS_STREAM,
    inquiry_answers_durable,
    inquiry_answers_subject,
    service_dead_letter_subject,
)
from ostan_kit.messaging.outbox import add_event
from ostan_kit.persistence.db import Database
from ostan_kit.persistence.models import CaseInquiryRow, CaseRow
from ostan_kit.processes.definitions import Action, ProcessBook
from ostan_kit.security.actors import Actor

OUTBOUND_FILE = "outbound.yaml"
VERDICTS = frozenset({"positive", "negative", "refused"})
log = logging.getLogger(__name__)
ANSWERS_STREAM = INQUIRY_ANSWERS_STREAM
ANSWERS_SUBJECTS = f"{INQUIRY_ANSWERS_ROOT}.>"
# The CloudEvents type of an agency's answer.
ANSWER_TYPE = "ostan.inquiry-answered"


def reply_subject(service: str, agency: str) -> str:
    return inquiry_answers_subject(service, agency)


class OutboundInquiry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title_fa: str
    agencies: list[str] = Field(min_length=1)
    # applicant, code, or data.<field> (a national code or a list of them)
    subjects: str = Field(pattern=r"^(applicant|code|data\.[a-z_]+)$")
    source: str


def load_outbound(folder: Path | None, book: ProcessBook) -> dict[str, OutboundInquiry]:
    """The service's outbound inquiries; every name an action gives must be defined here."""
    path = folder / OUTBOUND_FILE if folder else None
    raw: dict[str, Any] = {}
    if path is not None and path.is_file():
        raw = (yaml.safe_load(path.read_text("utf-8")) or {}).get("outbound", {})
    found: dict[str, OutboundInquiry] = {}
    for name, body in raw.items():
        try:
            inquiry = OutboundInquiry.model_validate(body)
        except ValidationError as error:
            raise InquiryDefinitionError(f"{path}: outbound.{name}: {error.errors()[0]['msg']}") from error
        if not re.match(SLUG, name):
            raise InquiryDefinitionError(f"{path}: outbound.{name}: not a kebab-case name")
        unknown = sorted(set(inquiry.agencies) - set(agencies()))
        if unknown:
            raise InquiryDefinitionError(f"{path}: outbound.{name}: unknown agencies {unknown}")
        found[name] = inquiry
    for slug in book.own():
        definition = book.latest[slug]
        for action in definition.actions:
            for name in action.inquiries:
                if name not in found:
                    raise InquiryDefinitionError(
                        f"{definition.origin}: action {action.name} sends the inquiry {name!r}, "
                        f"which {path or 'inquiries/' + OUTBOUND_FILE} does not define"
                    )
    return found


def subjects_of(inquiry: OutboundInquiry, case: CaseRow) -> list[str]:
    if inquiry.subjects == "applicant":
        return [case.applicant_id] if case.applicant_id else []
    if inquiry.subjects == "code":
        return [case.code]
    value = case.data.get(inquiry.subjects[5:])
    return [str(item) for item in value] if isinstance(value, list) else ([str(value)] if value else [])


async def send_inquiries(
    session: AsyncSession,
    service: str,
    case: CaseRow,
    action: Action,
    outbound: dict[str, OutboundInquiry],
    actor: Actor,
    now: datetime,
) -> None:
    """Stage the step's inquiries, one per agency, in the caller's transaction."""
    for name in action.inquiries:
        inquiry = outbound[name]
        subjects = subjects_of(inquiry, case)
        for agency in inquiry.agencies:
            request_id = str(uuid_utils.uuid7())
            session.add(
                CaseInquiryRow(
                    case_id=case.id, inquiry=name, agency=agency, request_id=request_id, subjects=subjects,
                    state=case.state, sent_at=now, answered_at=None, verdict=None, answer=None, signature=None,
                    late=False,
                )
            )
            message = events_pb2.InquiryRequested(
                request_id=request_id, service=service, process=case.process, case_code=case.code, inquiry=name,
                title_fa=inquiry.title_fa, agency=agency, subjects=subjects,
                reply_subject=reply_subject(service, agency),
            )
            message.requested_at.FromDatetime(now)
            add_event(
                session, service=service, subject=f"ostan.{service}.{case.process}.inquiry-requested",
                ce_subject=case.code, message=message, time=now,
            )
            await append(
                session, at=now, kind="inquiry.sent", actor=actor, about=case.code,
                detail={"inquiry": name, "agency": agency, "request_id": request_id, "subjects": subjects},
            )


async def remind_pending(session: AsyncSession, service: str, case: CaseRow, now: datetime) -> list[str]:
    """At 80% of the step's SLA: an ``inquiry-reminded`` event (the same request again) to each
    agency that has not answered yet; the agencies reminded."""
    waiting = (
        await session.scalars(
            select(CaseInquiryRow).where(
                CaseInquiryRow.case_id == case.id, CaseInquiryRow.state == case.state, CaseInquiryRow.answered_at.is_(None)
            )
        )
    ).all()
    for row in waiting:
        message = events_pb2.InquiryRequested(
            request_id=row.request_id, service=service, process=case.process, case_code=case.code, inquiry=row.inquiry,
            agency=row.agency, subjects=row.subjects, reply_subject=reply_subject(service, row.agency),
        )
        message.requested_at.FromDatetime(now)
        add_event(
            session, service=service, subject=f"ostan.{service}.{case.process}.inquiry-reminded",
            ce_subject=case.code, message=message, time=now,
        )
    return sorted({row.agency for row in waiting})


async def inquiry_summary(session: AsyncSession, case: CaseRow) -> dict[str, int]:
    """What the guards ``inquiries-answered`` and ``inquiries-positive`` look at: the inquiries
    sent from the case's current state, how many still wait and how many were not positive."""
    rows = (
        await session.scalars(
            select(CaseInquiryRow).where(CaseInquiryRow.case_id == case.id, CaseInquiryRow.state == case.state)
        )
    ).all()
    return {
        "sent": len(rows),
        "pending": sum(row.answered_at is None for row in rows),
        "not_positive": sum(row.verdict not in (None, "positive") for row in rows),
    }


class AnswerIntake:
    """Keeps the agencies' answers on their cases, once their signatures verify with ``keys``
    (without keys, every agency's answer is refused)."""

    def __init__(
        self, service: str, database: Database, clock: Callable[[], datetime], keys: AgencyKeys | None = None
    ) -> None:
        self.service = service
        self.database = database
        self.clock = clock
        self.keys = keys if keys is not None else AgencyKeys()

    def verify(self, answer: events_pb2.InquiryAnswered) -> None:
        """AnswerRefused (and a log line) unless ``answer`` is signed by its agency as it says."""
        try:
            self.keys.verify(answer)
        except AnswerRefused as refused:
            log.warning(
                "inquiry answer refused: its signature does not make it the agency's",
                extra={"service": self.service, "agency": answer.agency, "request_id": answer.request_id,
                       "reason": str(refused)},
            )
            raise

    def validate(self, event: Event) -> events_pb2.InquiryAnswered:
        """The consumer's check of an event before it is applied: readable, addressed to this
        service on the agency's own subject, and signed by that agency; Rejected (parked) if not."""
        answer = answer_of(event)
        addressed = event.nats_subject.rsplit(".", 1)[-1] if event.nats_subject else answer.agency
        if addressed != answer.agency:
            raise Rejected(f"an answer of {answer.agency!r} on the subject of {addressed!r}")
        try:
            self.verify(answer)
        except AnswerRefused as refused:
            raise Rejected(f"answer refused: {refused}") from refused
        return answer

    async def record_answer(self, answer: events_pb2.InquiryAnswered) -> str:
        """``recorded``, ``late``, ``duplicate`` or ``unknown`` (no such request: dropped);
        AnswerRefused when the signature does not verify."""
        check_verdict(answer)
        self.verify(answer)
        async with self.database.transaction() as session:
            return await self.apply(session, answer)

    async def handle(self, session: AsyncSession, event: Event) -> None:
        """The answers consumer's handler: in its transaction, beside its inbox record."""
        answer = self.validate(event)
        outcome = await self.apply(session, answer)
        log.info("inquiry answer", extra={"request_id": answer.request_id, "outcome": outcome})

    async def apply(self, session: AsyncSession, answer: events_pb2.InquiryAnswered) -> str:
        query = select(CaseInquiryRow).where(CaseInquiryRow.request_id == answer.request_id)
        if not self.database.is_sqlite:
            query = query.with_for_update()
        row = await session.scalar(query)
        if row is None or row.agency != answer.agency:
            return "unknown"
        if row.answered_at is not None:
            return "duplicate"
        case = await session.get(CaseRow, row.case_id)
        assert case is not None
        now = self.clock()
        row.answered_at = now
        row.verdict = answer.verdict
        row.answer = json_format.MessageToDict(answer.answer)
        row.signature = answer.signature
        row.late = case.state != row.state or case.outcome is not None
        agency = Actor(f"{answer.agency}-system", "agency", answer.agency, frozenset({"inquirer"}), agency=answer.agency)
        detail = {
            "inquiry": row.inquiry, "agency": answer.agency, "request_id": row.request_id,
            "verdict": answer.verdict, "late": row.late, "signature": answer.signature,
        }
        await record(
            session, self.service, case,
            Change(agency, "agency", "inquiry-answer", "inquiry-answered", case.state, now, answer.verdict),
            detail,
        )
        return "late" if row.late else "recorded"


def check_verdict(answer: events_pb2.InquiryAnswered) -> None:
    if answer.verdict not in VERDICTS:
        raise ValueError(f"verdict {answer.verdict!r} is not one of {sorted(VERDICTS)}")


def answer_of(event: Event) -> events_pb2.InquiryAnswered:
    """The answer an event carries, or Rejected (the consumer parks it) saying what is wrong."""
    if not isinstance(event.data, dict):
        raise Rejected("an inquiry answer is a JSON object")
    try:
        answer = json_format.ParseDict(event.data, events_pb2.InquiryAnswered(), ignore_unknown_fields=True)
        check_verdict(answer)
    except (json_format.ParseError, ValueError) as error:
        raise Rejected(f"not an inquiry answer: {error}") from error
    if not answer.request_id or not answer.agency:
        raise Rejected("an inquiry answer names its request and agency")
    return answer


def answers_consumer(service: str, database: Database, intake: AnswerIntake, max_deliver: int = 5) -> Consumer:
    """The durable consumer of the answers addressed to ``service``: the inbox skips a redelivered
    answer, a malformed one is parked in the service's dead letters."""
    durable = inquiry_answers_durable(service)
    return Consumer(
        database=database,
        stream=ANSWERS_STREAM,
        durable=durable,
        filter_subjects=[reply_subject(service, "*")],
        handlers={ANSWER_TYPE: intake.handle},
        dead_letter_stream=DEAD_LETTER_STREAM,
        dead_letter_subject=service_dead_letter_subject(service, durable),
        validate=intake.validate,
        max_deliver=max_deliver,
    )


def answers_stream(duplicate_window: float) -> StreamConfig:
    return StreamConfig(name=ANSWERS_STREAM, subjects=[ANSWERS_SUBJECTS], duplicate_window=duplicate_window)


async def ensure_answers_stream(js: Any) -> None:
    """The stream the agencies' answers land on (whoever comes first makes it)."""
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(ANSWERS_STREAM)
    except NotFoundError:
        await js.add_stream(StreamConfig(name=ANSWERS_STREAM, subjects=[ANSWERS_SUBJECTS]))
