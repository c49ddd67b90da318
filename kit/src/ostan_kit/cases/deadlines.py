"""SLAs: when a state or a process is due, the timers that warn at 80% and breach at 100%, and
firing them. Timers are rows in the service's own database, fired by the service itself."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from opentelemetry import trace
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ostan_kit.cases.projection import aware
from ostan_kit.cases.records import Change, record
from ostan_kit.inquiries.outbound import remind_pending
from ostan_kit.messaging.grants import EventGrants
from ostan_kit.persistence.db import Database, stage
from ostan_kit.persistence.models import CaseRow, CaseTimerRow
from ostan_kit.processes.definitions import ProcessDefinition, State, UnknownVersion
from ostan_kit.runtime.telemetry import untraced
from ostan_kit.security.actors import SYSTEM
from ostan_kit.text.persian import parse_jalali_date
from ostan_kit.text.workdays import WorkingCalendar

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("ostan.cases")

WARNING_SHARE = 0.8
EVENTS = {
    "state-warning": "sla-warning",
    "state-breach": "sla-breached",
    "process-warning": "process-sla-warning",
    "process-breach": "process-sla-breached",
}


class Deadlines:
    def __init__(self, calendar: WorkingCalendar) -> None:
        self.calendar = calendar

    def due(self, now: datetime, days: int | None, working: float | None, share: float = 1.0):
        """When ``share`` of an SLA has passed: ``days`` by the day rule (``WorkingCalendar.deadline``;
        the warning at ``share`` of the time from now to that end), or working time where the
        source says «روز کاری»."""
        if days:
            end = self.calendar.deadline(now, days)
            return end if share >= 1 else now + (end - now) * share
        if working:
            return self.calendar.add(now, working * share)
        return None

    def state_due(self, now: datetime, state: State, data: dict[str, Any], share: float = 1.0) -> datetime | None:
        """When ``share`` of a state's time has passed: by its date field, or its SLA."""
        if state.due_field and data.get(state.due_field):
            end = self.calendar.day_end(parse_jalali_date(str(data[state.due_field])))
            return end if share >= 1 or end <= now else now + (end - now) * share
        return self.due(now, state.sla_days, state.sla_working_days, share)

    def entering(
        self, definition: ProcessDefinition, state_name: str, now: datetime, version: int, data: dict[str, Any]
    ) -> dict[str, Any]:
        """The case's columns on entering ``state_name`` at ``version`` with ``data``: its
        assignee, outcome and deadline, so that one write of the case row sets them with the state."""
        state = definition.states[state_name]
        return {
            "assigned_role": definition.assignee(state_name, data),
            "outcome": state.outcome,
            "state_entered_at": now,
            "state_version": version,
            "breached": False,
            "state_due_at": self.state_due(now, state, data),
        }

    def enter_state(self, session: AsyncSession, case: CaseRow, definition: ProcessDefinition, now: datetime) -> None:
        """Set the assignee and deadline of the state the case has just entered, with its timers
        (for a case row of the ORM's; the engine's own steps write ``entering`` with the state)."""
        for name, value in self.entering(definition, case.state, now, case.version, case.data).items():
            setattr(case, name, value)
        self.state_timers(session, case, definition, now)

    def state_timers(self, session: AsyncSession, case: CaseRow, definition: ProcessDefinition, now: datetime) -> None:
        """The warning and breach timers of the state the case has just entered (as ``entering``
        set it), when the state has a deadline."""
        state = definition.states[case.state]
        if case.state_due_at:
            for kind, share in (("state-warning", WARNING_SHARE), ("state-breach", 1.0)):
                stage(
                    session,
                    CaseTimerRow.__table__,
                    dict(
                        case_id=case.id,
                        kind=kind,
                        state=case.state,
                        state_version=case.version,
                        fire_at=self.state_due(now, state, case.data, share),
                    ),
                )

    def start_process(self, session: AsyncSession, case: CaseRow, definition: ProcessDefinition, now: datetime) -> None:
        """The whole process's warning and breach timers, when its definition has an SLA."""
        if not case.process_due_at:
            return
        for kind, share in (("process-warning", WARNING_SHARE), ("process-breach", 1.0)):
            stage(
                session,
                CaseTimerRow.__table__,
                dict(
                    case_id=case.id,
                    kind=kind,
                    state="",
                    state_version=0,
                    fire_at=self.due(now, definition.sla_days, definition.sla_working_days, share),
                ),
            )


