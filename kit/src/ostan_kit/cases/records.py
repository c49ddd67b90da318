"""What every change to a case writes beside the case row, in the change's own transaction: the
next version (guarded by the version read), a history row, an audit row and its CloudEvent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Update, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from ostan.common.v1 import events_pb2
from ostan_kit.audit.chain import append
from ostan_kit.cases.access import stale
from ostan_kit.messaging.agency_events import stage_agency_events
from ostan_kit.messaging.grants import EventGrants
from ostan_kit.messaging.outbox import add_event
from ostan_kit.persistence.db import stage
from ostan_kit.persistence.models import CaseHistoryRow, CaseRow
from ostan_kit.runtime import metrics
from ostan_kit.security.actors import Actor
from ostan_kit.text.persian import to_jalali


@dataclass(frozen=True)
class Change:
    """One change: who made it, in which role, by which action, as which event."""

    actor: Actor
    role: str
    action: str
    event: str
    from_state: str
    at: datetime
    comment: str = ""


async def advance(session: AsyncSession, case: Any, now: datetime, **changes: Any) -> None:
    """Write ``changes`` and the next version in one UPDATE, only if the case is still at the
    version read: two officers acting at once get one success and one conflict. ``case`` (as
    ``load_case`` gave it) then holds the new values: nothing is read back."""
    values = {**changes, "version": case.version + 1, "updated_at": now}
    parameters = {f"new_{name}": value for name, value in values.items()}
    changed = await session.execute(
        _advance_statement(tuple(values)), {"case_id": case.id, "read_version": case.version, **parameters}
    )
    if changed.rowcount != 1:
        raise stale(case)
    for name, value in values.items():
        if isinstance(case, CaseRow):
            set_committed_value(case, name, value)
        else:
            setattr(case, name, value)


# The UPDATE of ``advance`` by the columns it writes, built once: a step writes one of a few sets.
_ADVANCES: dict[tuple[str, ...], Update] = {}


def _advance_statement(names: tuple[str, ...]) -> Update:
    statement = _ADVANCES.get(names)
    if statement is None:
        cases = CaseRow.__table__
        statement = _ADVANCES[names] = (
            update(cases)
            .where(cases.c.id == bindparam("case_id"), cases.c.version == bindparam("read_version"))
            .values({name: bindparam(f"new_{name}", type_=cases.c[name].type) for name in names})
        )
    return statement


async def record(
    session: AsyncSession,
    service: str,
    case: CaseRow,
    change: Change,
    detail: dict[str, Any],
    grants: EventGrants | None = None,
) -> None:
    """History, the audit chain's record and the CloudEvent of one change, in the caller's
    transaction, and the agency events its ``grants`` project from it."""
    stage(
        session,
        CaseHistoryRow.__table__,
        dict(
            case_id=case.id,
            event=change.event,
            action=change.action,
            from_state=change.from_state,
            to_state=case.state,
            actor_id=change.actor.subject,
            actor_role=change.role,
            comment=change.comment,
            version=case.version,
            at=change.at,
        ),
    )
    await append(
        session,
        at=change.at,
        kind="case.transition",
        actor=change.actor,
        about=case.code,
        detail={
            "operation": change.action,
            "role": change.role,
            "event": change.event,
            "from": change.from_state,
            "to": case.state,
            "version": case.version,
            **detail,
        },
    )
    message = events_pb2.CaseEvent(
        case_code=case.code,
        service=service,
        process=case.process,
        process_version=case.process_version,
        event=change.event,
        from_state=change.from_state,
        to_state=case.state,
        actor_role=change.role,
        occurred_at_jalali=to_jalali(change.at),
    )
    _count(session, case, change, detail)
    message.occurred_at.FromDatetime(change.at)
    message.data.update(detail)
    event = add_event(
        session,
        service=service,
        subject=f"ostan.{service}.{case.process}.{change.event}",
        ce_subject=case.code,
        message=message,
        time=change.at,
    )
    if grants is not None:
        stage_agency_events(session, grants, case, event)


def _count(session: AsyncSession, case: CaseRow, change: Change, detail: dict[str, Any]) -> None:
    """The change's metrics, counted when its transaction commits."""
    counter = None
    if change.action == "start":
        counter = metrics.CASES_STARTED.labels(case.process)
    elif change.action == "sla":
        scope, _, level = str(detail.get("timer", "")).partition("-")
        family = metrics.SLA_BREACHES if level == "breach" else metrics.SLA_WARNINGS
        counter = family.labels(case.process, scope)
    elif change.from_state != case.state:
        counter = metrics.CASE_TRANSITIONS.labels(case.process, change.action)
    if counter is not None:
        metrics.after_commit(session, counter.inc)
