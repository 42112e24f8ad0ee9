"""A migrated database per test: a SQLite file always, PostgreSQL too when
BOTOPS_TEST_POSTGRES_URL names a throwaway server (as in tests/checkins/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from botops.store.db import open_database
from tests.helpers import postgres_url, reset_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'botops.db'}" if request.param == "sqlite" else postgres_url()
    if request.param == "postgres":
        reset_postgres(url)
    engine = open_database(url)
    yield engine
    engine.dispose()
