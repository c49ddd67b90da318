"""Create an office service from the one template every service is built from: its folder in
services/ (package, data folders, migrations, Dockerfile) and its Kubernetes base in deploy/k8s/.

    python tools/scaffold_service.py <name>     # e.g. foreign-nationals; registered in kit first

It writes only files that do not exist yet, so running it again over a service is harmless. The
files in tools/service_template/ are copied with @name@, @package@, @port@, @PREFIX@ and
@database@ replaced, in their paths and in their text.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_FILES = ROOT / "tools" / "service_template"

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
namespaces = false

# The office's data travels inside its package: its catalogue, process definitions and migrations.
[tool.setuptools.package-data]
{package} = ["catalogue/*.yaml", "processes/*.yaml", "inquiries/*.yaml", "events/*.yaml", "migrations/*.py", "migrations/*.mako", "migrations/versions/*.py"]
''',
    "src/{package}/__init__.py": '''"""The {name} office service: its catalogue, processes and migrations are data inside this package."""
''',
    "src/{package}/__main__.py": '''# Registers the application forms this service's process definitions name.
from ostan.{proto_package}.v1 import forms_pb2  # noqa: F401
from ostan_kit.runtime.service import run


def main() -> None:
    run("{name}", "{package}")


if __name__ == "__main__":
    main()
''',
    "src/{package}/migrations/env.py": '''from ostan_kit.persistence.migrations import run_env

run_env()
''',
    "src/{package}/migrations/script.py.mako": '''"""${{message}}

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
    "src/{package}/migrations/versions/0001_chassis.py": '''"""The chassis tables: cases, history, sequences, idempotency keys, outbox.

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
    "src/{package}/migrations/versions/0002_case_engine.py": '''"""The case engine: assignment, deadlines, audit, documents, comments, SLA timers.

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
    "src/{package}/migrations/versions/0003_caller_scoped_idempotency.py": '''"""Idempotency keys belong to their caller: keyed by (caller, key).

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
    "src/{package}/migrations/versions/0004_child_cases.py": '''"""Child cases: the case that follows a case up (a commission meeting its resolutions).

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
    "src/{package}/migrations/versions/0005_event_inbox.py": '''"""The consumers' inbox of applied events.

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
    "src/{package}/migrations/versions/0006_issued_documents.py": '''"""What granted cases issued (permits, licences, cards, certificates), signed, and revocation.

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
''',
    "src/{package}/migrations/versions/0007_audit_log.py": '''"""The hash-chained audit log of inquiries, answers, refusals, case transitions and reads; the
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
''',
    "src/{package}/inquiries/.keep": "",
    "src/{package}/events/grants.yaml": """# Which agency receives which of this service's events (none yet: deny by default).
grants: []
""",
    "src/{package}/catalogue/.keep": "",
    "src/{package}/processes/generic-request.yaml": """# The generic request this service runs for catalogue entries with external clients and no
# definition of their own: kit's shared definition, pinned. Kit keeps every version, so moving
# the pin to a newer one later leaves the cases started under this one running.
extends: generic-request@1
""",
}


def template_files(name: str) -> dict[str, str]:
    """The files of tools/service_template/ for the service ``name``: relative path -> text."""
    from ostan_kit.runtime.registry import SERVICES

    info = SERVICES[name]
    values = {
        "@name@": name,
        "@package@": info.package,
        "@port@": str(info.default_port),
        "@PREFIX@": info.env_prefix,
        "@database@": info.package,
    }

    def fill(text: str) -> str:
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        return text

    return {
        fill(str(path.relative_to(TEMPLATE_FILES))): fill(path.read_text("utf-8"))
        for path in sorted(TEMPLATE_FILES.rglob("*"))
        if path.is_file()
    }


def scaffold(name: str, root: Path = ROOT) -> list[Path]:
    values = {
        "name": name,
        "package": "ostan_" + name.replace("-", "_"),
        "proto_package": name.replace("-", "_"),
    }
    files = {
        f"services/{name}/{template_path.format(**values)}": template.format(**values)
        for template_path, template in TEMPLATE.items()
    }
    files.update(template_files(name))
    written = []
    for relative, text in files.items():
        path = root / relative
        if path.exists() or (path.name == ".keep" and path.parent.is_dir() and any(path.parent.iterdir())):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for service in sys.argv[1:]:
        for written in scaffold(service):
            print(written.relative_to(ROOT))
