"""The database chassis on PostgreSQL (OSTAN_TEST_DATABASE_URL): no ping before each use, and a
pooled connection that died meanwhile (here cut by ``pg_terminate_backend``) costs a retry on a
fresh one, never an error, when nothing had been done on it yet; once work was done, a cut
connection is an error and nothing of the work is kept."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ostan_kit.persistence.db import Database
from tests.conftest import POSTGRES

pytestmark = pytest.mark.skipif(not POSTGRES, reason="needs PostgreSQL (OSTAN_TEST_DATABASE_URL)")


def terminate(database_url: str, pid: int) -> None:
    """Cut one server process's connection, from outside, as a restart or a proxy would."""
    admin = create_engine(make_url(database_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    admin.dispose()


async def backend(database: Database) -> int:
    async def pid(session) -> int:
        return await session.scalar(text("SELECT pg_backend_pid()"))

    return await database.run(pid, write=False)


@pytest.fixture
async def database(database_url):
    database = Database(database_url)
    await database.run(lambda session: session.execute(text("CREATE TABLE steps (id INTEGER PRIMARY KEY)")))
    yield database
    await database.close()


async def rows(database: Database) -> list[int]:
    async def read(session) -> list[int]:
        return list(await session.scalars(text("SELECT id FROM steps ORDER BY id")))

    return await database.run(read, write=False)


async def test_a_connection_cut_in_the_pool_is_replaced_and_the_work_runs_once(database, database_url):
    assert not database.engine.pool._pre_ping  # no round trip before each use
    for number in (1, 2):
        terminate(database_url, await backend(database))
        calls = []

        async def insert(session, number=number, calls=calls) -> None:
            calls.append(number)
            await session.execute(text("INSERT INTO steps (id) VALUES (:id)"), {"id": number})

        await database.run(insert)
        # The first try failed at its first statement; only the second did anything.
        assert calls == [number, number]
    assert await rows(database) == [1, 2]
    terminate(database_url, await backend(database))
    assert await rows(database) == [1, 2]  # reads recover alike


async def test_a_connection_cut_after_work_was_done_is_an_error_and_keeps_nothing(database, database_url):
    calls = 0

    async def insert_then_cut(session) -> None:
        nonlocal calls
        calls += 1
        await session.execute(text("INSERT INTO steps (id) VALUES (3)"))
        terminate(database_url, await session.scalar(text("SELECT pg_backend_pid()")))
        await session.execute(text("INSERT INTO steps (id) VALUES (4)"))

    with pytest.raises(DBAPIError):
        await database.run(insert_then_cut)
    assert calls == 1
    assert await rows(database) == []
