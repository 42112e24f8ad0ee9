"""Fixtures: tests/simulated_wecom.py, with the seed of tests/senders/support.py; the CLI's
(tests/cli/support.py) for `botops send-test`."""

from tests.cli.support import builtin, env, external  # noqa: F401  (fixtures, found by name)
from tests.senders.support import sim  # noqa: F401  (a fixture, found by name)
from tests.store.conftest import engine  # noqa: F401  (a fixture, found by name)
