"""The service's own database: SQLAlchemy 2 async, an SQLite file by default, PostgreSQL by URL.

A pooled connection is not pinged before each use (that is a round trip, three on asyncpg, per
checkout). A connection that died while it sat in the pool (the server restarted, a proxy or
``pg_terminate_backend`` cut it) fails at its first statement instead; the pool drops it, and
``Database.run`` runs the work once more on a fresh connection when nothing had been done yet.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any, Protocol, TypeVar

import orjson
from sqlalchemy import CTE, Executable, Insert, Table, bindparam, event, insert, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from ostan_kit.runtime.telemetry import instrument_database


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


# JSON columns (case data, audit details, answers) are written and read with orjson: the standard
# library's encoder was a twentieth of a busy service's CPU.
def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # what orjson refuses (an integer beyond 64 bits) the library takes
        return json.dumps(value, ensure_ascii=False)


JSON_CODEC = {"json_serializer": _json_text, "json_deserializer": orjson.loads}
# Connections kept open: a call beyond them opens (and, returned, closes) one of its own, which costs
# a connection set-up and every statement prepared afresh. With five, sixteen concurrent calls to one
# worker spent a few percent of its CPU opening connections (bench/steps.py --profile).
POOL_SIZE = 10
MAX_OVERFLOW = 10


def sha256_hex(value: str | None) -> str | None:
    """SHA-256 of text's UTF-8, in hex: SQLite's ``ostan_sha256()``."""
    return None if value is None else hashlib.sha256(value.encode()).hexdigest()


def create_engine(url: str) -> AsyncEngine:
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **JSON_CODEC)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(connection, _record) -> None:  # noqa: ANN001 — DBAPI objects
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
            # PostgreSQL has sha256(); SQLite gets it here (the audit chain hashes in its statements).
            connection.create_function("ostan_sha256", 1, sha256_hex, deterministic=True)

        return engine
    engine = create_async_engine(url, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW, **JSON_CODEC)
    _mark_retryable_disconnects(engine)
    return engine


T = TypeVar("T")
# How many statements have completed on a connection since it was checked out.
_DONE = "ostan_statements_done"


def _mark_retryable_disconnects(engine: AsyncEngine) -> None:
    """A disconnect at a checkout's first statement is marked ``nothing_done``: the server has
    nothing of that transaction, so running the work again on a fresh connection is safe."""

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _checked_out(_dbapi_connection, record, _proxy) -> None:  # noqa: ANN001
        record.info[_DONE] = 0

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _done(connection, *_args) -> None:  # noqa: ANN001
        connection.info[_DONE] = connection.info.get(_DONE, 0) + 1

    @event.listens_for(engine.sync_engine, "handle_error")
    def _disconnected(context: ExceptionContext) -> None:
        if context.is_disconnect and context.connection is not None and context.sqlalchemy_exception is not None:
            try:
                done = context.connection.info.get(_DONE, 0)
            except Exception:  # an invalidated connection has no info left to read: assume work
                done = 1
            context.sqlalchemy_exception.nothing_done = done == 0  # type: ignore[union-attr]


def nothing_done(error: BaseException) -> bool:
    """A disconnect before the transaction had done anything (see ``Database.run``)."""
    return isinstance(error, DBAPIError) and error.connection_invalidated and getattr(error, "nothing_done", False)


# Rows a transaction will insert, kept in its session's info until just before it commits.
_STAGED = "ostan_staged_rows"
# Writes that follow from what the database holds when the transaction writes (the audit chain's
# next records follow its head), by kind, kept beside the staged rows.
_FOLLOWING = "ostan_following_writes"


def stage(session: AsyncSession, table: Table, values: dict[str, Any]) -> None:
    """Insert ``values`` into ``table`` with the transaction, without the ORM's unit of work:
    the staged rows of a transaction go to the database together, before it commits, in one
    statement on PostgreSQL (data-modifying CTEs), one per table on SQLite."""
    session.info.setdefault(_STAGED, []).append((table, values))


class Following(Protocol):
    """Staged writes that are not plain rows: they are computed by the database from what it
    holds when the transaction writes, so that no read has to come first."""

    def shape(self) -> Hashable:
        """What ``postgresql()``'s statement depends on besides its bound values."""
        ...

    def parameters(self) -> dict[str, Any]:
        """The values ``postgresql()``'s statement binds, by name."""
        ...

    def postgresql(self) -> tuple[list[CTE], Insert]:
        """Data-modifying CTEs, then the insert that uses them (a CTE of the one statement too),
        their values bound by name (see ``parameters``)."""
        ...

    def sqlite(self) -> tuple[Executable, list[dict[str, Any]]]:
        """One statement and its parameter sets (executed as many)."""
        ...


F = TypeVar("F", bound=Following)


def following(session: AsyncSession, kind: str, make: Callable[[], F]) -> F:
    """The transaction's staged writes of ``kind`` (made when the first is staged)."""
    writes = session.info.setdefault(_FOLLOWING, {})
    if kind not in writes:
        writes[kind] = make()
    return writes[kind]


