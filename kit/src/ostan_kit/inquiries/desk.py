"""Answering inbound inquiries from the service's own cases, under the grants of its inquiry types.

The order of the checks is the point: who asks (an agency), what (a known type), whether it may
(a grant: deny by default, and a refusal learns nothing about the subject), then the request's
own fields, then the subject. Every answer and every refusal goes into the audit chain; an answer
is kept under the agency's request id, so asking again with the same id answers the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ostan.common.v1 import inquiry_pb2
from ostan_kit.audit.chain import append
from ostan_kit.cases.idempotency import Idempotency, request_hash
from ostan_kit.cases.projection import aware
from ostan_kit.inquiries.types import InquiryType
from ostan_kit.persistence.db import Database
from ostan_kit.persistence.models import CaseRow
from ostan_kit.processes.definitions import ProcessBook
from ostan_kit.runtime.errors import (
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ServiceError,
)
from ostan_kit.security.actors import Actor
from ostan_kit.text.persian import normalise

log = logging.getLogger(__name__)

MAX_TEXT = 500
MAX_REQUEST_ID = 100
MAX_HOLDINGS = 200


def utcnow() -> datetime:
    return datetime.now(UTC)


class InquiryDesk:
    def __init__(
        self,
        service: str,
        database: Database,
        book: ProcessBook,
        types: dict[str, InquiryType],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.service = service
        self.database = database
        self.book = book
        self.types = types
        self.clock = clock
        self.idempotency = Idempotency(database, clock)
        self.listing = inquiry_pb2.ListInquiryTypesResponse(
            service=service, types=[kind.message(service) for kind in types.values()]
        )

    async def ask(self, actor: Actor, request: inquiry_pb2.AskInquiryRequest) -> inquiry_pb2.AskInquiryResponse:
        try:
            return await self._ask(actor, request)
        except ServiceError as error:
            await self._refused(actor, request, error)
            raise

    async def _ask(self, actor: Actor, request: inquiry_pb2.AskInquiryRequest) -> inquiry_pb2.AskInquiryResponse:
        if actor.kind != "agency" or not actor.agency:
            raise PermissionDenied("only agencies ask inquiries", reason="NOT_AN_AGENCY")
        kind = self.types.get(request.type)
        if kind is None:
            raise NotFound(f"the {self.service} service answers no inquiry {request.type!r}", reason="UNKNOWN_INQUIRY")
        granted = kind.granted_fields(actor.agency)
        if not granted:
            raise PermissionDenied(
                f"the agency {actor.agency!r} is not granted the inquiry {kind.id!r}", reason="NOT_GRANTED"
            )
        purpose, officer, request_id = (normalise(value).strip() for value in (request.purpose, request.officer, request.request_id))
        violations = [
            FieldViolation(name, f"is required, at most {limit} characters")
            for name, value, limit in (
                ("purpose", purpose, MAX_TEXT),
                ("officer", officer, MAX_TEXT),
                ("request_id", request_id, MAX_REQUEST_ID),
            )
            if not value or len(value) > limit
        ]
        try:
            subject = kind.normalise_subject(request.subject)
        except ValueError as error:
            violations.insert(0, FieldViolation("subject", f"not a valid {kind.subject}: {error}"))
        if violations:
            raise InvalidArgument("the inquiry is invalid: " + ", ".join(v.field for v in violations), violations)
        key = f"inquiry:{actor.agency}:{request_id}"
        hashed = request_hash(kind.id, subject, purpose, officer)
        try:
            replay = await self.idempotency.replay(actor, key, "inquiry", hashed, inquiry_pb2.AskInquiryResponse, None)
        except InvalidArgument:
            raise InvalidArgument(
                "the request id was used for a different inquiry",
                [FieldViolation("request_id", "already used with another inquiry; use a new id")],
                reason="REQUEST_ID_REUSED",
            ) from None
        if replay is not None:
            replay.message.replayed = True
            return replay.message

        async def answer(session: AsyncSession) -> tuple[inquiry_pb2.AskInquiryResponse, str]:
            now = self.clock()
            values, code = await self._answer(session, kind, subject, granted)
            response = inquiry_pb2.AskInquiryResponse(
                type=kind.id, type_version=kind.version, service=self.service, subject=subject
            )
            response.answer.update(values)
            response.answered_at.FromDatetime(now)
            await append(
                session,
                at=now,
                kind="inquiry.answered",
                actor=actor,
                about=f"{kind.id}:{subject}",
                detail={
                    "type": kind.id,
                    "purpose": purpose,
                    "officer": officer,
                    "request_id": request_id,
                    "request_sha256": request.request_sha256,
                    "fields": granted,
                    "case": code,
                },
            )
            return response, code

        result = await self.idempotency.once(actor, key, "inquiry", hashed, inquiry_pb2.AskInquiryResponse, answer)
        if result.replayed:
            result.message.replayed = True
        return result.message

    async def _answer(
        self, session: AsyncSession, kind: InquiryType, subject: str, granted: list[str]
    ) -> tuple[dict[str, Any], str]:
        """The granted fields of the case the subject names (the latest, if several)."""
        column = CaseRow.code if kind.answered_from.match == "code" else CaseRow.applicant_id
        query = select(CaseRow).where(column == subject).order_by(CaseRow.created_at.desc(), CaseRow.id.desc())
        if kind.answered_from.processes:
            query = query.where(CaseRow.process.in_(kind.answered_from.processes))
        if kind.composite:
            cases = (await session.scalars(query.limit(MAX_HOLDINGS))).all()
            return {"holdings": [self._project(kind, case, granted) for case in cases]}, ""
        case = await session.scalar(query.limit(1))
        if case is None:
            raise NotFound(f"nothing is held for this {kind.subject}", reason="UNKNOWN_SUBJECT")
        return self._project(kind, case, granted), case.code

    def _project(self, kind: InquiryType, case: CaseRow, granted: list[str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in granted:
            source = kind.fields[name].source
            if source.startswith("data."):
                value = case.data.get(source[5:])
            elif source in ("created_at", "updated_at"):
                value = aware(getattr(case, source)).isoformat().replace("+00:00", "Z")
            elif source == "state_title":
                value = self.book.version(case.definition, case.process_version).states[case.state].title_fa or case.state
            elif source == "process_title":
                value = self.book.version(case.definition, case.process_version).title_fa
            elif source == "service":
                value = self.service
            else:
                value = getattr(case, source)
            values[name] = value
        return values

    async def _refused(self, actor: Actor, request: inquiry_pb2.AskInquiryRequest, error: ServiceError) -> None:
        """A refusal is recorded too; a record that cannot be written must not hide the refusal."""
        kind = {"NOT_GRANTED": "inquiry.refused", "NOT_AN_AGENCY": "inquiry.refused", "UNKNOWN_SUBJECT": "inquiry.not-found"}
        try:
            async with self.database.transaction() as session:
                await append(
                    session,
                    at=self.clock(),
                    kind=kind.get(error.reason, "inquiry.invalid"),
                    actor=actor,
                    about=f"{request.type[:80]}:{request.subject[:80]}",
                    detail={
                        "type": request.type[:100],
                        "request_id": request.request_id[:MAX_REQUEST_ID],
                        "purpose": request.purpose[:MAX_TEXT],
                        "officer": request.officer[:MAX_TEXT],
                        "request_sha256": request.request_sha256[:64],
                        "reason": error.reason or type(error).__name__,
                        "message": error.message,
                    },
                )
        except Exception:
            log.exception("could not record a refused inquiry in the audit log")
        log.warning(
            "inquiry refused",
            extra={"agency": actor.agency, "type": request.type, "reason": error.reason, "request_id": request.request_id},
        )
