"""Shared test fixtures: where the services' databases live.

With ``OSTAN_TEST_DATABASE_URL`` naming a PostgreSQL server (as ``.ci/run`` does), every service
gets a database of its own there, created for the run and dropped after it; otherwise each uses
an SQLite file in a temporary folder.
"""

from __future__ import annotations

import importlib.resources
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ostan_kit.runtime.registry import SERVICES

POSTGRES = os.environ.get("OSTAN_TEST_DATABASE_URL", "")


def service_package(service: str) -> Path:
    """The folder of the service's installed package: its catalogue/, processes/ and migrations/."""
    return Path(str(importlib.resources.files(SERVICES[service].package)))

# CI runs the property tests on a fixed sequence of examples, so that a landing never depends on
# luck; locally they explore afresh each run (and keep what they find in .hypothesis/).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@contextmanager
def postgres_databases(names: list[str], server: str = "") -> Iterator[dict[str, str]]:
    """One fresh PostgreSQL database per name on ``server`` (default: OSTAN_TEST_DATABASE_URL),
    as async URLs; dropped afterwards."""
    server = server or POSTGRES
    run = uuid.uuid4().hex[:8]
    admin_url = make_url(server).set(drivername="postgresql+psycopg")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    created: dict[str, str] = {}
    try:
        with admin.connect() as connection:
            for name in names:
                database = f"ostan_{run}_{name.replace('-', '_')}"
                connection.execute(text(f'CREATE DATABASE "{database}"'))
                created[name] = (
                    make_url(server)
                    .set(drivername="postgresql+asyncpg", database=database)
                    .render_as_string(hide_password=False)
                )
        yield created
    finally:
        with admin.connect() as connection:
            for url in created.values():
                database = make_url(url).database
                connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database_url(tmp_path) -> Iterator[str]:
    """An empty database for one test: PostgreSQL when configured, else SQLite."""
    if POSTGRES:
        with postgres_databases(["unit"]) as urls:
            yield urls["unit"]
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'unit.db'}"