class TimerFiring:
    """Fires due timers, each in its own transaction with its event, so a restart loses none and
    fires none twice."""

    def __init__(
        self,
        service: str,
        database: Database,
        definition_of: Callable[[CaseRow], ProcessDefinition],
        clock: Callable[[], datetime],
        grants: EventGrants | None = None,
    ) -> None:
        self.service = service
        self.grants = grants
        self.database = database
        self.definition_of = definition_of
        self.clock = clock

    async def fire_due(self, limit: int = 100) -> int:
        """Returns how many fired (stale ones included). With several workers, each timer is
        claimed (SKIP LOCKED) on PostgreSQL; on SQLite one worker fires at a time."""
        async with self.database.exclusive("sla-timers"):
            return await self._fire_due(limit)

    async def _fire_due(self, limit: int) -> int:
        now = self.clock()
        query = (
            select(CaseTimerRow.id)
            .where(CaseTimerRow.fired_at.is_(None), CaseTimerRow.fire_at <= now)
            .order_by(CaseTimerRow.fire_at, CaseTimerRow.id)
            .limit(limit)
        )
        with untraced():  # polled every few seconds: only a firing is worth a trace
            async with self.database.session() as session:
                due = list(await session.scalars(query))
        for timer_id in due:
            with _tracer.start_as_current_span("fire SLA timer", attributes={"ostan.timer.id": timer_id}):
                try:
                    await self._fire(timer_id, now)
                except Exception:  # one bad timer never stops the others; it is tried again next round
                    log.exception("SLA timer not fired", extra={"service": self.service, "timer": timer_id})
        return len(due)

    async def _fire(self, timer_id: int, now: datetime) -> None:
        locking = not self.database.is_sqlite
        async with self.database.transaction() as session:
            query = select(CaseTimerRow).where(CaseTimerRow.id == timer_id, CaseTimerRow.fired_at.is_(None))
            if locking:
                query = query.with_for_update(skip_locked=True)
            timer = await session.scalar(query)
            if timer is None:
                return  # another replica fired it
            timer.fired_at = now
            case = await session.get(CaseRow, timer.case_id, with_for_update=locking)
            assert case is not None
            stale = case.outcome is not None or (
                timer.kind.startswith("state-") and (case.state != timer.state or case.state_version != timer.state_version)
            )
            if stale:
                return
            try:
                definition = self.definition_of(case)
            except UnknownVersion as error:
                # Nothing can fire it until the definition comes back: marked as done (fired_at)
                # so it does not crowd out the others round after round, and said loudly.
                log.error(
                    "SLA timer skipped: its case's definition version is gone",
                    extra={"service": self.service, "timer": timer_id, "case": case.code, "error": str(error)},
                )
                return
            detail: dict[str, Any] = {"timer": timer.kind, "due_at": aware(timer.fire_at).isoformat()}
            if timer.kind == "state-breach":
                # Overdue: the case escalates to the definition's supervisor role.
                case.breached = True
                case.assigned_role = definition.supervisor_role
                case.version += 1
                case.updated_at = now
                detail["escalated_to"] = definition.supervisor_role
            if timer.kind == "state-warning":
                # The step waits for agencies' answers: those still silent are reminded.
                reminded = await remind_pending(session, self.service, case, now)
                if reminded:
                    detail["reminded"] = reminded
            change = Change(SYSTEM, "system", "sla", EVENTS[timer.kind], case.state, now)
            await record(session, self.service, case, change, detail, self.grants)
