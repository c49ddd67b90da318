"""Idempotency keys belong to their caller: keyed by (caller, key).

Revision ID: 0003
Revises: 0002
"""

from ostan_kit.persistence.migrations import chassis_0003_downgrade, chassis_0003_upgrade

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    chassis_0003_upgrade()


def downgrade() -> None:
    chassis_0003_downgrade()
