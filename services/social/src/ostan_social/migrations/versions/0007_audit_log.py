"""The hash-chained audit log of inquiries, answers, refusals, case transitions and reads; the
outbound inquiries of case steps.

Revision ID: 0007
Revises: 0006
"""

from ostan_kit.persistence.migrations import chassis_0007_downgrade, chassis_0007_upgrade

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    chassis_0007_upgrade()


def downgrade() -> None:
    chassis_0007_downgrade()
