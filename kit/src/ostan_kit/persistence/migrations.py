"""Alembic for every service: one history per service, in its package's ``migrations`` folder.

A service's ``env.py`` is ``run_env()``; its revisions call the chassis steps defined here, so the
tables every service shares are written once and each service still owns its own history.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy.engine import Connection

from ostan_kit.persistence.db import create_engine
from ostan_kit.persistence.models import Base

# The PostgreSQL advisory lock a migration holds (each service has a database of its own).
MIGRATION_LOCK = 0x05741A


def alembic_config(migrations_dir: Path, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(migrations_dir: Path, url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``. Blocking: call it outside the event loop."""
    command.upgrade(alembic_config(migrations_dir, url), revision)


def run_env() -> None:
    """The body of every service's ``migrations/env.py``."""
    url = context.config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    def run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # The pods of a new version migrate as they start, maybe at once: the others wait
                # here until the first commits, then find the database at its head.
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            context.run_migrations()

    async def main() -> None:
        engine = create_engine(url)
        async with engine.connect() as connection:
            await connection.run_sync(run)
        await engine.dispose()

    asyncio.run(main())


def _timestamp(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def chassis_0001_upgrade() -> None:
    """Cases, their history and sequences, idempotency keys and the outbox."""
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("process", sa.String(100), nullable=False),
        sa.Column("process_version", sa.Integer, nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
    )
    op.create_index("ix_cases_process_state", "cases", ["process", "state"])
    op.create_table(
        "case_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("from_state", sa.String(64), nullable=False),
        sa.Column("to_state", sa.String(64), nullable=False),
        sa.Column("actor_role", sa.String(64), nullable=False),
        _timestamp("at"),
    )
    op.create_index("ix_case_history_case_id", "case_history", ["case_id"])
    op.create_table(
        "case_sequences",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("next_value", sa.Integer, nullable=False),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("operation", sa.String(100), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("case_code", sa.String(32), nullable=False),
        _timestamp("created_at"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        _timestamp("created_at"),
        _timestamp("published_at", nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
    )
    op.create_index("ix_outbox_unpublished", "outbox", ["published_at", "created_at"])


def chassis_0001_downgrade() -> None:
    for table in ("outbox", "idempotency_keys", "case_sequences", "case_history", "cases"):
        op.drop_table(table)


def chassis_0002_upgrade() -> None:
    """The case engine: assignment, deadlines and outcome on cases; who acted in the history;
    audit, documents, comments and SLA timers; replayable answers for idempotency keys."""
    epoch = sa.text("'1970-01-01 00:00:00+00'")
    with op.batch_alter_table("cases") as cases:
        cases.add_column(sa.Column("definition", sa.String(100), nullable=False, server_default=""))
        cases.add_column(sa.Column("office", sa.String(64), nullable=False, server_default=""))
        cases.add_column(sa.Column("applicant_id", sa.String(64), nullable=False, server_default=""))
        cases.add_column(sa.Column("applicant_name", sa.String(200), nullable=False, server_default=""))
        cases.add_column(sa.Column("assigned_role", sa.String(64), nullable=True))
        cases.add_column(sa.Column("state_version", sa.Integer, nullable=False, server_default="1"))
        cases.add_column(
            sa.Column("state_entered_at", sa.DateTime(timezone=True), nullable=False, server_default=epoch)
        )
        cases.add_column(_timestamp("state_due_at", nullable=True))
        cases.add_column(_timestamp("process_due_at", nullable=True))
        cases.add_column(sa.Column("outcome", sa.String(32), nullable=True))
        cases.add_column(sa.Column("breached", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_index("ix_cases_inbox", "cases", ["office", "assigned_role", "state_due_at"])
    op.create_index("ix_cases_applicant", "cases", ["applicant_id"])
    with op.batch_alter_table("case_history") as history:
        history.add_column(sa.Column("action", sa.String(64), nullable=False, server_default=""))
        history.add_column(sa.Column("actor_id", sa.String(64), nullable=False, server_default=""))
        history.add_column(sa.Column("comment", sa.Text, nullable=False, server_default=""))
        history.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    with op.batch_alter_table("idempotency_keys") as keys:
        keys.add_column(sa.Column("response", sa.LargeBinary, nullable=True))

    def case_id() -> sa.Column:
        return sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False)

    op.create_table(
        "case_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        case_id(),
        _timestamp("at"),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("actor_role", sa.String(64), nullable=False),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_table(
        "case_documents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        case_id(),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        _timestamp("attached_at"),
        sa.Column("attached_by", sa.String(64), nullable=False),
    )
    op.create_table(
        "case_comments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        case_id(),
        sa.Column("author_id", sa.String(64), nullable=False),
        sa.Column("author_role", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        _timestamp("at"),
    )
    op.create_table(
        "case_timers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        case_id(),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("state_version", sa.Integer, nullable=False),
        _timestamp("fire_at"),
        _timestamp("fired_at", nullable=True),
    )
    for table in ("case_audit", "case_documents", "case_comments", "case_timers"):
        op.create_index(f"ix_{table}_case_id", table, ["case_id"])
    op.create_index("ix_case_timers_due", "case_timers", ["fired_at", "fire_at"])


def chassis_0002_downgrade() -> None:
    for table in ("case_timers", "case_comments", "case_documents", "case_audit"):
        op.drop_table(table)
    op.drop_index("ix_cases_applicant", "cases")
    op.drop_index("ix_cases_inbox", "cases")
    with op.batch_alter_table("idempotency_keys") as keys:
        keys.drop_column("response")
    with op.batch_alter_table("case_history") as history:
        for column in ("version", "comment", "actor_id", "action"):
            history.drop_column(column)
    with op.batch_alter_table("cases") as cases:
        for column in (
            "breached", "outcome", "process_due_at", "state_due_at", "state_entered_at",
            "state_version", "assigned_role", "applicant_name", "applicant_id", "office", "definition",
        ):
            cases.drop_column(column)


def chassis_0003_upgrade() -> None:
    """Idempotency keys belong to their caller: the key's table is keyed by (caller, key).

    Keys kept before this revision have no caller (''): no caller's replay finds them, so a
    retry across the upgrade is processed afresh rather than answered with someone else's case.
    """
    op.rename_table("idempotency_keys", "idempotency_keys_0002")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE idempotency_keys_0002 RENAME CONSTRAINT idempotency_keys_pkey TO idempotency_keys_0002_pkey")
    op.create_table(
        "idempotency_keys",
        sa.Column("caller", sa.String(150), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("operation", sa.String(100), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("case_code", sa.String(32), nullable=False),
        _timestamp("created_at"),
        sa.Column("response", sa.LargeBinary, nullable=True),
    )
    op.execute(
        "INSERT INTO idempotency_keys (caller, key, operation, request_hash, case_code, created_at, response) "
        "SELECT '', key, operation, request_hash, case_code, created_at, response FROM idempotency_keys_0002"
    )
    op.drop_table("idempotency_keys_0002")


def chassis_0003_downgrade() -> None:
    op.rename_table("idempotency_keys", "idempotency_keys_0003")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE idempotency_keys_0003 RENAME CONSTRAINT idempotency_keys_pkey TO idempotency_keys_0003_pkey")
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("operation", sa.String(100), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("case_code", sa.String(32), nullable=False),
        _timestamp("created_at"),
        sa.Column("response", sa.LargeBinary, nullable=True),
    )
    # Two callers' rows under one key cannot both stay: the first kept wins.
    op.execute(
        "INSERT INTO idempotency_keys (key, operation, request_hash, case_code, created_at, response) "
        "SELECT key, operation, request_hash, case_code, created_at, response FROM idempotency_keys_0003 AS kept "
        "WHERE NOT EXISTS (SELECT 1 FROM idempotency_keys_0003 AS other "
        "WHERE other.key = kept.key AND (other.created_at, other.caller) < (kept.created_at, kept.caller))"
    )
    op.drop_table("idempotency_keys_0003")


def chassis_0004_upgrade() -> None:
    """Child cases: the case that follows a case up (a commission meeting its resolutions)."""
    with op.batch_alter_table("cases") as cases:
        cases.add_column(sa.Column("parent_id", sa.Integer, nullable=True))
        cases.create_foreign_key("fk_cases_parent_id", "cases", ["parent_id"], ["id"])
    op.create_index("ix_cases_parent_id", "cases", ["parent_id"])


def chassis_0004_downgrade() -> None:
    op.drop_index("ix_cases_parent_id", "cases")
    with op.batch_alter_table("cases") as cases:
        cases.drop_constraint("fk_cases_parent_id", type_="foreignkey")
        cases.drop_column("parent_id")


def chassis_0005_upgrade() -> None:
    """The consumers' inbox: which events each consumer has applied (deduplication by ce-id)."""
    op.create_table(
        "event_inbox",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("event_type", sa.String(255), nullable=False),
        sa.Column("stream_sequence", sa.BigInteger, nullable=False),
        _timestamp("received_at"),
    )


def chassis_0005_downgrade() -> None:
    op.drop_table("event_inbox")


def chassis_0006_upgrade() -> None:
    """What granted cases issued, signed by the service, and their revocation.

    The sixth chassis step; a service with a migration of its own before it (the governor's
    sla_register) applies it under the next revision number."""
    op.create_table(
        "issued_documents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, unique=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        _timestamp("issued_at"),
        _timestamp("revoked_at", nullable=True),
        sa.Column("revoked_by", sa.String(64), nullable=False, server_default=""),
        sa.Column("revoked_reason", sa.Text, nullable=False, server_default=""),
    )


def chassis_0006_downgrade() -> None:
    op.drop_table("issued_documents")


# The seventh chassis step: the governor, whose own sla_register came before the sixth, applies it
# as its revision 0008.
def chassis_0007_upgrade() -> None:
    """The hash-chained audit log and its head; the case audit rows written before move into the
    chain, oldest first, and their table goes (the chain is the audit from now on). The outbound
    inquiries of case steps and their answers."""
    from ostan_kit.audit.chain import GENESIS, record_hash, rfc8785_safe

    records = op.create_table(
        "audit_log",
        sa.Column("sequence", sa.Integer, primary_key=True, autoincrement=False),
        _timestamp("at"),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("about", sa.String(200), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("previous_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("published_sequence", sa.Integer, nullable=False),
        sa.Column("previous_hash", sa.String(64), nullable=False),
    )
    old = sa.table(
        "case_audit",
        sa.column("id", sa.Integer),
        sa.column("case_id", sa.Integer),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("actor_id", sa.String),
        sa.column("actor_kind", sa.String),
        sa.column("actor_role", sa.String),
        sa.column("operation", sa.String),
        sa.column("detail", sa.JSON),
    )
    cases = sa.table("cases", sa.column("id", sa.Integer), sa.column("code", sa.String))
    moved, previous, before = [], GENESIS, GENESIS
    rows = op.get_bind().execute(
        sa.select(old, cases.c.code).join(cases, cases.c.id == old.c.case_id).order_by(old.c.id)
    )
    for sequence, row in enumerate(rows, start=1):
        detail = rfc8785_safe({**(row.detail or {}), "operation": row.operation, "role": row.actor_role})
        actor = f"{row.actor_kind}:{row.actor_id}"[:200]
        digest = record_hash(previous, sequence, row.at, "case.transition", actor, row.code, detail)
        moved.append(
            {"sequence": sequence, "at": row.at, "kind": "case.transition", "actor": actor, "about": row.code,
             "detail": detail, "previous_hash": previous, "hash": digest}
        )
        before, previous = previous, digest
    if moved:
        op.bulk_insert(records, moved)
    op.bulk_insert(
        head, [{"id": 1, "sequence": len(moved), "hash": previous, "previous_hash": before, "published_sequence": 0}]
    )
    if op.get_bind().dialect.name == "sqlite":
        # An append on SQLite is one INSERT … SELECT from the head (ostan_kit.audit.chain); this
        # moves the head to each record as it goes in. PostgreSQL moves it in the same statement.
        op.execute(
            "CREATE TRIGGER audit_log_moves_head AFTER INSERT ON audit_log BEGIN "
            "UPDATE audit_head SET sequence = NEW.sequence, previous_hash = NEW.previous_hash, hash = NEW.hash "
            "WHERE id = 1; END"
        )
    op.drop_table("case_audit")
    op.create_table(
        "case_inquiries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("inquiry", sa.String(100), nullable=False),
        sa.Column("agency", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False, unique=True),
        sa.Column("subjects", sa.JSON, nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        _timestamp("sent_at"),
        _timestamp("answered_at", nullable=True),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("answer", sa.JSON, nullable=True),
        sa.Column("signature", sa.Text, nullable=True),
        sa.Column("late", sa.Boolean, nullable=False),
    )
    op.create_index("ix_case_inquiries_case_id", "case_inquiries", ["case_id"])


def chassis_0007_downgrade() -> None:
    op.drop_table("case_inquiries")
    op.create_table(
        "case_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        _timestamp("at"),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("actor_role", sa.String(64), nullable=False),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_case_audit_case_id", "case_audit", ["case_id"])
    for table in ("audit_head", "audit_log"):
        op.drop_table(table)
