import importlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import make_url

from ostan_kit.persistence.migrations import upgrade
from ostan_kit.persistence.models import Base
from ostan_kit.runtime.registry import SERVICES

ROOT = Path(__file__).resolve().parents[2]


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
    upgrade(ROOT / "services" / service / "migrations", database_url)
    engine = create_engine(_sync(database_url))
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), _models_of(service))
    engine.dispose()
    assert differences == []


def test_upgrading_twice_changes_nothing(database_url):
    migrations = ROOT / "services" / "urban" / "migrations"
    upgrade(migrations, database_url)
    upgrade(migrations, database_url)
