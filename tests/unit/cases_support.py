"""What the case-engine tests share: a controllable clock, actors, an engine on a freshly migrated
database, counting rows and events, and the short steps that walk a case.

The fixtures built on these (``clock``, ``book``, ``engine``, ``steps``) live in ``conftest.py`` next
to this file; a test module names its service in ``SERVICE``.
"""

from __future__ import annotations

import asyncio
import itertools
import mimetypes
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from ostan.common.v1 import events_pb2
from ostan_devstack.agency_keys import AgencyKeyring
from ostan_kit.cases.documents import LocalDocumentStore
from ostan_kit.cases.engine import CaseEngine
from ostan_kit.cases.issued import Issuer, ensure_issuing_key
from ostan_kit.catalogue.entries import CatalogueEntry, load_catalogue
from ostan_kit.inquiries.outbound import AnswerIntake, load_outbound
from ostan_kit.inquiries.signatures import AgencyKeys
from ostan_kit.persistence.db import Database
from ostan_kit.persistence.migrations import upgrade
from ostan_kit.persistence.models import CaseHistoryRow, CaseInquiryRow, CaseRow, OutboxRow
from ostan_kit.processes.definitions import ProcessBook, load_processes
from ostan_kit.security.actors import Actor
from ostan_kit.text.workdays import WorkingCalendar
from tests.conftest import service_package

