"""The economic service's own process definitions (services/economic/processes/), each walked
through the real case engine on a real database: happy path, refusals and corrections, SLA breach,
and every guard naming its rule and its source."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ostan.economic.v1 import forms_pb2  # noqa: F401 — registers the forms
from ostan_kit.actors import Actor
from ostan_kit.cases import CaseEngine
from ostan_kit.catalogue import load_catalogue
from ostan_kit.db import Database
from ostan_kit.documents import LocalDocumentStore
from ostan_kit.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from ostan_kit.migrations import upgrade
from ostan_kit.models import OutboxRow
from ostan_kit.processes import load_processes
from ostan_kit.workdays import WorkingCalendar

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "services" / "economic"
OFFICE = "investment-employment"

CLERK = Actor("i-clerk", "staff", "کارشناس سرمایه‌گذاری", frozenset({"clerk"}), office=OFFICE)
HEAD = Actor("i-head", "staff", "رئیس دفتر", frozenset({"head-of-office"}), office=OFFICE)
ECONOMIC_CLERK = Actor("e-clerk", "staff", "x", frozenset({"clerk"}), office="economic-affairs")
INVESTOR = Actor("0084575948", "citizen", "سرمایه‌گذار", frozenset({"applicant"}))
STRANGER = Actor("0067749828", "citizen", "دیگری", frozenset({"applicant"}))
PDF = b"%PDF-1.4 document"


class Clock:
    def __init__(self, at: datetime) -> None:
        self.now = at

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    # Saturday 2026-04-18 09:00 in Tehran: an ordinary working day.
    return Clock(datetime(2026, 4, 18, 5, 30, tzinfo=UTC))


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    """The service's schema, migrated once per module into an SQLite file each test copies."""
    path = tmp_path_factory.mktemp("economic") / "migrated.db"
    upgrade(SERVICE / "migrations", f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="module")
def book():
    return load_processes(SERVICE / "processes")


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue(SERVICE / "catalogue")


@pytest.fixture
async def engine(database_url, tmp_path, clock, migrated, book, catalogue):
    if database_url.startswith("sqlite"):
        shutil.copyfile(migrated, database_url.split(":///", 1)[1])
    else:
        await asyncio.to_thread(upgrade, SERVICE / "migrations", database_url)
    database = Database(database_url)
    yield CaseEngine(
        "economic", database, book, catalogue, LocalDocumentStore(tmp_path / "documents"),
        WorkingCalendar.from_names(["friday"]), clock=clock,
    )
    await database.close()


class Steps:
    """Short calls on one engine, each with its own idempotency key."""

    def __init__(self, engine: CaseEngine) -> None:
        self.engine = engine
        self.count = 0

    def key(self) -> str:
        self.count += 1
        return f"k{self.count}"

    async def start(self, actor, process, form):
        return (await self.engine.start(actor, process, form, self.key())).message

    async def act(self, actor, case, action, comment="", **data):
        return (await self.engine.act(actor, case.code, action, case.version, comment, data, self.key())).message

    async def attach(self, actor, case, kind):
        answer = await self.engine.attach(actor, case.code, kind, f"{kind}.pdf", "application/pdf", PDF, self.key())
        return answer.message.case


@pytest.fixture
def steps(engine) -> Steps:
    return Steps(engine)


async def subjects(engine) -> list[str]:
    async with engine.database.session() as session:
        return list(await session.scalars(select(OutboxRow.subject).order_by(OutboxRow.created_at, OutboxRow.id)))


def broken(caught, rule: str, source: str) -> None:
    """The refusal names the rule and its source."""
    message = caught.value.message
    assert f"rule {rule};" in message, message
    assert source in message, message


async def breach(engine, clock, case, days: float):
    clock.now += timedelta(days=days)
    assert await engine.fire_due_timers() >= 1
    escalated = await engine.get(CLERK, case.code)
    assert escalated.breached and escalated.assigned_role == "supervisor"
    return escalated


# -- steering an investment's permits (booklet investment-employment-01) ------------------------

PERMIT = {
    "applicant_type": "APPLICANT_TYPE_NATURAL_PERSON",
    "investor_name": "رضا کریمی",
    "national_id": "0084575948",
    "mobile": "09121234567",
    "project_title": "کارخانه بسته‌بندی خرما",
    "county": "البرز",
    "activity": "صنایع غذایی",
    "permits": ["جواز تأسیس", "مجوز محیط زیست"],
    "estimated_investment_rials": "۵۰۰۰۰۰۰۰۰۰۰",
}
ANSWERS = [{"agency": "اداره کل صمت", "answer": "موافقت با جواز تأسیس"}]


async def _permit_in_review(steps, actor=INVESTOR, form=PERMIT):
    case = await steps.start(actor, "investment-employment-01", form)
    case = await steps.attach(actor, case, "application")
    return await steps.act(CLERK, case, "start-review")


async def test_an_investors_permits_steered_through_the_agencies(engine, steps):
    case = await steps.start(INVESTOR, "investment-employment-01", PERMIT)
    assert (case.definition, case.applicant_id, case.state) == ("investment-permit-steering", INVESTOR.subject, "submitted")
    with pytest.raises(InvalidArgument, match="application"):
        await steps.act(CLERK, case, "start-review")
    case = await steps.attach(INVESTOR, case, "application")
    case = await steps.act(CLERK, case, "start-review")
    case = await steps.act(CLERK, case, "refer-to-agencies", agencies=["اداره کل صمت", "اداره کل محیط زیست"])
    assert (case.state, case.assigned_role) == ("with-agencies", "clerk")
    case = await steps.act(CLERK, case, "record-answers", answers=ANSWERS)
    assert case.state == "under-review"
    with pytest.raises(PermissionDenied):
        await steps.act(CLERK, case, "decide", decision="x")
    case = await steps.act(HEAD, case, "decide", decision="مجوزها با هماهنگی دستگاه‌ها صادر شد")
    case = await steps.act(CLERK, case, "deliver")
    assert (case.state, case.outcome) == ("delivered", "granted")
    assert (await subjects(engine))[-1] == "ostan.economic.investment-permit-steering.deliver"
    with pytest.raises(NotFound):
        await engine.get(STRANGER, case.code)


