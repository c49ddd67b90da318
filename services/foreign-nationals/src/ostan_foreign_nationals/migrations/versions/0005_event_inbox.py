"""The consumers' inbox of applied events.

Revision ID: 0005
Revises: 0004
"""

from ostan_kit.persistence.migrations import chassis_0005_downgrade, chassis_0005_upgrade

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    chassis_0005_upgrade()


def downgrade() -> None:
    chassis_0005_downgrade()
