"""Create an office service folder from the one template every service is built from.

    python tools/scaffold_service.py <name>     # e.g. foreign-nationals

It writes only files that do not exist yet, so running it again over a service is harmless.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TEMPLATE: dict[str, str] = {
    "pyproject.toml": '''[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "ostan-{name}"
version = "0.1.0"
description = "The {name} office service of Ostan."
requires-python = ">=3.11"
dependencies = ["ostan-kit"]

[project.scripts]
ostan-{name} = "{package}.__main__:main"

[tool.setuptools.packages.find]
where = ["src"]
''',
    "src/{package}/__init__.py": '''"""The {name} office service: its catalogue and processes are data beside this package."""
''',
    "src/{package}/__main__.py": '''from pathlib import Path

from ostan_kit.runtime.service import run

# Registers the application forms this service's process definitions name.
from ostan.{proto_package}.v1 import forms_pb2  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    run("{name}", ROOT)


if __name__ == "__main__":
    main()
''',
    "migrations/env.py": '''from ostan_kit.persistence.migrations import run_env

run_env()
''',
    "migrations/script.py.mako": '''"""${{message}}

Revision ID: ${{up_revision}}
Revises: ${{down_revision | comma,n}}
Create Date: ${{create_date}}
"""

from alembic import op
import sqlalchemy as sa
${{imports if imports else ""}}

revision = ${{repr(up_revision)}}
down_revision = ${{repr(down_revision)}}
branch_labels = ${{repr(branch_labels)}}
depends_on = ${{repr(depends_on)}}


def upgrade() -> None:
    ${{upgrades if upgrades else "pass"}}


def downgrade() -> None:
    ${{downgrades if downgrades else "pass"}}
''',
    "migrations/versions/0001_chassis.py": '''"""The chassis tables: cases, history, sequences, idempotency keys, outbox.

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
''',
    "migrations/versions/0002_case_engine.py": '''"""The case engine: assignment, deadlines, audit, documents, comments, SLA timers.

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
''',
    "migrations/versions/0003_caller_scoped_idempotency.py": '''"""Idempotency keys belong to their caller: keyed by (caller, key).

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
''',
    "migrations/versions/0004_child_cases.py": '''"""Child cases: the case that follows a case up (a commission meeting its resolutions).

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
''',
    "migrations/versions/0005_issued_documents.py": '''"""What granted cases issued (permits, licences, cards, certificates), signed, and revocation.

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
''',
    "catalogue/.keep": "",
    "processes/generic-request.yaml": """# The generic request this service runs for catalogue entries with external clients and no
# definition of their own: kit's shared definition, pinned. Kit keeps every version, so moving
# the pin to a newer one later leaves the cases started under this one running.
extends: generic-request@1
""",
}


def scaffold(name: str) -> list[Path]:
    values = {
        "name": name,
        "package": "ostan_" + name.replace("-", "_"),
        "proto_package": name.replace("-", "_"),
    }
    written = []
    for template_path, template in TEMPLATE.items():
        path = ROOT / "services" / name / template_path.format(**values)
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for service in sys.argv[1:]:
        for written in scaffold(service):
            print(written.relative_to(ROOT))
