"""Fixtures for the daemon's tests: the store's `engine` (SQLite, and PostgreSQL in CI) for
its store-backed units (tests/daemon/test_alerting.py), and `database_url` for real daemons
on either backend."""

from pathlib import Path

import pytest

from tests.helpers import BACKENDS, postgres_url, reset_postgres
from tests.store.conftest import engine

__all__ = ["database_url", "engine"]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database's URL: a SQLite file, or the test PostgreSQL emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'botops.db'}"
    url = postgres_url()
    reset_postgres(url)
    return url
