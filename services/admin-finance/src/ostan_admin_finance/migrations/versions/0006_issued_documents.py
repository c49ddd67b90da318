"""What granted cases issued (permits, licences, cards, certificates), signed, and revocation.

Revision ID: 0006
Revises: 0005
"""

from ostan_kit.persistence.migrations import chassis_0006_downgrade, chassis_0006_upgrade

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    chassis_0006_upgrade()


def downgrade() -> None:
    chassis_0006_downgrade()
