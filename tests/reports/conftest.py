"""A migrated database per test, SQLite always and PostgreSQL in CI (the check-in tests')."""

from tests.checkins.conftest import engine

__all__ = ["engine"]
