"""What a case step asks of its database: connections checked out and round trips (BEGIN, each
statement, COMMIT or ROLLBACK), counted by SQLAlchemy's event listeners on the engine, on SQLite
and on PostgreSQL (OSTAN_TEST_DATABASE_URL). The bounds are what the engine achieves: a change
that makes a step talk to its database more often fails here.

The statements themselves are recorded, so a failure shows what a step said."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import event

from ostan.foreign_nationals.v1 import forms_pb2  # noqa: F401 — registers the form
from ostan_kit.cases.engine import CaseEngine
from tests.unit.cases_support import staff

SERVICE = "foreign-nationals"
PROCESS = "residence-document-extension"
FORM = {
    "full_name": "محمد رضایی",
    "father_name": "علی",
    "nationality": "AFG",
    "document_type": "RESIDENCE_DOCUMENT_TYPE_HOVIYAT",
    "document_number": "12345678",
    "document_expires_on": "1405/09/01",
    "mobile": "09121234567",
    "address": "قزوین",
}
CLERK = staff("clerk-1", "foreign-nationals", "clerk", name="سارا احمدی")
PDF = b"%PDF-1.4 residence document"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF photo"

# (checkouts, round trips) at most, per step (a replay reads the case to authorise its caller):
# on PostgreSQL the staged inserts of a step are
# one statement; SQLite (no data-modifying CTEs, and no network between) makes one per table.
# A step's audit record costs no round trip of its own: it is chained onto the head by the staged
# statement (PostgreSQL) or by one INSERT … SELECT in place of the old case_audit insert (SQLite).
# A staff member's read of a case is recorded in the audit chain (issue 10), so the clerk's get is
# a write: on PostgreSQL one statement after the read (atomic by itself, still no BEGIN), on
# SQLite the read and the record in one write transaction (COMMIT in place of ROLLBACK). A get
# reads the case with its documents and comments in one statement.
BOUNDS = {
    "postgresql": {"start": (1, 6), "act": (1, 7), "attach": (1, 7), "get": (1, 2), "replay": (1, 4)},
    "sqlite": {"start": (1, 10), "act": (1, 11), "attach": (1, 11), "get": (1, 4), "replay": (1, 4)},
}


@dataclass
class Talk:
    checkouts: int = 0
    said: list[str] = field(default_factory=list)

    @property
    def round_trips(self) -> int:
        return len(self.said)

    def __str__(self) -> str:
        return f"{self.checkouts} checkout(s), {self.round_trips} round trips:\n  " + "\n  ".join(self.said)


@contextlib.contextmanager
def listening(engine: CaseEngine) -> Iterator[Talk]:
    talk = Talk()
    sync_engine = engine.database.engine.sync_engine

    def checkout(*_args) -> None:
        talk.checkouts += 1

    def transactional(connection) -> bool:
        # In autocommit the driver sends no BEGIN, COMMIT or ROLLBACK, though SQLAlchemy tells of them.
        return connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT"

    def begin(connection) -> None:
        if transactional(connection):
            talk.said.append("BEGIN")

    def statement(_connection, _cursor, sql, parameters, _context, many) -> None:
        talk.said.append(" ".join(sql.split())[:100] + (" (many)" if many else ""))

    def commit(connection) -> None:
        if transactional(connection):
            talk.said.append("COMMIT")

    def rollback(connection) -> None:
        if transactional(connection):
            talk.said.append("ROLLBACK")

    listeners = [
        (sync_engine.pool, "checkout", checkout),
        (sync_engine, "begin", begin),
        (sync_engine, "before_cursor_execute", statement),
        (sync_engine, "commit", commit),
        (sync_engine, "rollback", rollback),
    ]
    for target, name, function in listeners:
        event.listen(target, name, function)
    try:
        yield talk
    finally:
        for target, name, function in listeners:
            event.remove(target, name, function)


def within(step: str, talk: Talk, engine: CaseEngine) -> None:
    checkouts, round_trips = BOUNDS[engine.database.engine.dialect.name][step]
    print(f"{step}: {talk}")
    assert talk.checkouts <= checkouts and talk.round_trips <= round_trips, f"{step}: {talk}"


async def test_each_step_talks_to_its_database_a_bounded_number_of_times(engine):
    # The first start of a year opens its sequence and warms the caches: not counted.
    await engine.start(CLERK, PROCESS, FORM, "warm-up")

    with listening(engine) as talk:
        case = (await engine.start(CLERK, PROCESS, FORM, "start")).message
    within("start", talk, engine)

    with listening(engine) as talk:
        answer = await engine.attach(CLERK, case.code, "residence-document-scan", "scan.pdf", "application/pdf", PDF, "a1")
    within("attach", talk, engine)
    case = (await engine.attach(CLERK, case.code, "photo", "photo.jpg", "image/jpeg", JPEG, "a2")).message.case
    assert answer.message.document.kind == "residence-document-scan"

    with listening(engine) as talk:
        acted = (await engine.act(CLERK, case.code, "start-review", case.version, "", {}, "act")).message
    within("act", talk, engine)
    assert acted.state == "under-review" and len(acted.documents) == 2

    with listening(engine) as talk:
        seen = await engine.get(CLERK, case.code)
    within("get", talk, engine)
    assert seen == acted

    with listening(engine) as talk:
        replay = await engine.act(CLERK, case.code, "start-review", case.version, "", {}, "act")
    within("replay", talk, engine)
    assert replay.replayed and replay.message == acted
