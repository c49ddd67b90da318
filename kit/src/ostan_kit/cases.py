"""Cases: one application or one run of a process, started from a definition kept as data.

Starting a case is one transaction: the case, its first history row, its idempotency key and its
CloudEvent in the outbox commit together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ostan.common.v1 import events_pb2
from ostan_kit.db import Database
from ostan_kit.errors import FieldViolation, InvalidArgument, NotFound
from ostan_kit.models import CaseHistoryRow, CaseRow, CaseSequenceRow, IdempotencyRow
from ostan_kit.outbox import add_event
from ostan_kit.persian import jalali_year, to_jalali
from ostan_kit.processes import ProcessDefinition
from ostan_kit.registry import SERVICES
from ostan_kit.tracking import make_code, normalise_code

START_OPERATION = "start-case"
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class StartResult:
    case: CaseRow
    replayed: bool


def _request_hash(process: str, data: dict[str, Any]) -> str:
    canonical = json.dumps([process, data], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class CaseEngine:
    def __init__(self, service: str, database: Database, processes: dict[str, ProcessDefinition]) -> None:
        self.service = service
        self.prefix = SERVICES[service].code_prefix
        self.database = database
        self.processes = processes

    def definition(self, process: str) -> ProcessDefinition:
        try:
            return self.processes[process]
        except KeyError:
            known = ", ".join(sorted(self.processes)) or "none"
            raise InvalidArgument(
                f"the {self.service} service runs no process {process!r}",
                [FieldViolation("process", f"unknown process; this service runs: {known}")],
            ) from None

    async def start(self, process: str, data: dict[str, Any], idempotency_key: str) -> StartResult:
        key = idempotency_key.strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            raise InvalidArgument(
                "an idempotency key is required",
                [FieldViolation("idempotency_key", f"required, 1 to {MAX_KEY_LENGTH} characters")],
            )
        definition = self.definition(process)
        stored = definition.validate(data)
        request_hash = _request_hash(process, data)
        replay = await self._replay(key, request_hash)
        if replay is not None:
            return replay
        for attempt in range(3):
            try:
                return StartResult(await self._insert(definition, stored, key, request_hash), False)
            except IntegrityError:
                # Either the same key committed concurrently (answer as its replay) or two
                # starts raced to open a new year's sequence (try again).
                replay = await self._replay(key, request_hash)
                if replay is not None:
                    return replay
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _replay(self, key: str, request_hash: str) -> StartResult | None:
        async with self.database.session() as session:
            row = await session.get(IdempotencyRow, key)
            if row is None:
                return None
            if row.request_hash != request_hash or row.operation != START_OPERATION:
                raise InvalidArgument(
                    "the idempotency key was used for a different request",
                    [FieldViolation("idempotency_key", "already used with another request")],
                )
            case = await session.scalar(select(CaseRow).where(CaseRow.code == row.case_code))
            assert case is not None, "an idempotency key always commits with its case"
            return StartResult(case, replayed=True)

    async def _insert(
        self, definition: ProcessDefinition, stored: dict[str, Any], key: str, request_hash: str
    ) -> CaseRow:
        now = datetime.now(UTC)
        async with self.database.session() as session, session.begin():
            year = jalali_year(now)
            code = make_code(self.prefix, year, await self._next_sequence(session, year))
            case = CaseRow(
                code=code,
                process=definition.slug,
                process_version=definition.version,
                state=definition.start.state,
                data=stored,
                version=1,
                created_at=now,
                updated_at=now,
            )
            session.add(case)
            await session.flush()
            session.add(
                CaseHistoryRow(
                    case_id=case.id,
                    event=definition.start.event,
                    from_state="",
                    to_state=case.state,
                    actor_role=definition.start.role,
                    at=now,
                )
            )
            session.add(
                IdempotencyRow(
                    key=key,
                    operation=START_OPERATION,
                    request_hash=request_hash,
                    case_code=code,
                    created_at=now,
                )
            )
            event = events_pb2.CaseEvent(
                case_code=code,
                service=self.service,
                process=definition.slug,
                process_version=definition.version,
                event=definition.start.event,
                from_state="",
                to_state=case.state,
                actor_role=definition.start.role,
                occurred_at_jalali=to_jalali(now),
            )
            event.occurred_at.FromDatetime(now)
            event.data.update(stored)
            add_event(
                session,
                service=self.service,
                subject=f"ostan.{self.service}.{definition.slug}.{definition.start.event}",
                ce_subject=code,
                message=event,
                time=now,
            )
        return case

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

    async def get(self, code: str) -> CaseRow:
        try:
            code = normalise_code(code)
        except ValueError as error:
            raise InvalidArgument(str(error), [FieldViolation("code", str(error))]) from error
        async with self.database.session() as session:
            case = await session.scalar(select(CaseRow).where(CaseRow.code == code))
        if case is None:
            raise NotFound(f"no case {code} in the {self.service} service")
        return case
