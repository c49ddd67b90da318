"""Figures read from a service's database: the gauges Prometheus scrapes (open cases per state,
outbox and timer lag) and the case and SLA statistics supervisors ask for."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime

from prometheus_client.core import Metric
from sqlalchemy import func, select

from ostan.common.v1 import stats_pb2
from ostan_kit.cases.deadlines import EVENTS
from ostan_kit.cases.projection import aware
from ostan_kit.persistence.db import Database
from ostan_kit.persistence.models import CaseHistoryRow, CaseRow, CaseTimerRow, OutboxRow
from ostan_kit.runtime.errors import PermissionDenied
from ostan_kit.runtime.metrics import gauge
from ostan_kit.security.actors import Actor

# Staff roles that may read their office's figures.
SUPERVISING_ROLES = frozenset({"supervisor", "director-general", "head-of-office"})
# The office that ranks every office (seed 001: performance management and inspection).
RANKING_OFFICE = "performance-inspection-legal-pr"
BREACH_EVENTS = frozenset(event for kind, event in EVENTS.items() if kind.endswith("breach"))
WARNING_EVENTS = frozenset(event for kind, event in EVENTS.items() if kind.endswith("warning"))


async def gauges(database: Database, now: Callable[[], datetime]) -> list[Metric]:
    """Open cases per process and state, the outbox's backlog and the SLA timers' lag."""
    at = now()
    async with database.session() as session:
        open_cases = (
            await session.execute(
                select(CaseRow.process, CaseRow.state, func.count())
                .where(CaseRow.outcome.is_(None))
                .group_by(CaseRow.process, CaseRow.state)
            )
        ).all()
        oldest_event, pending = (
            await session.execute(
                select(func.min(OutboxRow.created_at), func.count()).where(OutboxRow.published_at.is_(None))
            )
        ).one()
        oldest_due = await session.scalar(
            select(func.min(CaseTimerRow.fire_at)).where(CaseTimerRow.fired_at.is_(None), CaseTimerRow.fire_at <= at)
        )
    return [
        gauge(
            "ostan_cases_open",
            "Open cases, by process and state",
            ["process", "state"],
            (([process, state], count) for process, state, count in open_cases),
        ),
        gauge("ostan_outbox_pending", "Events in the outbox not yet published", [], [([], pending)]),
        gauge(
            "ostan_outbox_lag_seconds",
            "Age of the oldest event not yet published (0: none waits)",
            [],
            [([], _age(at, oldest_event))],
        ),
        gauge(
            "ostan_timer_lag_seconds",
            "How long the most overdue SLA timer has waited to fire (0: none is due)",
            [],
            [([], _age(at, oldest_due))],
        ),
    ]


def _age(at: datetime, since: datetime | None) -> float:
    return max(0.0, (at - aware(since)).total_seconds()) if since is not None else 0.0


def visible_offices(actor: Actor, offices: list[str], wanted: str) -> list[str]:
    """The offices whose figures ``actor`` may read: a supervisor their own, the ranking office
    all; PermissionDenied for anyone else."""
    if actor.kind != "staff" or not actor.roles & SUPERVISING_ROLES:
        raise PermissionDenied(
            "case figures are for staff with a supervising role (" + ", ".join(sorted(SUPERVISING_ROLES)) + ")"
        )
    allowed = offices if actor.office == RANKING_OFFICE else [o for o in offices if o == actor.office]
    if wanted:
        if wanted not in offices:
            return []
        if wanted not in allowed:
            raise PermissionDenied(f"the figures of the office {wanted} are for its own supervisors")
        return [wanted]
    return allowed


async def case_stats(
    database: Database, offices: list[str], started_from: datetime | None, started_to: datetime | None
) -> list[stats_pb2.ProcessCaseStats]:
    """Per office and process, the figures of the cases started in ``[started_from, started_to)``."""
    if not offices:
        return []
    query = select(
        CaseRow.id, CaseRow.office, CaseRow.process, CaseRow.state, CaseRow.outcome, CaseRow.created_at, CaseRow.updated_at
    ).where(CaseRow.office.in_(offices))
    sla_query = (
        select(CaseHistoryRow.case_id, CaseHistoryRow.event)
        .join(CaseRow, CaseRow.id == CaseHistoryRow.case_id)
        .where(CaseRow.office.in_(offices), CaseHistoryRow.event.in_(sorted(BREACH_EVENTS | WARNING_EVENTS)))
    )
    if started_from is not None:
        query = query.where(CaseRow.created_at >= started_from)
        sla_query = sla_query.where(CaseRow.created_at >= started_from)
    if started_to is not None:
        query = query.where(CaseRow.created_at < started_to)
        sla_query = sla_query.where(CaseRow.created_at < started_to)
    async with database.session() as session:
        cases = (await session.execute(query)).all()
        sla_events = (await session.execute(sla_query)).all()
    breached = {case_id for case_id, event in sla_events if event in BREACH_EVENTS}
    warnings = Counter(case_id for case_id, event in sla_events if event in WARNING_EVENTS)

    groups: dict[tuple[str, str], list] = defaultdict(list)
    for row in cases:
        groups[(row.office, row.process)].append(row)
    figures = []
    for (office, process), rows in sorted(groups.items()):
        finished = [row for row in rows if row.outcome is not None]
        durations = sorted((aware(row.updated_at) - aware(row.created_at)).total_seconds() for row in finished)
        breaches = sum(1 for row in rows if row.id in breached)
        figures.append(
            stats_pb2.ProcessCaseStats(
                office=office,
                process=process,
                started=len(rows),
                open_by_state=Counter(row.state for row in rows if row.outcome is None),
                finished_by_outcome=Counter(row.outcome for row in finished),
                median_seconds_to_decision=statistics.median(durations) if durations else 0.0,
                p90_seconds_to_decision=_percentile(durations, 0.9),
                breached=breaches,
                warned=sum(warnings[row.id] for row in rows),
                sla_compliance=(len(rows) - breaches) / len(rows),
            )
        )
    return figures


def _percentile(ordered: list[float], fraction: float) -> float:
    """The nearest-rank percentile of sorted values (0 for none)."""
    if not ordered:
        return 0.0
    rank = max(1, -(-len(ordered) * fraction // 1))  # ceil
    return ordered[int(rank) - 1]
