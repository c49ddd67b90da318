"""The hash-chained audit log of inquiries, answers, refusals, case transitions and reads; the
outbound inquiries of case steps.

Revision ID: 0008
Revises: 0007
"""

from ostan_kit.persistence.migrations import chassis_0007_downgrade, chassis_0007_upgrade

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    chassis_0007_upgrade()


def downgrade() -> None:
    chassis_0007_downgrade()
