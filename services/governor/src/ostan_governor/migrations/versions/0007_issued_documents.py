"""What granted cases issued (permits, licences, cards, certificates), signed, and revocation.

Revision ID: 0007
Revises: 0006
"""

from ostan_kit.persistence.migrations import chassis_0006_downgrade, chassis_0006_upgrade

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    chassis_0006_upgrade()


def downgrade() -> None:
    chassis_0006_downgrade()
