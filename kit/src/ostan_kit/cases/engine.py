"""The case engine: one engine runs every process definition of a service.

Every change to a case is one database transaction: the case row (guarded by its version), a
history row, an audit row, its SLA timers and its CloudEvent in the outbox commit together or
not at all. Every mutating call carries an idempotency key; a replay returns the first answer.
The engine resolves what a call asks for and puts together the parts that do the work: access
(who may), idempotency, records (history, audit, event), deadlines (SLA timers), projection
(how a case is shown) and documents.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, TypeVar

from google.protobuf.message import Message
from sqlalchemy import Select, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ostan.common.v1 import case_pb2, issued_pb2
from ostan_kit.audit.chain import append
from ostan_kit.cases.access import Access, stale
from ostan_kit.cases.children import ChildCases, summary
from ostan_kit.cases.deadlines import Deadlines, TimerFiring
from ostan_kit.cases.documents import LocalDocumentStore, check_document, require_documents, safe_filename
from ostan_kit.cases.idempotency import Answer, Idempotency, check_key, request_hash
from ostan_kit.cases.issued import Issuer, build_record, issued_message, status_of
from ostan_kit.cases.projection import (
    Attachments,
    attachments,
    case_by_code,
    case_message,
    case_view,
    case_with_attachments,
    document_message,
    history_entry,
)
from ostan_kit.cases.records import Change, advance, record
from ostan_kit.catalogue.entries import CatalogueEntry, load_organisation
from ostan_kit.inquiries.outbound import OutboundInquiry, inquiry_summary, send_inquiries
from ostan_kit.messaging.grants import EventGrants
from ostan_kit.persistence.db import Database, stage
from ostan_kit.persistence.models import (
    CaseCommentRow,
    CaseDocumentRow,
    CaseHistoryRow,
    CaseRow,
    CaseSequenceRow,
    IssuedDocumentRow,
)
from ostan_kit.processes.definitions import (
    INQUIRY_SUMMARY,
    SLUG,
    DefinitionError,
    ProcessBook,
    ProcessDefinition,
    check_guards,
)
from ostan_kit.runtime.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    instant_field,
)
from ostan_kit.runtime.registry import SERVICES
from ostan_kit.security.actors import APPLICANT, Actor
from ostan_kit.text.persian import jalali_year, normalise
from ostan_kit.text.tracking import make_code, normalise_code
from ostan_kit.text.workdays import WorkingCalendar

__all__ = ["Answer", "CaseEngine", "Resolved"]

T = TypeVar("T")

MAX_PAGE_SIZE = 200
# A page token is the offset of the next page; a longer one is no token this service gave.
PAGE_TOKEN = re.compile(r"[0-9]{1,12}")
NAME = re.compile(SLUG)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Resolved:
    """The definition a new case follows, the process slug it runs under and the office."""

    definition: ProcessDefinition
    process: str
    office: str


def _code(code: str) -> str:
    try:
        return normalise_code(code)
    except ValueError as error:
        raise InvalidArgument(str(error), [FieldViolation("code", str(error))]) from error


class CaseEngine:
    def __init__(
        self,
        service: str,
        database: Database,
        book: ProcessBook,
        catalogue: list[CatalogueEntry],
        documents: LocalDocumentStore,
        calendar: WorkingCalendar,
        clock: Callable[[], datetime] = utcnow,
        offices: set[str] | None = None,
        outbound: dict[str, OutboundInquiry] | None = None,
        grants: EventGrants | None = None,
        issuer: Issuer | None = None,
    ) -> None:
        self.service = service
        # What the steps ask other agencies (inquiries/outbound.yaml); without it none are sent.
        self.outbound = outbound or {}
        # What agencies receive of this service's events (none by default).
        self.grants = grants if grants is not None else EventGrants(service, ())
        self.grants.check_against(book)
        self.prefix = SERVICES[service].code_prefix
        self.database = database
        self.book = book
        self.catalogue = {entry.slug: entry for entry in catalogue}
        self.by_service_id = {entry.service_id: entry for entry in catalogue if entry.service_id}
        self.documents = documents
        self.calendar = calendar
        self.clock = clock
        self.offices = offices if offices is not None else {entry.office for entry in catalogue}
        self.access = Access(self.offices)
        self.issuer = issuer
        self.office_titles = {office.slug: office.title_fa for office in load_organisation().offices}
        self.idempotency = Idempotency(database, clock)
        self.deadlines = Deadlines(calendar)
        self.timers = TimerFiring(service, database, self.definition_of, clock, self.grants)
        self.children = ChildCases(service, self.prefix, database.url, book, self.deadlines, self._next_sequence)
        for definition in book.latest.values():
            unknown = [slug for slug in definition.catalogue if slug not in self.catalogue]
            if unknown:
                raise DefinitionError(f"{definition.origin}: catalogue entries {unknown} are not in this service's catalogue")
            if definition.office and definition.office not in self.offices:
                raise DefinitionError(f"{definition.origin}: office {definition.office!r} is not one of this service's")

    # -- what runs how -------------------------------------------------------------------
    def runs_as(self, entry: CatalogueEntry) -> tuple[str, str]:
        """("own" | "generic" | "record", process slug) for a catalogue entry."""
        if entry.slug in self.book.by_entry:
            return "own", self.book.by_entry[entry.slug].slug
        if entry.has_clients:
            return "generic", entry.slug
        return "record", ""

    def why_record(self, entry: CatalogueEntry) -> str:
        """Why an entry that runs as a record does not run as a case ("" for one that runs)."""
        if self.runs_as(entry)[0] != "record":
            return ""
        if not entry.steps:
            return "the source prints no steps for it: there is no process to run, only its description"
        return (
            "its steps are printed but no process definition of its own runs them yet, and it has no "
            "external clients to run as a generic request"
        )

    def resolve(self, process: str) -> Resolved:
        name = process.strip()
        if name in self.book.latest and name != self.book.generic.slug:
            definition = self.book.latest[name]
            entry = self.catalogue.get(definition.catalogue[0]) if definition.catalogue else None
            return Resolved(definition, definition.slug, entry.office if entry else definition.office)
        entry = self.catalogue.get(name) or self.by_service_id.get(name)
        if entry is not None:
            runs_as, slug = self.runs_as(entry)
            if runs_as == "own":
                return Resolved(self.book.latest[slug], slug, entry.office)
            if runs_as == "generic":
                return Resolved(self.book.generic, entry.slug, entry.office)
            raise InvalidArgument(
                f"{entry.slug} is described in the catalogue but not run as a case (it has no external clients)",
                [FieldViolation("process", "this catalogue entry is a record only")],
            )
        known = ", ".join(self.book.own()) or "none"
        raise InvalidArgument(
            f"the {self.service} service runs no process {process!r}",
            [FieldViolation("process", f"unknown process; own processes: {known}; or a catalogue entry")],
        )

    def definition_of(self, case: CaseRow) -> ProcessDefinition:
        return self.book.version(case.definition, case.process_version)

    # -- reading -------------------------------------------------------------------------
    async def _load(self, session: AsyncSession, actor: Actor, code: str, *, lock: bool = False) -> CaseRow:
        code = _code(code)
        # SQLite's writer lock already holds the whole transaction.
        return self._seen(actor, code, await case_by_code(session, code, lock=lock and not self.database.is_sqlite))

    def _seen(self, actor: Actor, code: str, case: Any) -> Any:
        """``case`` if ``actor`` may see it; NotFound otherwise."""
        if case is None or not self.access.may_see(actor, case):
            # A case the caller may not see is as good as absent: its existence is not told.
            raise NotFound(f"no case {code} in the {self.service} service")
        return case

    async def view(self, session: AsyncSession, case: CaseRow, *, full: bool = True) -> case_pb2.Case:
        return await case_view(session, self.service, case, full=full)

    async def get(self, actor: Actor, code: str) -> case_pb2.Case:
        async def read(session: AsyncSession) -> case_pb2.Case:
            normalised = _code(code)
            case, shown = await case_with_attachments(session, normalised)
            view = case_message(self.service, self._seen(actor, normalised, case), shown)
            await self._read_by(session, actor, view.code, "case")
            return view

        return await self._read(actor, read)

    async def history(self, actor: Actor, code: str) -> list[case_pb2.HistoryEntry]:
        async def read(session: AsyncSession) -> list[case_pb2.HistoryEntry]:
            case = await self._load(session, actor, code)
            rows = await session.scalars(
                select(CaseHistoryRow).where(CaseHistoryRow.case_id == case.id).order_by(CaseHistoryRow.id)
            )
            entries = [history_entry(row) for row in rows]
            await self._read_by(session, actor, case.code, "history")
            return entries

        return await self._read(actor, read)

    async def _read(self, actor: Actor, read: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """A read of a case; a staff member's leaves its audit record (``Database.run_recorded``)."""
        if actor.kind == "staff":
            return await self.database.run_recorded(read)
        return await self.database.run(read, write=False)

    async def _read_by(self, session: AsyncSession, actor: Actor, code: str, what: str) -> None:
        """Staff reads of a case go into the audit chain (an applicant reading their own does not)."""
        if actor.kind == "staff":
            await append(session, at=self.clock(), kind="case.read", actor=actor, about=code, detail={"read": what})

    async def document(self, actor: Actor, code: str, sha256: str) -> tuple[case_pb2.CaseDocument, bytes]:
        """One of the case's documents and its content, for whoever may see the case."""
        async with self.database.session() as session:
            case = await self._load(session, actor, code)
            row = await session.scalar(
                select(CaseDocumentRow)
                .where(CaseDocumentRow.case_id == case.id, CaseDocumentRow.sha256 == sha256.strip().lower())
                .order_by(CaseDocumentRow.id.desc())
                .limit(1)
            )
        if row is None:
            raise NotFound(f"case {case.code} has no document {sha256!r}")
        return document_message(row), self.documents.get(row.sha256)

    async def allowed_actions(self, actor: Actor, code: str) -> list[case_pb2.AllowedAction]:
        async with self.database.session() as session:
            case = await self._load(session, actor, code)
        definition = self.definition_of(case)
        return [
            case_pb2.AllowedAction(
                name=action.name,
                title_fa=action.title_fa,
                to_state=action.to,
                requires_documents=action.requires_documents,
                requires_comment=action.requires_comment,
                fields=list(action.fields),
            )
            for action in definition.actions_from(case.state)
            if self.access.action_role(actor, case, definition, action)
        ]

    async def list(self, actor: Actor, request: case_pb2.ListCasesRequest) -> tuple[list[case_pb2.Case], str]:
        size = request.page_size or 50
        if not 0 < size <= MAX_PAGE_SIZE:
            raise InvalidArgument("bad page size", [FieldViolation("page_size", f"1 to {MAX_PAGE_SIZE}")])
        if request.page_token and not PAGE_TOKEN.fullmatch(request.page_token):
            raise InvalidArgument("bad page token", [FieldViolation("page_token", "not a token this service gave; start again")])
        # A role, state or process is a name of a definition; anything else (a NUL byte, say,
        # which PostgreSQL refuses in text) is the caller's mistake, not a query to send.
        for name, value in (("role", request.role), ("state", request.state), ("process", request.process)):
            if value and not NAME.fullmatch(value):
                raise InvalidArgument(f"bad {name}", [FieldViolation(name, "lowercase letters, digits and single hyphens")])
        offset = int(request.page_token or 0)
        query: Select = select(CaseRow)
        if actor.kind == "citizen":
            query = query.where(CaseRow.applicant_id == actor.subject)
        elif actor.kind == "staff" and actor.office in self.offices:
            query = query.where(CaseRow.office == actor.office)
        else:
            raise PermissionDenied("only the office's staff and applicants see its cases")
        if request.role:
            if actor.kind == "staff" and request.role not in actor.roles:
                raise PermissionDenied(f"the caller does not hold the role {request.role!r}")
            query = query.where(CaseRow.assigned_role == request.role, CaseRow.outcome.is_(None))
        for column, value in (
            (CaseRow.state, request.state),
            (CaseRow.process, request.process),
            (CaseRow.applicant_id, normalise(request.applicant)),
        ):
            if value:
                query = query.where(column == value)
        if request.code:
            query = query.where(CaseRow.code.startswith(normalise(request.code).upper(), autoescape=True))
        if (created_from := instant_field(request, "created_from")) is not None:
            query = query.where(CaseRow.created_at >= created_from)
        if (created_to := instant_field(request, "created_to")) is not None:
            query = query.where(CaseRow.created_at < created_to)
        # The inbox order: the nearest deadline first, cases without one after, oldest first.
        query = query.order_by(
            CaseRow.state_due_at.is_(None), CaseRow.state_due_at, CaseRow.created_at, CaseRow.id
        )
        async with self.database.session() as session:
            rows = (await session.scalars(query.offset(offset).limit(size + 1))).all()
            views = [await self.view(session, row, full=False) for row in rows[:size]]
        return views, (str(offset + size) if len(rows) > size else "")

    # -- changing ------------------------------------------------------------------------
    async def start(self, actor: Actor, process: str, data: dict[str, Any], key: str) -> Answer:
        check_key(key)
        resolved = self.resolve(process)
        definition = resolved.definition
        role = self.access.acting_role(actor, None, definition.start.roles)
        if role is None or (actor.kind == "staff" and resolved.office and actor.office != resolved.office):
            raise PermissionDenied(
                f"starting {resolved.process} takes one of the roles {definition.start.roles}"
                + (f" in the office {resolved.office}" if resolved.office else "")
            )
        stored = definition.validate_form(data)
        now = self.clock()
        check_guards(definition.start.guards, stored, now)

        async def change(session: AsyncSession) -> tuple[Message, str]:
            year = jalali_year(now)
            code = make_code(self.prefix, year, await self._next_sequence(session, year))
            applicant_id, applicant_name = self._applicant(actor, definition, stored)
            case = SimpleNamespace(
                code=code,
                process=resolved.process,
                process_version=definition.version,
                definition=definition.slug,
                office=resolved.office,
                state=definition.start.state,
                data=stored,
                version=1,
                applicant_id=applicant_id,
                applicant_name=applicant_name,
                process_due_at=self.deadlines.due(now, definition.sla_days, definition.sla_working_days),
                created_at=now,
                updated_at=now,
                **self.deadlines.entering(definition, definition.start.state, now, 1, stored),
            )
            case.id = await session.scalar(insert(CaseRow.__table__).values(**vars(case)).returning(CaseRow.id))
            self.deadlines.state_timers(session, case, definition, now)
            self.deadlines.start_process(session, case, definition, now)
            await record(session, self.service, case, Change(actor, role, "start", definition.start.event, "", now), stored, self.grants)
            # A new case has no documents or comments yet: nothing to read back.
            return case_message(self.service, case, Attachments()), code

        # Who may start it was checked above, for a first call and a replay alike.
        return await self.idempotency.once(
            actor, key, "start", request_hash(resolved.process, data), case_pb2.Case, change
        )

    @staticmethod
    def _applicant(actor: Actor, definition: ProcessDefinition, form: dict[str, Any]) -> tuple[str, str]:
        """A citizen applies for themselves; staff apply for whom the form names."""
        if actor.kind == "citizen":
            return actor.subject, actor.name or form.get("full_name", "")
        fields = definition.applicant
        identity = form.get(fields.id) if fields else form.get("national_code") or form.get("document_number")
        name = form.get(fields.name or "full_name") if fields else form.get("full_name")
        return str(identity or ""), str(name or "")

    @staticmethod
    async def _next_sequence(session: AsyncSession, year: int) -> int:
        """The year's next sequence number; the row lock serialises concurrent starts."""
        taken = await session.scalar(
            update(CaseSequenceRow)
            .where(CaseSequenceRow.year == year)
            .values(next_value=CaseSequenceRow.next_value + 1)
            .returning(CaseSequenceRow.next_value - 1)
        )
        if taken is not None:
            return taken
        await session.execute(insert(CaseSequenceRow).values(year=year, next_value=2))
        return 1

    async def act(
        self,
        actor: Actor,
        code: str,
        action_name: str,
        expected_version: int,
        comment: str,
        data: dict[str, Any],
        key: str,
    ) -> Answer:
        check_key(key)
        hashed = request_hash(code, action_name, expected_version, comment, data)

        async def change(session: AsyncSession) -> tuple[Message, str]:
            case = await self._load(session, actor, code, lock=True)
            definition = self.definition_of(case)
            action = self.access.allowed_action(actor, case, definition, action_name)
            fields = definition.validate_action_data(action, data)
            text = normalise(comment)
            if action.requires_comment and not text:
                raise InvalidArgument(
                    f"{action.name} needs a comment", [FieldViolation("comment", "is required for this action")]
                )
            now = self.clock()
            values = {**case.data, **fields}
            if any(guard.kind.startswith("inquiries-") for guard in action.guards):
                values[INQUIRY_SUMMARY] = await inquiry_summary(session, case)
            check_guards(action.guards, values, now)
            shown = await attachments(session, case.id)  # for the check and for the answer
            require_documents(shown.documents, action)
            if expected_version and expected_version != case.version:
                raise stale(case)
            from_state = case.state
            role = self.access.role(actor, case, definition, action)
            children = self.children.forms(case, action, {**case.data, **fields}, now) if action.opens else []
            carried = await self.children.open_of_earlier(session, case, definition) if action.carries_open else []
            # What the engine writes for the action: the children carried to this case, or where
            # each of its children stands.
            if action.carries_open:
                fields[action.carries_open] = [summary(row) for row in carried]
            if action.reports_children:
                fields[action.reports_children] = [summary(row) for row in await self.children.of(session, case)]
            # An action's fields (a decision, a date, a reason) join the case's record; the new
            # state's assignee and deadline are written in the same UPDATE.
            merged = {**case.data, **fields}
            await advance(
                session, case, now, state=action.to, data=merged,
                **self.deadlines.entering(definition, action.to, now, case.version + 1, merged),
            )
            self.deadlines.state_timers(session, case, definition, now)
            if definition.states[case.state].outcome == "granted" and definition.issues is not None:
                self._issue(session, case, definition, now)
            if text:
                said = dict(author_id=actor.subject, author_role=role, text=text, action=action.name)
                stage(session, CaseCommentRow.__table__, dict(case_id=case.id, at=now, **said))
                shown.comments.append(case_pb2.Comment(**said))
                shown.comments[-1].at.FromDatetime(now)
            change = Change(actor, role, action.name, action.event_name, from_state, now, text)
            await record(session, self.service, case, change, fields, self.grants)
            await self.children.carry(session, carried, case, change)
            if action.opens:
                await self.children.open(session, case, action, children, change)
            if action.inquiries and self.outbound:
                await send_inquiries(session, self.service, case, action, self.outbound, actor, now)
            return case_message(self.service, case, shown), case.code

        async def authorise(session: AsyncSession) -> None:
            """A replay's caller still sees the case and holds a role of the action."""
            case = await self._load(session, actor, code)
            action = self.definition_of(case).action(action_name)
            if action is None or self.access.acting_role(actor, case, action.roles) is None:
                raise PermissionDenied(f"{action_name!r} takes one of the roles {action.roles if action else []}")

        return await self.idempotency.once(actor, key, f"act:{code}", hashed, case_pb2.Case, change, authorise)

    async def attach(
        self,
        actor: Actor,
        code: str,
        kind: str,
        filename: str,
        content_type: str,
        content: bytes,
        key: str,
    ) -> Answer:
        key = check_key(key)
        sha256 = hashlib.sha256(content).hexdigest()
        hashed = request_hash(code, kind, filename, content_type, sha256)
        operation = f"attach:{code}"

        async def change(session: AsyncSession) -> tuple[Message, str]:
            case = await self._load(session, actor, code, lock=True)
            check_document(self.definition_of(case), case.process, kind, content_type, content)
            if case.outcome is not None:
                raise FailedPrecondition(f"the case is closed ({case.outcome})", reason="CASE_CLOSED")
            now = self.clock()
            self.documents.put(content)
            shown = await attachments(session, case.id)
            document = dict(
                kind=kind,
                filename=normalise(safe_filename(filename, kind)),
                content_type=content_type,
                size=len(content),
                sha256=sha256,
                attached_by=actor.subject,
            )
            stage(session, CaseDocumentRow.__table__, dict(case_id=case.id, attached_at=now, **document))
            shown.documents.append(case_pb2.CaseDocument(**document))
            shown.documents[-1].attached_at.FromDatetime(now)
            await advance(session, case, now)
            role = self.access.acting_role(actor, case, [APPLICANT, *actor.roles]) or ""
            detail = {"kind": kind, "sha256": sha256, "size": len(content), "content_type": content_type}
            await record(session, self.service, case, Change(actor, role, "attach", "document-attached", case.state, now), detail, self.grants)
            view = case_message(self.service, case, shown)
            return case_pb2.AttachDocumentResponse(case=view, document=view.documents[-1]), case.code

        async def authorise(session: AsyncSession) -> None:
            await self._load(session, actor, code)  # a replay too needs a caller who sees the case

        return await self.idempotency.once(
            actor, key, operation, hashed, case_pb2.AttachDocumentResponse, change, authorise
        )

    # -- what granted cases issue ------------------------------------------------------
    def _issue(self, session: AsyncSession, case: CaseRow, definition: ProcessDefinition, now: datetime) -> None:
        """The issued document's record, signed, in the transaction that grants the case."""
        if self.issuer is None:
            raise FailedPrecondition(
                f"{definition.slug} issues a {definition.issues.kind}, but this service has no issuing key",
                reason="NO_ISSUING_KEY",
            )
        record = build_record(self.service, case, definition, self.office_titles.get(case.office, case.office), now)
        stage(
            session,
            IssuedDocumentRow.__table__,
            dict(
                case_id=case.id,
                code=case.code,
                record=record,
                key_id=self.issuer.key_id,
                signature=self.issuer.sign(record),
                issued_at=now,
                revoked_at=None,
                revoked_by="",
                revoked_reason="",
            ),
        )

    async def _issued_row(self, session: AsyncSession, case: CaseRow) -> IssuedDocumentRow:
        row = await session.scalar(select(IssuedDocumentRow).where(IssuedDocumentRow.case_id == case.id))
        if row is None:
            raise NotFound(f"case {case.code} has issued nothing")
        return row

    async def issued(self, actor: Actor, code: str) -> issued_pb2.GetIssuedResponse:
        """What the case issued, for whoever may see the case."""
        async def read(session: AsyncSession) -> IssuedDocumentRow:
            return await self._issued_row(session, await self._load(session, actor, code))

        row = await self.database.run(read, write=False)
        return issued_pb2.GetIssuedResponse(
            document=issued_message(row), status=status_of(row, self.issuer, self.clock())
        )

    async def verify(self, code: str) -> issued_pb2.VerifyResponse:
        """Public: whether the document with this code is the service's and still in force."""
        try:
            code = normalise_code(code)
        except ValueError as error:
            raise InvalidArgument(str(error), [FieldViolation("code", str(error))]) from error
        async def read(session: AsyncSession) -> IssuedDocumentRow | None:
            return await session.scalar(select(IssuedDocumentRow).where(IssuedDocumentRow.code == code))

        row = await self.database.run(read, write=False)
        if row is None:
            raise NotFound(f"the {self.service} service issued nothing with the code {code}")
        return issued_pb2.VerifyResponse(document=issued_message(row), status=status_of(row, self.issuer, self.clock()))

    async def revoke(self, actor: Actor, code: str, reason: str, key: str) -> Answer:
        """Revoke what the case issued: staff of the definition's revoking roles, with a reason;
        recorded in the case's history and audit, and published, like any change."""
        check_key(key)
        text = normalise(reason)
        hashed = request_hash(code, text)

        async def change(session: AsyncSession) -> tuple[Message, str]:
            case = await self._load(session, actor, code, lock=True)
            definition = self.definition_of(case)
            row = await self._issued_row(session, case)
            issues = definition.issues
            role = self.access.acting_role(actor, case, issues.revoke_roles if issues else [])
            if actor.kind != "staff" or role is None:
                raise PermissionDenied(f"revoking takes one of the roles {issues.revoke_roles if issues else []}")
            if not text:
                raise InvalidArgument("revoking needs a reason", [FieldViolation("reason", "is required")])
            if row.revoked_at is not None:
                raise FailedPrecondition(f"{case.code} was revoked already", reason="ALREADY_REVOKED")
            now = self.clock()
            row.revoked_at, row.revoked_by, row.revoked_reason = now, actor.subject, text
            await advance(session, case, now)
            await record(
                session, self.service, case,
                Change(actor, role, "revoke-issued", "issued-revoked", case.state, now, text), {"reason": text},
                self.grants,
            )
            await session.flush()
            return issued_pb2.RevokeIssuedResponse(
                document=issued_message(row), status=status_of(row, self.issuer, now)
            ), case.code

        async def authorise(session: AsyncSession) -> None:
            """A replay's caller still sees the case and may revoke."""
            case = await self._load(session, actor, code)
            issues = self.definition_of(case).issues
            roles = issues.revoke_roles if issues else []
            if actor.kind != "staff" or self.access.acting_role(actor, case, roles) is None:
                raise PermissionDenied(f"revoking takes one of the roles {roles}")

        return await self.idempotency.once(
            actor, key, f"revoke:{code}", hashed, issued_pb2.RevokeIssuedResponse, change, authorise
        )

    # -- timers --------------------------------------------------------------------------
    async def fire_due_timers(self, limit: int = 100) -> int:
        """Fire the SLA timers that are due (see ``deadlines.TimerFiring``)."""
        return await self.timers.fire_due(limit)