PDF = b"%PDF-1.4 document"
# Saturday 2026-04-18 09:00 in Tehran (1405/01/29): an ordinary working day.
SATURDAY = datetime(2026, 4, 18, 5, 30, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand: ``clock.now += timedelta(days=3)``."""

    def __init__(self, at: datetime = SATURDAY) -> None:
        self.now = at

    def __call__(self) -> datetime:
        return self.now


# -- actors ------------------------------------------------------------------------------------


def staff(subject: str, office: str, *roles: str, name: str = "") -> Actor:
    """A member of ``office``'s staff holding ``roles`` (named after the subject unless ``name``)."""
    return Actor(subject, "staff", name or subject, frozenset(roles), office=office)


def citizen(national_code: str, name: str = "شهروند") -> Actor:
    """A citizen applying for themselves."""
    return Actor(national_code, "citizen", name, frozenset({"applicant"}))


# -- a service's definitions and an engine on a migrated database ------------------------------


def service_folder(service: str) -> Path:
    return service_package(service)


@cache
def service_book(service: str) -> ProcessBook:
    """The service's process definitions, read once: they are immutable data."""
    return load_processes(service_folder(service) / "processes")


@cache
def service_catalogue(service: str) -> tuple[CatalogueEntry, ...]:
    return tuple(load_catalogue(service_folder(service) / "catalogue"))


@cache
def _template_folder() -> tempfile.TemporaryDirectory:
    """Where the migrated templates live; removed when the test session ends."""
    return tempfile.TemporaryDirectory(prefix="ostan-migrated-")


@cache
def _sqlite_template(service: str) -> Path:
    """The service's schema, migrated once per session into an SQLite file that each test copies."""
    path = Path(_template_folder().name) / f"{service}.db"
    upgrade(service_folder(service) / "migrations", f"sqlite+aiosqlite:///{path}")
    return path


async def migrate(service: str, database_url: str) -> None:
    """Give ``database_url`` the service's schema: a copy of the migrated SQLite template, or (on
    PostgreSQL) the migrations run afresh."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        template = await asyncio.to_thread(_sqlite_template, service)
        shutil.copyfile(template, url.database)
    else:
        await asyncio.to_thread(upgrade, service_folder(service) / "migrations", database_url)


async def make_engine(
    service: str, database_url: str, tmp_path: Path, clock: Clock, processes: ProcessBook | None = None
) -> CaseEngine:
    """The service's case engine on a migrated database, with its own processes unless
    ``processes``, documents under ``tmp_path`` and Friday closed. The caller closes
    ``engine.database``."""
    await migrate(service, database_url)
    return CaseEngine(
        service,
        Database(database_url),
        processes if processes is not None else service_book(service),
        list(service_catalogue(service)),
        LocalDocumentStore(tmp_path / "documents"),
        WorkingCalendar.from_names(["friday"]),
        clock=clock,
        issuer=Issuer.configured(path=ensure_issuing_key(tmp_path / "keys", service)),
        outbound=load_outbound(service_folder(service) / "inquiries", processes or service_book(service)),
    )


# The agencies' signing keys in the unit tests (in memory), and the public keys services trust.
AGENCY_KEYRING = AgencyKeyring(None)
TRUSTED_AGENCY_KEYS = AgencyKeys.from_document(AGENCY_KEYRING.document())


def signed_answer(
    request_id: str, agency: str, verdict: str, body: dict | None = None, keyring: AgencyKeyring = AGENCY_KEYRING
) -> events_pb2.InquiryAnswered:
    """An agency's answer signed as the simulator signs it: the request, agency, verdict and body."""
    claims = {"request_id": request_id, "agency": agency, "verdict": verdict, "answer": body or {}}
    answer = events_pb2.InquiryAnswered(
        request_id=request_id, agency=agency, verdict=verdict, signature=keyring.sign(agency, claims)
    )
    if body:
        answer.answer.update(body)
    return answer


def answer_intake(engine: CaseEngine) -> AnswerIntake:
    """The engine's service's intake of answers, trusting the unit tests' agency keys."""
    return AnswerIntake(engine.service, engine.database, engine.clock, TRUSTED_AGENCY_KEYS)


async def answer_inquiries(engine: CaseEngine, code: str, verdicts: dict[str, str] | None = None) -> list[str]:
    """The agencies answer the case's waiting inquiries, as the simulator would: ``positive``
    unless ``verdicts`` names the agency (``silent`` for no answer). What each recording said."""
    intake = answer_intake(engine)
    async with engine.database.session() as session:
        case_id = await session.scalar(select(CaseRow.id).where(CaseRow.code == code))
        waiting = (
            await session.scalars(
                select(CaseInquiryRow).where(CaseInquiryRow.case_id == case_id, CaseInquiryRow.answered_at.is_(None))
            )
        ).all()
    outcomes = []
    for row in waiting:
        verdict = (verdicts or {}).get(row.agency, "positive")
        if verdict == "silent":
            continue
        outcomes.append(await intake.record_answer(signed_answer(row.request_id, row.agency, verdict)))
    return outcomes


# -- what the engine wrote ---------------------------------------------------------------------


async def count_rows(engine: CaseEngine, table, *where) -> int:
    async with engine.database.session() as session:
        return await session.scalar(select(func.count()).select_from(table).where(*where))


async def written(engine: CaseEngine) -> int:
    """Cases and history entries together: what any change writes."""
    return await count_rows(engine, CaseHistoryRow) + await count_rows(engine, CaseRow)


async def event_subjects(engine: CaseEngine) -> list[str]:
    """The subjects of the events in the outbox, oldest first."""
    async with engine.database.session() as session:
        return list(await session.scalars(select(OutboxRow.subject).order_by(OutboxRow.created_at, OutboxRow.id)))


# -- walking a case ----------------------------------------------------------------------------

_keys = itertools.count()


def key() -> str:
    """A fresh idempotency key."""
    return f"k{next(_keys)}"


async def start(engine: CaseEngine, actor: Actor, process: str, form: dict):
    return (await engine.start(actor, process, form, key())).message


async def step(engine: CaseEngine, actor: Actor, case, action: str, comment: str = "", **data):
    """``action`` on the case at its current version."""
    return (await engine.act(actor, case.code, action, case.version, comment, data, key())).message


async def attach(engine: CaseEngine, actor: Actor, case, *kinds: str, content_type="application/pdf", content=PDF):
    """Attach one document of each kind; the case as it is after the last."""
    extension = mimetypes.guess_extension(content_type) or ""
    for kind in kinds:
        answer = await engine.attach(actor, case.code, kind, f"{kind}{extension}", content_type, content, key())
        case = answer.message.case
    return case


class Steps:
    """Short calls on one engine, each with its own idempotency key."""

    def __init__(self, engine: CaseEngine) -> None:
        self.engine = engine

    async def start(self, actor, process, form):
        return await start(self.engine, actor, process, form)

    async def act(self, actor, case, action, comment="", **data):
        return await step(self.engine, actor, case, action, comment, **data)

    async def attach(self, actor, case, *kinds, content_type="application/pdf", content=PDF):
        return await attach(self.engine, actor, case, *kinds, content_type=content_type, content=content)


async def breach(engine: CaseEngine, clock: Clock, case, days: float, viewer: Actor, role: str = "supervisor"):
    """Move the clock ``days`` on and fire the due timers: the case, as ``viewer`` sees it, is
    breached and escalated to ``role``."""
    clock.now += timedelta(days=days)
    assert await engine.fire_due_timers() >= 1
    escalated = await engine.get(viewer, case.code)
    assert escalated.breached and escalated.assigned_role == role
    return escalated


# -- refusals ----------------------------------------------------------------------------------


def refusal(caught) -> str:
    """A refusal's message and its violations, as one text."""
    return str(caught.value) + " | " + " ".join(v.description for v in caught.value.violations)


def broken(caught, rule: str, source: str) -> None:
    """The refusal names the rule and its source."""
    message = caught.value.message
    assert f"rule {rule};" in message, message
    assert source in message, message
