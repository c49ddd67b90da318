"""The province-wide register of SLA breaches and escalations (the governor's own table).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sla_breaches",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("case_code", sa.String(32), nullable=False),
        sa.Column("process", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("escalated_to", sa.String(64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("breached_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sla_breaches_service", "sla_breaches", ["service", "breached_at"])
    op.create_index("ix_sla_breaches_breached_at", "sla_breaches", ["breached_at"])


def downgrade() -> None:
    op.drop_table("sla_breaches")
