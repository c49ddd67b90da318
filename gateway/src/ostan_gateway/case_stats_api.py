"""``GET /v1/stats/cases``: case and SLA figures per office and process over a Jalali date range,
for staff with a supervising role. Every service answers for its own offices (and decides what
the caller may see); the gateway asks them all at once and names any that did not answer."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from typing import Annotated, Any

import jdatetime
from fastapi import APIRouter, Query, Request

from ostan.common.v1 import stats_pb2
from ostan_gateway import schemas
from ostan_gateway.auth import CurrentCaller
from ostan_gateway.problems import Problem
from ostan_gateway.services import Services
from ostan_kit.cases.figures import SUPERVISING_ROLES
from ostan_kit.text.persian import TEHRAN, day_start, format_jalali_date, parse_jalali_date

router = APIRouter(tags=["stats"])

JalaliDate = Annotated[
    str | None,
    Query(max_length=20, description="A Jalali date YYYY/MM/DD (Persian, Arabic or ASCII digits)."),
]


def _day(value: str | None, field: str, default: datetime) -> Any:
    if value is None:
        return default.date()
    try:
        return parse_jalali_date(value)
    except ValueError as error:
        raise Problem(422, str(error), slug="invalid-request", errors=[{"field": f"query.{field}", "message": str(error)}]) from error


def _figures(process: stats_pb2.ProcessCaseStats) -> dict[str, Any]:
    return {
        "process": process.process,
        "started": process.started,
        "open_by_state": dict(sorted(process.open_by_state.items())),
        "finished_by_outcome": dict(sorted(process.finished_by_outcome.items())),
        "time_to_decision_seconds": {
            "median": process.median_seconds_to_decision,
            "p90": process.p90_seconds_to_decision,
        },
        "sla": {"breached": process.breached, "warned": process.warned, "compliance": round(process.sla_compliance, 4)},
    }


@router.get("/v1/stats/cases", response_model=schemas.CaseStats, response_model_by_alias=True)
async def case_stats(
    request: Request,
    who: CurrentCaller,
    from_: Annotated[JalaliDate, Query(alias="from")] = None,
    to: JalaliDate = None,
    office: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9-]+$")] = None,
) -> dict[str, Any]:
    """Per office and process, of the cases started from ``from`` to ``to`` (inclusive Jalali
    dates; by default the current Jalali year so far): open cases by state, finished by outcome,
    median and 90th percentile time to decision, SLA breaches, warnings and compliance. A
    supervisor sees their office; the performance and inspection office sees every office."""
    if who.kind != "staff" or not who.roles & SUPERVISING_ROLES:
        raise Problem(403, "case figures are for staff with a supervising role: " + ", ".join(sorted(SUPERVISING_ROLES)))
    today = datetime.now(TEHRAN)
    year_start = jdatetime.date(jdatetime.date.fromgregorian(date=today.date()).year, 1, 1).togregorian()
    first = _day(from_, "from", datetime.combine(year_start, time()))
    last = _day(to, "to", today)
    if last < first:
        raise Problem(422, "`to` is before `from`", slug="invalid-request", errors=[{"field": "query.to", "message": "before from"}])
    message = stats_pb2.GetCaseStatsRequest(office=office or "")
    message.started_from.FromDatetime(day_start(first))
    message.started_to.FromDatetime(day_start(last + timedelta(days=1)))

    services: Services = request.app.state.services
    deadline = request.app.state.settings.case_deadline
    names = list(services.clients)
    answers = await asyncio.gather(
        *(services.call(name, services[name].stats.GetCaseStats, message, deadline, who) for name in names),
        return_exceptions=True,
    )
    offices: dict[str, dict[str, Any]] = {}
    missing: dict[str, str] = {}
    for name, answer in zip(names, answers, strict=True):
        if isinstance(answer, Problem):
            if answer.status in (401, 403):
                raise answer
            missing[name] = answer.detail
            continue
        if isinstance(answer, BaseException):
            missing[name] = f"{type(answer).__name__}: {answer}"
            continue
        for process in answer.processes:
            entry = offices.setdefault(process.office, {"office": process.office, "service": name, "processes": []})
            entry["processes"].append(_figures(process))
    for entry in offices.values():
        rows = entry["processes"]
        started = sum(row["started"] for row in rows)
        breached = sum(row["sla"]["breached"] for row in rows)
        entry["totals"] = {
            "started": started,
            "open": sum(sum(row["open_by_state"].values()) for row in rows),
            "finished": sum(sum(row["finished_by_outcome"].values()) for row in rows),
            "sla_breached": breached,
            "sla_compliance": round((started - breached) / started, 4) if started else None,
        }
    # Ranked: the best SLA compliance first, then the most cases handled.
    ranked = sorted(
        offices.values(),
        key=lambda e: (-(e["totals"]["sla_compliance"] or 0), -e["totals"]["started"], e["office"]),
    )
    return {
        "from": {"jalali": format_jalali_date(first), "utc": _iso(day_start(first))},
        "to": {"jalali": format_jalali_date(last), "utc_before": _iso(day_start(last + timedelta(days=1)))},
        "offices": ranked,
        "missing_services": sorted(missing),
        "errors": dict(sorted(missing.items())),
    }


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
