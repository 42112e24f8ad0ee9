"""The store under test: a SQLite file always, PostgreSQL too when BOTOPS_TEST_POSTGRES_URL
names a (throwaway) server — the same tests for both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.helpers import BACKENDS, migrated_engine


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request.param, tmp_path)
