"""The store's `engine` fixture (SQLite, and PostgreSQL in CI) for the daemon's store-backed
units (tests/daemon/test_alerting.py)."""

from tests.store.conftest import engine

__all__ = ["engine"]
