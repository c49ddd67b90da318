"""How a case is shown: its rows as the messages of ostan.common.v1."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace

from sqlalchemy import ColumnElement, Integer, Row, String, Subquery, bindparam, literal, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from ostan.common.v1 import case_pb2
from ostan_kit.persistence.models import CaseCommentRow, CaseDocumentRow, CaseHistoryRow, CaseRow


def aware(instant: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; every instant here is UTC."""
    if instant is None or instant.tzinfo is not None:
        return instant
    return instant.replace(tzinfo=UTC)


@dataclass
class Attachments:
    """A case's documents and comments, as shown."""

    documents: list[case_pb2.CaseDocument] = field(default_factory=list)
    comments: list[case_pb2.Comment] = field(default_factory=list)


def _shown(case_id: ColumnElement[int]) -> Subquery:
    """The documents and comments of the case ``case_id`` as rows of one shape; each part filters
    by it itself, so that each is read by its index."""
    d, c = CaseDocumentRow, CaseCommentRow
    documents = select(
        literal("document").label("what"), d.id.label("item"), d.kind.label("a"), d.filename.label("b"),
        d.content_type.label("c"), d.sha256.label("d"), d.attached_by.label("e"), d.size.label("n"),
        d.attached_at.label("at"),
    ).where(d.case_id == case_id)
    comments = select(
        literal("comment"), c.id, c.author_id, c.author_role, c.text, c.action,
        literal("", String), literal(0, Integer), c.at,
    ).where(c.case_id == case_id)
    return union_all(documents, comments).subquery("shown")


# Built once: every case view and every action reads one of them.
_CASES = CaseRow.__table__
_CASE_COLUMNS = tuple(column.name for column in _CASES.c)
_CASE_BY_CODE = select(_CASES).where(_CASES.c.code == bindparam("code"))
_CASE_FOR_UPDATE = _CASE_BY_CODE.with_for_update()
_BY_ID = _shown(bindparam("case_id"))
_ATTACHMENTS = select(_BY_ID).order_by(_BY_ID.c.what, _BY_ID.c.item)
# A case by its code with its documents and comments in one statement: a row per document and
# comment (one row without any), the case's columns on each. For reading only: a change locks the
# case first and reads its attachments after, because a statement that waited for the lock sees
# the case as the other transaction left it but the attachments as they were when it began.
_BY_CODE = _shown(select(_CASES.c.id).where(_CASES.c.code == bindparam("code")).scalar_subquery())
_CASE_SHOWN = (
    select(_CASES, _BY_CODE)
    .select_from(_CASES.outerjoin(_BY_CODE, true()))
    .where(_CASES.c.code == bindparam("code"))
    .order_by(_BY_CODE.c.what, _BY_CODE.c.item)
)


def _add(found: Attachments, row: Row) -> None:
    if row.what == "document":
        document = case_pb2.CaseDocument(
            kind=row.a, filename=row.b, content_type=row.c, size=row.n, sha256=row.d, attached_by=row.e
        )
        document.attached_at.FromDatetime(aware(row.at))
        found.documents.append(document)
    elif row.what == "comment":
        comment = case_pb2.Comment(author_id=row.a, author_role=row.b, text=row.c, action=row.d)
        comment.at.FromDatetime(aware(row.at))
        found.comments.append(comment)


async def attachments(session: AsyncSession, case_id: int) -> Attachments:
    """A case's documents and comments, oldest first, in one query."""
    found = Attachments()
    for row in await session.execute(_ATTACHMENTS, {"case_id": case_id}):
        _add(found, row)
    return found


async def case_by_code(session: AsyncSession, code: str, *, lock: bool = False) -> SimpleNamespace | None:
    """The case of ``code`` (its columns as plain attributes: no ORM identity map or unit of
    work), or None; ``lock`` takes its row lock (FOR UPDATE) for a change."""
    row = (await session.execute(_CASE_FOR_UPDATE if lock else _CASE_BY_CODE, {"code": code})).first()
    return SimpleNamespace(**row._mapping) if row is not None else None


async def case_with_attachments(session: AsyncSession, code: str) -> tuple[SimpleNamespace | None, Attachments]:
    """The case of ``code`` (its columns as plain attributes; None if there is none) and its
    documents and comments, read together in one round trip."""
    rows = (await session.execute(_CASE_SHOWN, {"code": code})).all()
    if not rows:
        return None, Attachments()
    found = Attachments()
    for row in rows:
        _add(found, row)
    first = rows[0]._mapping
    return SimpleNamespace(**{name: first[name] for name in _CASE_COLUMNS}), found


def case_message(service: str, case: CaseRow, shown: Attachments | None = None) -> case_pb2.Case:
    """The case; with ``shown``, its documents and comments too."""
    message = case_pb2.Case(
        code=case.code,
        service=service,
        process=case.process,
        process_version=case.process_version,
        definition=case.definition,
        state=case.state,
        version=case.version,
        applicant_id=case.applicant_id,
        applicant_name=case.applicant_name,
        assigned_role=case.assigned_role or "",
        outcome=case.outcome or "",
        breached=case.breached,
    )
    message.data.update(case.data)
    message.created_at.FromDatetime(aware(case.created_at))
    message.updated_at.FromDatetime(aware(case.updated_at))
    if case.state_due_at:
        message.state_due_at.FromDatetime(aware(case.state_due_at))
    if case.state_entered_at:
        message.state_entered_at.FromDatetime(aware(case.state_entered_at))
    if case.process_due_at:
        message.process_due_at.FromDatetime(aware(case.process_due_at))
    if shown is not None:
        message.documents.extend(shown.documents)
        message.comments.extend(shown.comments)
    return message


async def case_view(session: AsyncSession, service: str, case: CaseRow, *, full: bool = True) -> case_pb2.Case:
    """The case; ``full`` adds its documents and comments (one query)."""
    return case_message(service, case, await attachments(session, case.id) if full else None)


def document_message(row: CaseDocumentRow) -> case_pb2.CaseDocument:
    document = case_pb2.CaseDocument(
        kind=row.kind,
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        attached_by=row.attached_by,
    )
    document.attached_at.FromDatetime(aware(row.attached_at))
    return document


def history_entry(row: CaseHistoryRow) -> case_pb2.HistoryEntry:
    entry = case_pb2.HistoryEntry(
        event=row.event,
        action=row.action,
        from_state=row.from_state,
        to_state=row.to_state,
        actor_id=row.actor_id,
        actor_role=row.actor_role,
        comment=row.comment,
        version=row.version,
    )
    entry.at.FromDatetime(aware(row.at))
    return entry
