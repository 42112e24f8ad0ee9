"""Fixtures: tests/simulated_wecom.py, with the seed of tests/senders/support.py."""

from tests.senders.support import sim  # noqa: F401  (a fixture, found by name)
