"""The chassis tables: cases, history, sequences, idempotency keys, outbox.

Revision ID: 0001
"""

from ostan_kit.persistence.migrations import chassis_0001_downgrade, chassis_0001_upgrade

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    chassis_0001_upgrade()


def downgrade() -> None:
    chassis_0001_downgrade()
