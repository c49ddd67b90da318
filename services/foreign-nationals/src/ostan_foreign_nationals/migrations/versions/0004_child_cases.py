"""Child cases: the case that follows a case up (a commission meeting its resolutions).

Revision ID: 0004
Revises: 0003
"""

from ostan_kit.persistence.migrations import chassis_0004_downgrade, chassis_0004_upgrade

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    chassis_0004_upgrade()


def downgrade() -> None:
    chassis_0004_downgrade()
