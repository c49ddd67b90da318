"""How a case is shown: its rows as the messages of ostan.common.v1."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ostan.common.v1 import case_pb2
from ostan_kit.persistence.models import CaseCommentRow, CaseDocumentRow, CaseHistoryRow, CaseRow


def aware(instant: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; every instant here is UTC."""
    if instant is None or instant.tzinfo is not None:
        return instant
    return instant.replace(tzinfo=UTC)


async def case_view(session: AsyncSession, service: str, case: CaseRow, *, full: bool = True) -> case_pb2.Case:
    """The case; ``full`` adds its documents and comments (one query each)."""
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
    if full:
        documents = await session.scalars(
            select(CaseDocumentRow).where(CaseDocumentRow.case_id == case.id).order_by(CaseDocumentRow.id)
        )
        message.documents.extend(document_message(row) for row in documents)
        comments = await session.scalars(
            select(CaseCommentRow).where(CaseCommentRow.case_id == case.id).order_by(CaseCommentRow.id)
        )
        for row in comments:
            comment = message.comments.add(
                author_id=row.author_id, author_role=row.author_role, text=row.text, action=row.action
            )
            comment.at.FromDatetime(aware(row.at))
    return message


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
