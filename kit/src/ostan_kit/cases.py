"""The case engine: one engine runs every process definition of a service.

Every change to a case is one database transaction: the case row (guarded by its version), a
history row, an audit row, its SLA timers and its CloudEvent in the outbox commit together or
not at all. Every mutating call carries an idempotency key; a replay returns the first answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.message import Message
from sqlalchemy import Select, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from ostan.common.v1 import case_pb2, events_pb2
from ostan_kit.actors import APPLICANT, SYSTEM, Actor
from ostan_kit.catalogue import CatalogueEntry
from ostan_kit.db import Database, is_sqlite
from ostan_kit.documents import LocalDocumentStore
from ostan_kit.errors import (
    Conflict,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
)
from ostan_kit.models import (
    CaseAuditRow,
    CaseCommentRow,
    CaseDocumentRow,
    CaseHistoryRow,
    CaseRow,
    CaseSequenceRow,
    CaseTimerRow,
    IdempotencyRow,
)
from ostan_kit.outbox import add_event
from ostan_kit.persian import jalali_year, normalise, to_jalali
from ostan_kit.processes import Action, DefinitionError, ProcessBook, ProcessDefinition, check_guards
from ostan_kit.registry import SERVICES
from ostan_kit.tracking import make_code, normalise_code
from ostan_kit.workdays import WorkingCalendar

MAX_KEY_LENGTH = 200
MAX_PAGE_SIZE = 200
WARNING_SHARE = 0.8


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(instant: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; every instant here is UTC."""
    if instant is None or instant.tzinfo is not None:
        return instant
    return instant.replace(tzinfo=UTC)


def _hash(*parts: Any) -> str:
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Answer:
    """What a mutating call answers, and whether it is the replay of a first answer."""

    message: Message
    replayed: bool


