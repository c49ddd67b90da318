import importlib
import os
import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import make_url

from ostan_kit.persistence.migrations import upgrade
from ostan_kit.persistence.models import Base
from ostan_kit.runtime.registry import SERVICES
from tests.conftest import POSTGRES, service_package


def _sync(url: str) -> str:
    parsed = make_url(url)
    driver = "sqlite" if parsed.get_backend_name() == "sqlite" else "postgresql+psycopg"
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def _models_of(service: str) -> MetaData:
    """The chassis's tables and those of the service's own (a ``metadata`` in its register module)."""
    combined = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(combined)
    own = OWN_MODELS.get(service)
    if own:
        for table in importlib.import_module(own).metadata.tables.values():
            table.to_metadata(combined)
    return combined


# Services with tables of their own, beside the chassis's.
OWN_MODELS = {"governor": "ostan_governor.register"}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_history_builds_exactly_the_models(service, database_url):
    upgrade(service_package(service) / "migrations", database_url)
    engine = create_engine(_sync(database_url))
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), _models_of(service))
    engine.dispose()
    assert differences == []


def test_upgrading_twice_changes_nothing(database_url):
    migrations = service_package("urban") / "migrations"
    upgrade(migrations, database_url)
    upgrade(migrations, database_url)


@pytest.mark.skipif(not POSTGRES, reason="two pods migrating at once meet on a PostgreSQL server")
def test_two_pods_migrating_at_once_both_succeed(database_url):
    """A new version's pods start together, each running its migrations first (the init
    container's `python -m ostan_urban migrate`): one waits for the other, then finds nothing to do."""
    info = SERVICES["urban"]
    environment = {**os.environ, info.env_prefix + "DATABASE_URL": database_url, "OTEL_SDK_DISABLED": "true"}
    pods = [
        subprocess.Popen(
            [sys.executable, "-m", info.package, "migrate"], env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for _ in range(2)
    ]
    outputs = [pod.communicate(timeout=120)[0].decode() for pod in pods]
    assert [pod.returncode for pod in pods] == [0, 0], "\n".join(outputs)
    engine = create_engine(_sync(database_url))
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()
