"""Fixtures: see tests/senders/support.py."""

from tests.senders.support import (  # noqa: F401  (fixtures are found by name)
    anyio_backend,
    base_url,
    clock,
    engine,
    fake_time,
    make_client,
    make_robot,
    sim,
    sim_config,
)