@dataclass(frozen=True)
class Resolved:
    """The definition a new case follows, the process slug it runs under and the office."""

    definition: ProcessDefinition
    process: str
    office: str


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
    ) -> None:
        self.service = service
        self.prefix = SERVICES[service].code_prefix
        self.database = database
        self.book = book
        self.catalogue = {entry.slug: entry for entry in catalogue}
        self.by_service_id = {entry.service_id: entry for entry in catalogue if entry.service_id}
        self.documents = documents
        self.calendar = calendar
        self.clock = clock
        self.offices = offices if offices is not None else {entry.office for entry in catalogue}
        for definition in book.latest.values():
            unknown = [slug for slug in definition.catalogue if slug not in self.catalogue]
            if unknown:
                raise DefinitionError(f"{definition.origin}: catalogue entries {unknown} are not in this service's catalogue")

    # -- what runs how -------------------------------------------------------------------
    def runs_as(self, entry: CatalogueEntry) -> tuple[str, str]:
        """("own" | "generic" | "record", process slug) for a catalogue entry."""
        if entry.slug in self.book.by_entry:
            return "own", self.book.by_entry[entry.slug].slug
        if entry.has_clients:
            return "generic", entry.slug
        return "record", ""

    def resolve(self, process: str) -> Resolved:
        name = process.strip()
        if name in self.book.latest and name != self.book.generic.slug:
            definition = self.book.latest[name]
            entry = self.catalogue.get(definition.catalogue[0]) if definition.catalogue else None
            return Resolved(definition, definition.slug, entry.office if entry else "")
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

    # -- who may do what -----------------------------------------------------------------
    def _acting_role(self, actor: Actor, case: CaseRow | None, allowed: list[str]) -> str | None:
        if actor.kind == "citizen":
            if APPLICANT in allowed and (case is None or case.applicant_id == actor.subject):
                return APPLICANT
            return None
        if actor.kind == "staff" and actor.office in self.offices and (case is None or case.office == actor.office):
            roles = sorted(set(allowed) & actor.roles - {APPLICANT})
            return roles[0] if roles else None
        return None

    def _may_see(self, actor: Actor, case: CaseRow) -> bool:
        if actor.kind == "citizen":
            return case.applicant_id == actor.subject
        return actor.kind == "staff" and case.office == actor.office

    def definition_of(self, case: CaseRow) -> ProcessDefinition:
        return self.book.version(case.definition, case.process_version)

    # -- reading -------------------------------------------------------------------------
    async def _load(self, session: AsyncSession, actor: Actor, code: str, *, lock: bool = False) -> CaseRow:
        try:
            code = normalise_code(code)
        except ValueError as error:
            raise InvalidArgument(str(error), [FieldViolation("code", str(error))]) from error
        query = select(CaseRow).where(CaseRow.code == code)
        if lock and not is_sqlite(self.database.url):
            query = query.with_for_update()
        case = await session.scalar(query)
        if case is None or not self._may_see(actor, case):
            # A case the caller may not see is as good as absent: its existence is not told.
            raise NotFound(f"no case {code} in the {self.service} service")
        return case

    async def view(self, session: AsyncSession, case: CaseRow, *, full: bool = True) -> case_pb2.Case:
        message = case_pb2.Case(
            code=case.code,
            service=self.service,
            process=case.process,
            process_version=case.process_version,
            definition=case.definition,
            state=case.state,
            version=case.version,
            applicant_id=case.applicant_id,
            applicant_name=case.applicant_name,
            assigned_role=case.assigned_role or "",
            outcome=case.outcome or "",
            breached=case.breached,
        )
        message.data.update(case.data)
        message.created_at.FromDatetime(_aware(case.created_at))
        message.updated_at.FromDatetime(_aware(case.updated_at))
        if case.state_due_at:
            message.state_due_at.FromDatetime(_aware(case.state_due_at))
        if case.process_due_at:
            message.process_due_at.FromDatetime(_aware(case.process_due_at))
        if full:
            documents = await session.scalars(
                select(CaseDocumentRow).where(CaseDocumentRow.case_id == case.id).order_by(CaseDocumentRow.id)
            )
            for row in documents:
                document = message.documents.add(
                    kind=row.kind,
                    filename=row.filename,
                    content_type=row.content_type,
                    size=row.size,
                    sha256=row.sha256,
                    attached_by=row.attached_by,
                )
                document.attached_at.FromDatetime(_aware(row.attached_at))
            comments = await session.scalars(
                select(CaseCommentRow).where(CaseCommentRow.case_id == case.id).order_by(CaseCommentRow.id)
            )
            for row in comments:
                comment = message.comments.add(
                    author_id=row.author_id, author_role=row.author_role, text=row.text, action=row.action
                )
                comment.at.FromDatetime(_aware(row.at))
        return message

    async def get(self, actor: Actor, code: str) -> case_pb2.Case:
        async with self.database.session() as session:
            return await self.view(session, await self._load(session, actor, code))

    async def history(self, actor: Actor, code: str) -> list[case_pb2.HistoryEntry]:
        async with self.database.session() as session:
            case = await self._load(session, actor, code)
            rows = await session.scalars(
                select(CaseHistoryRow).where(CaseHistoryRow.case_id == case.id).order_by(CaseHistoryRow.id)
            )
            entries = []
            for row in rows:
                entry = case_pb2.HistoryEntry(
                    event=row.event,
                    action=row.action,
                    from_state=row.from_state,
                    to_state=row.to_state,
                    actor_id=row.actor_id,
                    actor_role=row.actor_role,
                    comment=row.comment,
                    version=row.version,
                )
                entry.at.FromDatetime(_aware(row.at))
                entries.append(entry)
            return entries

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
            if self._acting_role(actor, case, action.roles)
        ]

    async def list(self, actor: Actor, request: case_pb2.ListCasesRequest) -> tuple[list[case_pb2.Case], str]:
        size = request.page_size or 50
        if not 0 < size <= MAX_PAGE_SIZE:
            raise InvalidArgument("bad page size", [FieldViolation("page_size", f"1 to {MAX_PAGE_SIZE}")])
        offset = int(request.page_token) if request.page_token.isdigit() else 0
        if request.page_token and not request.page_token.isdigit():
            raise InvalidArgument("bad page token", [FieldViolation("page_token", "start again")])
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
        if request.HasField("created_from"):
            query = query.where(CaseRow.created_at >= request.created_from.ToDatetime(UTC))
        if request.HasField("created_to"):
            query = query.where(CaseRow.created_at < request.created_to.ToDatetime(UTC))
        # The inbox order: the nearest deadline first, cases without one after, oldest first.
        query = query.order_by(
            CaseRow.state_due_at.is_(None), CaseRow.state_due_at, CaseRow.created_at, CaseRow.id
        )
        async with self.database.session() as session:
            rows = (await session.scalars(query.offset(offset).limit(size + 1))).all()
            views = [await self.view(session, row, full=False) for row in rows[:size]]
        return views, (str(offset + size) if len(rows) > size else "")

    # -- idempotency ---------------------------------------------------------------------
    @staticmethod
    def _check_key(key: str) -> str:
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            raise InvalidArgument(
                "an idempotency key is required",
                [FieldViolation("idempotency_key", f"required, 1 to {MAX_KEY_LENGTH} characters")],
            )
        return key

    async def _replay(self, key: str, operation: str, request_hash: str, kind: type[Message]) -> Answer | None:
        async with self.database.session() as session:
            row = await session.get(IdempotencyRow, key)
        if row is None:
            return None
        if row.request_hash != request_hash or row.operation != operation:
            raise InvalidArgument(
                "the idempotency key was used for a different request",
                [FieldViolation("idempotency_key", "already used with another request")],
            )
        message = kind()
        message.ParseFromString(row.response or b"")
        return Answer(message, replayed=True)

    async def _once(
        self,
        key: str,
        operation: str,
        request_hash: str,
        kind: type[Message],
        change: Callable[[AsyncSession], Any],
    ) -> Answer:
        """Run ``change`` in one transaction that also keeps its answer under ``key``."""
        key = self._check_key(key)
        replay = await self._replay(key, operation, request_hash, kind)
        if replay is not None:
            return replay
        for attempt in range(3):
            try:
                async with self.database.transaction() as session:
                    message, code = await change(session)
                    session.add(
                        IdempotencyRow(
                            key=key,
                            operation=operation,
                            request_hash=request_hash,
                            case_code=code,
                            created_at=self.clock(),
                            response=message.SerializeToString(deterministic=True),
                        )
                    )
                return Answer(message, replayed=False)
            except IntegrityError:
                # The same key committed meanwhile (answer as its replay), or two starts raced
                # to open a new year's sequence (try again).
                replay = await self._replay(key, operation, request_hash, kind)
                if replay is not None:
                    return replay
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    # -- changing ------------------------------------------------------------------------
    async def start(self, actor: Actor, process: str, data: dict[str, Any], key: str) -> Answer:
        self._check_key(key)
        resolved = self.resolve(process)
        definition = resolved.definition
        role = self._acting_role(actor, None, definition.start.roles)
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
            code = self._code(year, await self._next_sequence(session, year))
            applicant_id, applicant_name = self._applicant(actor, definition, stored)
            state = definition.states[definition.start.state]
            case = CaseRow(
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
                assigned_role=state.assignee_role,
                state_version=1,
                state_entered_at=now,
                state_due_at=None,
                process_due_at=self._due(now, definition.sla_days, definition.sla_calendar_days),
                outcome=state.outcome,
                breached=False,
                created_at=now,
                updated_at=now,
            )
            session.add(case)
            await session.flush()
            self._enter_state(session, case, definition, now)
            if case.process_due_at:
                for kind, share in (("process-warning", WARNING_SHARE), ("process-breach", 1.0)):
                    session.add(
                        CaseTimerRow(
                            case_id=case.id,
                            kind=kind,
                            state="",
                            state_version=0,
                            fire_at=self._due(now, definition.sla_days, definition.sla_calendar_days, share),
                        )
                    )
            self._record(session, case, definition, actor, role, "start", definition.start.event, "", now, "", stored)
            return await self.view(session, case), code

        answer = await self._once(key, "start", _hash(resolved.process, data), case_pb2.Case, change)
        return answer

    @staticmethod
    def _applicant(actor: Actor, definition: ProcessDefinition, form: dict[str, Any]) -> tuple[str, str]:
        """A citizen applies for themselves; staff apply for whom the form names."""
        if actor.kind == "citizen":
            return actor.subject, actor.name or form.get("full_name", "")
        fields = definition.applicant
        identity = form.get(fields.id) if fields else form.get("national_code") or form.get("document_number")
        name = form.get(fields.name or "full_name") if fields else form.get("full_name")
        return str(identity or ""), str(name or "")

    def _code(self, year: int, sequence: int) -> str:
        return make_code(self.prefix, year, sequence)

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

    def _due(self, now: datetime, working: float | None, calendar: float | None, share: float = 1.0):
        """When ``share`` of an SLA has passed: in working days on the Jalali calendar, or in
        calendar days where the source counts those."""
        if working:
            return self.calendar.add(now, working * share)
        if calendar:
            return now + timedelta(days=calendar * share)
        return None

    def _enter_state(self, session: AsyncSession, case: CaseRow, definition: ProcessDefinition, now: datetime) -> None:
        """Set the assignee and deadline of the state the case has just entered, with its timers."""
        state = definition.states[case.state]
        case.assigned_role = state.assignee_role
        case.outcome = state.outcome
        case.state_entered_at = now
        case.state_version = case.version
        case.breached = False
        case.state_due_at = self._due(now, state.sla_days, state.sla_calendar_days)
        if case.state_due_at:
            for kind, share in (("state-warning", WARNING_SHARE), ("state-breach", 1.0)):
                session.add(
                    CaseTimerRow(
                        case_id=case.id,
                        kind=kind,
                        state=case.state,
                        state_version=case.version,
                        fire_at=self._due(now, state.sla_days, state.sla_calendar_days, share),
                    )
                )

    def _record(
        self,
        session: AsyncSession,
        case: CaseRow,
        definition: ProcessDefinition,
        actor: Actor,
        role: str,
        action: str,
        event: str,
        from_state: str,
        now: datetime,
        comment: str,
        detail: dict[str, Any],
    ) -> None:
        """History, audit and the CloudEvent of one change, in the caller's transaction."""
        session.add(
            CaseHistoryRow(
                case_id=case.id,
                event=event,
                action=action,
                from_state=from_state,
                to_state=case.state,
                actor_id=actor.subject,
                actor_role=role,
                comment=comment,
                version=case.version,
                at=now,
            )
        )
        session.add(
            CaseAuditRow(
                case_id=case.id,
                at=now,
                actor_id=actor.subject,
                actor_kind=actor.kind,
                actor_role=role,
                operation=action,
                detail={"event": event, "from": from_state, "to": case.state, "version": case.version, **detail},
            )
        )
        message = events_pb2.CaseEvent(
            case_code=case.code,
            service=self.service,
            process=case.process,
            process_version=case.process_version,
            event=event,
            from_state=from_state,
            to_state=case.state,
            actor_role=role,
            occurred_at_jalali=to_jalali(now),
        )
        message.occurred_at.FromDatetime(now)
        message.data.update(detail)
        add_event(
            session,
            service=self.service,
            subject=f"ostan.{self.service}.{case.process}.{event}",
            ce_subject=case.code,
            message=message,
            time=now,
        )

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
        self._check_key(key)
        request_hash = _hash(code, action_name, expected_version, comment, data)

        async def change(session: AsyncSession) -> tuple[Message, str]:
            case = await self._load(session, actor, code, lock=True)
            definition = self.definition_of(case)
            action = self._allowed_action(actor, case, definition, action_name)
            fields = definition.validate_action_data(action, data)
            text = normalise(comment)
            if action.requires_comment and not text:
                raise InvalidArgument(
                    f"{action.name} needs a comment", [FieldViolation("comment", "is required for this action")]
                )
            now = self.clock()
            check_guards(action.guards, {**case.data, **fields}, now)
            await self._require_documents(session, case, action)
            if expected_version and expected_version != case.version:
                raise self._stale(case)
            from_state = case.state
            # An action's fields (a decision, a date, a reason) join the case's record.
            await self._advance(session, case, now, state=action.to, data={**case.data, **fields})
            self._enter_state(session, case, definition, now)
            if text:
                session.add(
                    CaseCommentRow(
                        case_id=case.id, author_id=actor.subject, author_role=self._role(actor, case, action),
                        text=text, action=action.name, at=now,
                    )
                )
            role = self._role(actor, case, action)
            self._record(session, case, definition, actor, role, action.name, action.event_name, from_state, now, text, fields)
            return await self.view(session, case), case.code

        return await self._once(key, f"act:{code}", request_hash, case_pb2.Case, change)

    async def _advance(self, session: AsyncSession, case: CaseRow, now: datetime, **changes: Any) -> None:
        """Write ``changes`` and the next version, only if the case is still at the version read:
        two officers acting at once get one success and one conflict."""
        values = {**changes, "version": case.version + 1, "updated_at": now}
        changed = await session.execute(
            update(CaseRow)
            .where(CaseRow.id == case.id, CaseRow.version == case.version)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:
            raise self._stale(case)
        for name, value in values.items():  # the row now holds these: no need to read it back
            set_committed_value(case, name, value)

    def _role(self, actor: Actor, case: CaseRow, action: Action) -> str:
        return self._acting_role(actor, case, action.roles) or ""

    @staticmethod
    def _stale(case: CaseRow) -> Conflict:
        return Conflict(
            f"the case has changed (now version {case.version}): read it again",
            reason="STALE_VERSION",
            metadata={"current_version": str(case.version)},
        )

    def _allowed_action(self, actor: Actor, case: CaseRow, definition: ProcessDefinition, name: str) -> Action:
        action = definition.action(name)
        possible = [a.name for a in definition.actions_from(case.state) if self._acting_role(actor, case, a.roles)]
        if action is None or case.state not in action.from_states:
            raise FailedPrecondition(
                f"{name!r} is not allowed in state {case.state!r}; allowed now: {', '.join(possible) or 'none'}",
                reason="ACTION_NOT_ALLOWED",
                metadata={"state": case.state, "allowed_actions": ",".join(possible)},
            )
        if self._acting_role(actor, case, action.roles) is None:
            raise PermissionDenied(f"{name!r} takes one of the roles {action.roles}")
        return action

    async def _require_documents(self, session: AsyncSession, case: CaseRow, action: Action) -> None:
        if not action.requires_documents:
            return
        present = set(
            await session.scalars(select(CaseDocumentRow.kind).where(CaseDocumentRow.case_id == case.id))
        )
        missing = [kind for kind in action.requires_documents if kind not in present]
        if missing:
            raise InvalidArgument(
                f"{action.name} needs the documents {missing}",
                [FieldViolation(f"documents.{kind}", "is required before this action") for kind in missing],
            )

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
        key = self._check_key(key)
        sha256 = hashlib.sha256(content).hexdigest()
        request_hash = _hash(code, kind, filename, content_type, sha256)
        operation = f"attach:{code}"
        replay = await self._replay(key, operation, request_hash, case_pb2.AttachDocumentResponse)
        if replay is not None:
            return replay  # the first answer, even if the case has moved on since
        # Checked before anything is kept: the document's kind, type and size.
        async with self.database.session() as session:
            case = await self._load(session, actor, code)
        definition = self.definition_of(case)
        rule = definition.documents.get(kind)
        if rule is None:
            raise InvalidArgument(
                f"{case.process} takes no document {kind!r}",
                [FieldViolation("kind", f"one of {sorted(definition.documents)}")],
            )
        if content_type not in rule.types:
            raise InvalidArgument(
                f"{kind} must be one of {rule.types}, not {content_type!r}",
                [FieldViolation("content_type", f"one of {rule.types}")],
                reason="DOCUMENT_TYPE_NOT_ALLOWED",
            )
        if len(content) > rule.max_bytes:
            raise OutOfRange(
                f"{kind} may be at most {rule.max_bytes} bytes; this one has {len(content)}",
                [FieldViolation("content", f"at most {rule.max_bytes} bytes")],
                reason="DOCUMENT_TOO_LARGE",
            )
        if not content:
            raise InvalidArgument("the document is empty", [FieldViolation("content", "is empty")])
        if case.outcome is not None:
            raise FailedPrecondition(f"the case is closed ({case.outcome})", reason="CASE_CLOSED")

        async def change(session: AsyncSession) -> tuple[Message, str]:
            case = await self._load(session, actor, code, lock=True)
            now = self.clock()
            self.documents.put(content)
            row = CaseDocumentRow(
                case_id=case.id,
                kind=kind,
                filename=normalise(filename)[:255] or kind,
                content_type=content_type,
                size=len(content),
                sha256=sha256,
                attached_at=now,
                attached_by=actor.subject,
            )
            session.add(row)
            await self._advance(session, case, now)
            role = self._acting_role(actor, case, [APPLICANT, *actor.roles]) or ""
            detail = {"kind": kind, "sha256": sha256, "size": len(content), "content_type": content_type}
            self._record(session, case, definition, actor, role, "attach", "document-attached", case.state, now, "", detail)
            await session.flush()
            view = await self.view(session, case)
            document = next(d for d in reversed(view.documents) if d.sha256 == sha256 and d.kind == kind)
            return case_pb2.AttachDocumentResponse(case=view, document=document), case.code

        return await self._once(key, operation, request_hash, case_pb2.AttachDocumentResponse, change)

    # -- timers --------------------------------------------------------------------------
    async def fire_due_timers(self, limit: int = 100) -> int:
        """Fire the SLA timers that are due: each in its own transaction with its event, so a
        restart loses none and fires none twice. Returns how many fired (stale ones included)."""
        now = self.clock()
        query = (
            select(CaseTimerRow.id)
            .where(CaseTimerRow.fired_at.is_(None), CaseTimerRow.fire_at <= now)
            .order_by(CaseTimerRow.fire_at, CaseTimerRow.id)
            .limit(limit)
        )
        async with self.database.session() as session:
            due = list(await session.scalars(query))
        for timer_id in due:
            await self._fire(timer_id, now)
        return len(due)

    async def _fire(self, timer_id: int, now: datetime) -> None:
        async with self.database.transaction() as session:
            query = select(CaseTimerRow).where(CaseTimerRow.id == timer_id, CaseTimerRow.fired_at.is_(None))
            if not is_sqlite(self.database.url):
                query = query.with_for_update(skip_locked=True)
            timer = await session.scalar(query)
            if timer is None:
                return  # another replica fired it
            timer.fired_at = now
            case = await session.get(CaseRow, timer.case_id, with_for_update=not is_sqlite(self.database.url))
            assert case is not None
            stale = case.outcome is not None or (
                timer.kind.startswith("state-") and (case.state != timer.state or case.state_version != timer.state_version)
            )
            if stale:
                return
            definition = self.definition_of(case)
            event = {
                "state-warning": "sla-warning",
                "state-breach": "sla-breached",
                "process-warning": "process-sla-warning",
                "process-breach": "process-sla-breached",
            }[timer.kind]
            detail: dict[str, Any] = {"timer": timer.kind, "due_at": _aware(timer.fire_at).isoformat()}
            if timer.kind == "state-breach":
                # Overdue: the case escalates to the definition's supervisor role.
                case.breached = True
                case.assigned_role = definition.supervisor_role
                case.version += 1
                case.updated_at = now
                detail["escalated_to"] = definition.supervisor_role
            self._record(session, case, definition, SYSTEM, "system", "sla", event, case.state, now, "", detail)
