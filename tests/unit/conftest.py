"""Fixtures for the case-engine tests (tests/conftest.py gives ``database_url``).

A module using them names its service in ``SERVICE``; it may override ``clock`` (when its cases
start) or ``book`` (other process definitions than the service's own).
"""

from __future__ import annotations

import pytest

from tests.unit.cases_support import Clock, Steps, make_engine, service_book


@pytest.fixture
def service(request) -> str:
    """The service under test: the test module's ``SERVICE``."""
    return request.module.SERVICE


@pytest.fixture
def clock() -> Clock:
    """Saturday 2026-04-18 09:00 in Tehran (1405/01/29), an ordinary working day, until moved."""
    return Clock()


@pytest.fixture
def book(service):
    """The service's process definitions."""
    return service_book(service)


@pytest.fixture
async def engine(service, book, database_url, tmp_path, clock):
    engine = await make_engine(service, database_url, tmp_path, clock, book)
    yield engine
    await engine.database.close()


@pytest.fixture
def steps(engine) -> Steps:
    return Steps(engine)