# The one statement of a transaction's staged writes, by its shape (which writes, which tables and
# columns in which order): a step's few shapes are built once, their values bound, instead of a
# statement of literal values built, keyed and parameterised afresh each time.
STATEMENT_SHAPES = 256
_STATEMENTS: dict[Hashable, Insert] = {}


def _staged_statement(writes: list[Following], staged: list[tuple[Table, dict[str, Any]]]) -> Insert:
    """One statement, a CTE per row: single-row inserts keep the statement's compiled form
    cacheable (multi-row VALUES in a CTE are compiled afresh each time)."""
    ctes: list[CTE] = []
    last: Insert | None = None
    for write in writes:
        before, then = write.postgresql()
        if last is not None:
            ctes.append(last.cte(f"following_{len(ctes)}"))
        ctes.extend(before)
        last = then
    for number, (table, values) in enumerate(staged):
        if last is not None:
            ctes.append(last.cte(f"staged_{len(ctes)}"))
        last = insert(table).values(
            {name: bindparam(f"staged_{number}_{name}", type_=table.c[name].type) for name in values}
        )
    assert last is not None
    for cte in ctes:
        last = last.add_cte(cte)
    return last


async def write_staged(session: AsyncSession) -> None:
    staged: list[tuple[Table, dict[str, Any]]] = session.info.pop(_STAGED, [])
    writes: list[Following] = list(session.info.pop(_FOLLOWING, {}).values())
    if not staged and not writes:
        return
    if session.bind.dialect.name == "postgresql":
        shape = (tuple(write.shape() for write in writes), tuple((table, tuple(values)) for table, values in staged))
        statement = _STATEMENTS.get(shape)
        if statement is None:
            statement = _STATEMENTS[shape] = _staged_statement(writes, staged)
            if len(_STATEMENTS) > STATEMENT_SHAPES:
                _STATEMENTS.pop(next(iter(_STATEMENTS)))
        parameters: dict[str, Any] = {}
        for write in writes:
            parameters.update(write.parameters())
        for number, (_, values) in enumerate(staged):
            parameters.update({f"staged_{number}_{name}": value for name, value in values.items()})
        await session.execute(statement, parameters)
        return
    # In the order staged, rows of one table in a run together.
    runs: list[tuple[Table, list[dict[str, Any]]]] = []
    for table, values in staged:
        if runs and runs[-1][0] is table:
            runs[-1][1].append(values)
        else:
            runs.append((table, [values]))
    for table, rows in runs:
        await session.execute(insert(table), rows)
    for write in writes:
        statement, parameters = write.sqlite()
        await session.execute(statement, parameters)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = is_sqlite(url)  # asked on hot paths: the URL is parsed once
        self.engine = create_engine(url)
        instrument_database(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Reads outside a write need no transaction of their own on PostgreSQL: no BEGIN and
        # ROLLBACK around them (SQLite reads without one anyway).
        reader = self.engine if self.is_sqlite else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.reads = async_sessionmaker(reader, expire_on_commit=False)
        # SQLite has one writer per file, and only this process writes to it: writers queue
        # here rather than in SQLite's busy handler, whose sleeps grow to 100 ms at a time.
        self._writer = asyncio.Lock() if self.is_sqlite else None

    def session(self) -> AsyncSession:
        return self.sessions()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction that commits on leaving (rolls back on an error)."""
        async with self._writer or nullcontext(), self.sessions() as session, session.begin():
            yield session
            await write_staged(session)

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]], *, write: bool = True) -> T:
        """``work`` in one session (a transaction that commits when ``write``), on one checkout;
        run once more on a fresh connection if the first found its connection dead before doing
        anything."""
        for attempt in range(2):
            try:
                if write:
                    async with self.transaction() as session:
                        return await work(session)
                async with self.reads() as session:
                    return await work(session)
            except DBAPIError as error:
                if attempt or not nothing_done(error):
                    raise
        raise AssertionError("unreachable")

    async def run_recorded(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """``work`` reads and stages what records the read (a staff read's audit record). On
        PostgreSQL the reads need no transaction (as ``run(write=False)``) and the staged writes
        follow them as one statement, atomic on its own; SQLite, with no such statement, runs
        it all as one write transaction."""
        if self.is_sqlite:
            return await self.run(work)

        async def then_record(session: AsyncSession) -> T:
            result = await work(session)
            await write_staged(session)
            return result

        return await self.run(then_record, write=False)

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """Work that one process at a time may do on this database (the outbox relay's round,
        firing timers), when the service runs several workers. On SQLite, a lock file beside
        the database, released by the kernel if its holder dies; PostgreSQL needs none (its
        work claims rows with FOR UPDATE SKIP LOCKED)."""
        database = make_url(self.url).database if self.is_sqlite else None
        if not database or database == ":memory:":
            yield
            return
        descriptor = os.open(f"{database}.{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(0.01)
            yield
        finally:
            os.close(descriptor)  # closing releases the lock

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            return True
        except Exception:  # any failure means "unreachable" to the health service
            return False

    async def close(self) -> None:
        await self.engine.dispose()
