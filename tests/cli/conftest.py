"""Fixtures of the CLI tests that reach WeCom (tests/cli/support.py)."""

from tests.cli.support import builtin, env, external  # noqa: F401  (fixtures, found by name)
