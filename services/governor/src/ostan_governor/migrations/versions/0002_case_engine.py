"""The case engine: assignment, deadlines, audit, documents, comments, SLA timers.

Revision ID: 0002
Revises: 0001
"""

from ostan_kit.persistence.migrations import chassis_0002_downgrade, chassis_0002_upgrade

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    chassis_0002_upgrade()


def downgrade() -> None:
    chassis_0002_downgrade()
