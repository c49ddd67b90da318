"""Child cases: cases another case's action opens and follows up, such as the resolutions of a
commission's meeting (kit's shared ``resolution`` definition, opened by the meeting's minutes).

A child is a case like any other (its own tracking code, history, audit, events, SLA timers), in
its parent's office, under the process ``<parent process>-<child definition>``, linked to the case
that follows it up by ``parent_id``. Everything here runs inside the parent's action, in its
transaction: the parent's change and its children's commit together or not at all, under the
parent action's idempotency key; a child that is moved to a later parent is advanced with its own
version guard.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ostan_kit.cases.deadlines import Deadlines
from ostan_kit.cases.records import Change, advance, record
from ostan_kit.persistence.db import is_sqlite
from ostan_kit.persistence.models import CaseRow
from ostan_kit.processes.definitions import Action, ProcessBook, ProcessDefinition, check_guards
from ostan_kit.runtime.errors import FieldViolation, InvalidArgument
from ostan_kit.text.persian import jalali_year
from ostan_kit.text.tracking import make_code

NextSequence = Callable[[AsyncSession, int], Awaitable[int]]


def child_process(parent: CaseRow, child: ProcessDefinition) -> str:
    return f"{parent.process}-{child.slug}"


class ChildCases:
    def __init__(
        self, service: str, prefix: str, database_url: str, book: ProcessBook, deadlines: Deadlines, sequence: NextSequence
    ) -> None:
        self.service = service
        self.prefix = prefix
        self.locking = not is_sqlite(database_url)
        self.book = book
        self.deadlines = deadlines
        self.sequence = sequence

    # -- opening ---------------------------------------------------------------------------
    def forms(self, case: CaseRow, action: Action, values: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
        """The checked form of each child ``action`` opens, or InvalidArgument naming the record:
        checked before anything is written."""
        opens = action.opens
        assert opens is not None
        child = self.book.children[opens.definition]
        forms = []
        for number, item in enumerate(values.get(opens.each) or [], start=1):
            record_ = item if isinstance(item, dict) else {}
            form = {name: value for name, value in record_.items() if name in child.fields}
            form |= {name: case.data.get(parent) for name, parent in opens.copies.items() if case.data.get(parent)}
            if opens.code_field:
                form[opens.code_field] = case.code
            if opens.number_field:
                form[opens.number_field] = number
            where = f"data.{opens.each}[{number - 1}]"
            try:
                stored = child.validate_form(form)
                check_guards(child.start.guards, stored, now)
            except InvalidArgument as error:
                raise InvalidArgument(
                    f"{opens.each} item {number}: {error.message}",
                    [FieldViolation(v.field.replace("data", where, 1), v.description) for v in error.violations],
                ) from error
            forms.append(stored)
        return forms

    async def open(
        self, session: AsyncSession, case: CaseRow, action: Action, forms: list[dict[str, Any]], change: Change
    ) -> list[CaseRow]:
        """One child case per form, each with its history, audit, event and timers."""
        assert action.opens is not None
        child = self.book.children[action.opens.definition]
        opened = []
        for form in forms:
            year = jalali_year(change.at)
            row = CaseRow(
                code=make_code(self.prefix, year, await self.sequence(session, year)),
                process=child_process(case, child),
                process_version=child.version,
                definition=child.slug,
                office=case.office,
                state=child.start.state,
                data=form,
                version=1,
                applicant_id=case.applicant_id,
                applicant_name=case.applicant_name,
                assigned_role=None,
                state_version=1,
                state_entered_at=change.at,
                state_due_at=None,
                process_due_at=self.deadlines.due(change.at, child.sla_days, child.sla_working_days),
                outcome=None,
                breached=False,
                created_at=change.at,
                updated_at=change.at,
                parent_id=case.id,
            )
            session.add(row)
            await session.flush()
            self.deadlines.enter_state(session, row, child, change.at)
            self.deadlines.start_process(session, row, child, change.at)
            opening = Change(change.actor, change.role, "start", child.start.event, "", change.at)
            await record(session, self.service, row, opening, {**form, "parent": case.code})
            opened.append(row)
        return opened

    # -- carrying open children forward ------------------------------------------------------
    async def open_of_earlier(self, session: AsyncSession, case: CaseRow, definition: ProcessDefinition) -> list[CaseRow]:
        """The open children of the earlier cases of ``case``'s process (a commission's earlier
        meetings), oldest first."""
        processes = [child_process(case, self.book.children[opens.definition]) for opens in definition.opens()]
        query = (
            select(CaseRow)
            .where(
                CaseRow.process.in_(processes),
                CaseRow.office == case.office,
                CaseRow.outcome.is_(None),
                CaseRow.parent_id.is_not(None),
                CaseRow.parent_id != case.id,
            )
            .order_by(CaseRow.id)
        )
        if self.locking:
            query = query.with_for_update()
        return list(await session.scalars(query))

    async def carry(self, session: AsyncSession, rows: list[CaseRow], case: CaseRow, change: Change) -> None:
        """Move each open child to ``case``, which follows it up from now on."""
        for row in rows:
            from_state = row.state
            await advance(session, row, change.at, parent_id=case.id, data={**row.data, "followed_up_by": case.code})
            carried = Change(change.actor, change.role, "carry-forward", "carried-forward", from_state, change.at)
            await record(session, self.service, row, carried, {"followed_up_by": case.code})

    # -- reporting ---------------------------------------------------------------------------
    async def of(self, session: AsyncSession, case: CaseRow) -> list[CaseRow]:
        return list(await session.scalars(select(CaseRow).where(CaseRow.parent_id == case.id).order_by(CaseRow.id)))


def summary(row: CaseRow) -> dict[str, Any]:
    """Where one child stands, as a report lists it: its code, what it is, who owns it by when,
    its state, whether it is overdue and the owner's report or reason."""
    data = row.data
    return {
        "case": row.code,
        "number": data.get("number", 0),
        "text": data.get("text", ""),
        "owner_role": data.get("owner_role", ""),
        "deadline": data.get("deadline", ""),
        "status": row.state,
        "open": row.outcome is None,
        "overdue": bool(row.breached),
        "reason": data.get("reason") or data.get("report") or "",
    }