async def test_a_permit_request_corrected_refused_or_withdrawn(steps):
    case = await _permit_in_review(steps)
    with pytest.raises(InvalidArgument, match="needs a comment"):
        await steps.act(CLERK, case, "request-correction")
    case = await steps.act(CLERK, case, "request-correction", "خلاصه طرح پیوست شود")
    assert case.assigned_role == "applicant"
    case = await steps.act(INVESTOR, case, "resubmit")
    case = await steps.act(CLERK, case, "start-review")
    case = await steps.act(HEAD, case, "refuse", reason="طرح با آمایش استان سازگار نیست")
    assert (case.state, case.outcome) == ("refused", "refused")
    with pytest.raises(FailedPrecondition):
        await steps.act(INVESTOR, case, "withdraw")
    case = await steps.start(INVESTOR, "investment-permit-steering", PERMIT)
    with pytest.raises(PermissionDenied):
        await steps.act(CLERK, case, "withdraw")
    assert (await steps.act(INVESTOR, case, "withdraw")).outcome == "withdrawn"


async def test_permit_request_guards(steps):
    with pytest.raises(InvalidArgument) as caught:
        await steps.start(INVESTOR, "investment-permit-steering", {**PERMIT, "permits": []})
    broken(caught, "permits-named", "platform default")
    company = {**PERMIT, "applicant_type": "APPLICANT_TYPE_LEGAL_PERSON", "investor_name": "شرکت نمونه"}
    with pytest.raises(InvalidArgument) as caught:
        await steps.start(CLERK, "investment-permit-steering", company)  # a ten-digit code for a company
    broken(caught, "company-national-id", "platform default")
    case = await _permit_in_review(steps, CLERK, {**company, "national_id": "10100123456"})
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(CLERK, case, "refer-to-agencies", agencies=[])
    broken(caught, "agencies-named", "seed 001 l.263")
    case = await steps.act(CLERK, case, "refer-to-agencies", agencies=["اداره کل صمت"])
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(CLERK, case, "record-answers", answers=[{"agency": "اداره کل صمت"}])
    broken(caught, "answer-names-agency", "platform default")


async def test_permit_request_sla_breach_and_office(engine, clock, steps):
    with pytest.raises(PermissionDenied):  # the economic affairs office does not run it
        await steps.start(ECONOMIC_CLERK, "investment-permit-steering", PERMIT)
    case = await _permit_in_review(steps)
    await breach(engine, clock, case, 6)


# -- resolving an investor's problem (booklet investment-employment-02) -------------------------

PROBLEM = {
    "investor_name": "رضا کریمی",
    "national_id": "0084575948",
    "project_title": "کارخانه بسته‌بندی خرما",
    "county": "البرز",
    "problem": "تأخیر در واگذاری انشعاب برق",
    "agencies": ["شرکت توزیع برق استان"],
    "mobile": "09121234567",
}


async def _problem_in_review(steps):
    case = await steps.start(INVESTOR, "investment-employment-02", PROBLEM)
    return await steps.act(CLERK, case, "start-review")


async def test_an_investors_problem_resolved_with_the_agencies(steps):
    case = await _problem_in_review(steps)
    assert case.definition == "investor-problem-resolution"
    case = await steps.act(CLERK, case, "refer-to-agencies", referred_to=["شرکت توزیع برق استان"])
    case = await steps.act(CLERK, case, "record-answers", answers=[{"agency": "شرکت توزیع برق", "answer": "انشعاب واگذار شد"}])
    case = await steps.act(HEAD, case, "resolve", resolution="انشعاب برق واگذار شد")
    assert (case.state, case.outcome) == ("resolved", "delivered")


async def test_an_investors_problem_clarified_closed_unresolved_or_withdrawn(steps):
    case = await _problem_in_review(steps)
    case = await steps.act(CLERK, case, "request-correction", "نشانی طرح را بنویسید")
    case = await steps.act(INVESTOR, case, "resubmit")
    case = await steps.act(CLERK, case, "start-review")
    with pytest.raises(InvalidArgument, match="needs a comment"):
        await steps.act(HEAD, case, "close-unresolved", reason="خارج از اختیار استان")
    case = await steps.act(HEAD, case, "close-unresolved", "به وزارتخانه ارجاع شد", reason="خارج از اختیار استان")
    assert (case.state, case.outcome) == ("unresolved", "closed")
    case = await steps.start(INVESTOR, "investor-problem-resolution", PROBLEM)
    assert (await steps.act(INVESTOR, case, "withdraw")).outcome == "withdrawn"


async def test_investor_problem_guards_and_sla(engine, clock, steps):
    case = await _problem_in_review(steps)
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(CLERK, case, "refer-to-agencies")
    broken(caught, "agencies-named", "seed 001 l.274")
    case = await steps.act(CLERK, case, "refer-to-agencies", referred_to=["شرکت توزیع برق استان"])
    with pytest.raises(InvalidArgument) as caught:
        await steps.act(CLERK, case, "record-answers", answers=[{"answer": "در دست اقدام"}])
    broken(caught, "answer-names-agency", "platform default")
    await breach(engine, clock, case, 11)
