"""The store under test: a SQLite file always, PostgreSQL too when BOTOPS_TEST_POSTGRES_URL
names a (throwaway) server — the same tests for both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import SQLModel

from botops.store.db import open_database
from tests.helpers import postgres_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'botops.db'}" if request.param == "sqlite" else postgres_url()
    engine = open_database(url)
    if request.param == "postgres":
        # A shared server: start from empty tables and leave none behind.
        SQLModel.metadata.drop_all(engine)
        SQLModel.metadata.create_all(engine)
    yield engine
    if request.param == "postgres":
        SQLModel.metadata.drop_all(engine)
    engine.dispose()
