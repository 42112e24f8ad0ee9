"""The schema revision this botops expects, and a check of it that needs no Alembic.

Opening a database that is already at this revision is the usual case (every start of every
replica, every CLI command). Answering it with one SELECT keeps Alembic and the migration
scripts (~9 MB) out of the long-running daemon; any other database goes through
botops.store.migrate, which imports them.
"""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text

SCHEMA_REVISION = "0011"
"""The newest revision in botops/store/migrations/versions; tests/store/test_migrations.py
checks that it is Alembic's head, so a new migration cannot be skipped by a stale constant."""

VERSION_TABLE = "alembic_version"


def is_current(engine: Engine) -> bool:
    """Whether the database is at SCHEMA_REVISION. False for a new, a legacy, an older and a
    newer database alike: migrate.upgrade sorts those out under its lock."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return False
        versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
        return versions.scalars().all() == [SCHEMA_REVISION]
