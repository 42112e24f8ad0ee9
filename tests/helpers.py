"""Small helpers for tests (importable: `from tests.helpers import ...`)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

if TYPE_CHECKING:
    from sqlalchemy import Engine

REPO = Path(__file__).resolve().parent.parent
SHANGHAI = ZoneInfo("Asia/Shanghai")


def write_tree(
    root: Path, playbooks: dict[str, str], templates: dict[str, str] | None = None
) -> None:
    for name, text in playbooks.items():
        path = root / "sops" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    (root / "templates").mkdir(parents=True, exist_ok=True)
    for name, text in (templates or {}).items():
        path = root / "templates" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def local(text: str, tz: ZoneInfo = SHANGHAI) -> datetime:
    """'2026-12-01 08:00' as an aware datetime in `tz`."""
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def postgres_url() -> str:
    """The throwaway PostgreSQL server's URL (scripts/with-postgres.sh sets it).

    Without one, tests that need it are skipped on a developer machine, but fail in CI
    (CI=true): the multi-replica path must never go silently untested there.
    """
    import os

    import pytest

    url = os.environ.get("BOTOPS_TEST_POSTGRES_URL", "")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("BOTOPS_TEST_POSTGRES_URL is not set in CI (see scripts/with-postgres.sh)")
        pytest.skip("BOTOPS_TEST_POSTGRES_URL is not set (run through scripts/with-postgres.sh)")
    return url


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
"""`params` of an engine fixture: the same tests on SQLite and on PostgreSQL."""


def migrated_engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database for one test, as `open_database` opens it in production: a SQLite
    file, or the throwaway PostgreSQL server emptied first (for fixtures parametrized over
    BACKENDS)."""
    from botops.store.db import open_database

    url = f"sqlite:///{tmp_path / 'botops.db'}" if backend == "sqlite" else postgres_url()
    if backend == "postgres":
        reset_postgres(url)  # a shared server: every test starts from an empty database
    engine = open_database(url)
    yield engine
    engine.dispose()


def reset_postgres(url: str) -> None:
    """Empty the shared test server's database: tables, enum types and alembic_version."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
