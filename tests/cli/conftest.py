"""Fixtures of the CLI tests that reach WeCom (tests/cli/support.py)."""

from tests.cli.support import (  # noqa: F401  (fixtures, found by name)
    builtin,
    database,
    env,
    external,
)
