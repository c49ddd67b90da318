"""The tables every service has: its cases, their history, the outbox and idempotency keys.

Each service's own Alembic history creates them (``ostan_kit.persistence.migrations``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class CaseRow(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    process: Mapped[str] = mapped_column(String(100))
    process_version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    definition: Mapped[str] = mapped_column(String(100))
    # The office (catalogue slug) whose staff work the case.
    office: Mapped[str] = mapped_column(String(64))
    applicant_id: Mapped[str] = mapped_column(String(64))
    applicant_name: Mapped[str] = mapped_column(String(200))
    assigned_role: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The version at which the case entered its state: a timer of an older stay is stale.
    state_version: Mapped[int] = mapped_column(Integer)
    state_entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    process_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    breached: Mapped[bool] = mapped_column(Boolean)
    # The case that follows this one up (a resolution's meeting); none for a case of its own.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True, index=True)

    __table_args__ = (
        Index("ix_cases_process_state", "process", "state"),
        Index("ix_cases_inbox", "office", "assigned_role", "state_due_at"),
        Index("ix_cases_applicant", "applicant_id"),
    )


class CaseHistoryRow(Base):
    __tablename__ = "case_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    event: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str] = mapped_column(String(64))
    to_state: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    action: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)


class CaseSequenceRow(Base):
    """The next tracking-code sequence number per Jalali year."""

    __tablename__ = "case_sequences"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    next_value: Mapped[int] = mapped_column(Integer)


class IdempotencyRow(Base):
    """The first answer to a mutating call, returned again for the same caller and key.

    A key belongs to its caller (``kind:subject``): the same key from another caller is another
    request, never a replay of this one."""

    __tablename__ = "idempotency_keys"

    caller: Mapped[str] = mapped_column(String(150), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    operation: Mapped[str] = mapped_column(String(100))
    request_hash: Mapped[str] = mapped_column(String(64))
    case_code: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The serialised first answer, returned again on a replay.
    response: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class OutboxRow(Base):
    """An event committed with the change it reports, waiting for the relay to publish it."""

    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255))
    headers: Mapped[dict] = mapped_column(JSON)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_outbox_unpublished", "published_at", "created_at"),)


class CaseDocumentRow(Base):
    __tablename__ = "case_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    attached_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attached_by: Mapped[str] = mapped_column(String(64))


class CaseCommentRow(Base):
    __tablename__ = "case_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    author_id: Mapped[str] = mapped_column(String(64))
    author_role: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CaseTimerRow(Base):
    """An SLA warning or breach, due at ``fire_at``; fired once, by the service itself."""

    __tablename__ = "case_timers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    # state-warning, state-breach, process-warning or process-breach
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(64))
    state_version: Mapped[int] = mapped_column(Integer)
    fire_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    fired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_case_timers_due", "fired_at", "fire_at"),)


class IssuedDocumentRow(Base):
    """What a granted case issued (a permit, licence, card or certificate), as signed by the
    service: the record is what the signature covers, and what verification shows."""

    __tablename__ = "issued_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    # The signed record: code, service, process, kind, titles, office, fields, dates.
    record: Mapped[dict] = mapped_column(JSON)
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[str] = mapped_column(String(128))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_by: Mapped[str] = mapped_column(String(64), default="")
    revoked_reason: Mapped[str] = mapped_column(Text, default="")


class AuditRecordRow(Base):
    """One record of the service's hash-chained audit log (``ostan_kit.audit``): append only."""

    __tablename__ = "audit_log"

    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # e.g. case.transition, case.read, inquiry.answered, inquiry.refused
    kind: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(200))
    # What the record is about: a case code, or an inquiry type and its subject.
    about: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict] = mapped_column(JSON)
    previous_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The chain's head: one row, moved by every append (whose update of it serialises appends)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sequence: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    # The hash the head had before its last move, which the records of that move chain from.
    previous_hash: Mapped[str] = mapped_column(String(64))
    published_sequence: Mapped[int] = mapped_column(Integer)


class CaseInquiryRow(Base):
    """An inquiry a case step sent to an agency, and its answer once it came (late or not)."""

    __tablename__ = "case_inquiries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    inquiry: Mapped[str] = mapped_column(String(100))
    agency: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(36), unique=True)
    subjects: Mapped[list] = mapped_column(JSON)
    # The state the case waited in for the answer.
    state: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # positive, negative or refused
    verdict: Mapped[str | None] = mapped_column(String(16), nullable=True)
    answer: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    signature: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Answered after the case left the state that waited for it.
    late: Mapped[bool] = mapped_column(Boolean, default=False)


class InboxRow(Base):
    """An event a consumer has applied, recorded in the same transaction as its effect: the same
    ``ce-id`` delivered again (a redelivery, or a republish after the duplicate window) is skipped."""

    __tablename__ = "event_inbox"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(255))
    stream_sequence: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
