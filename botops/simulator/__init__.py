"""An in-memory WeCom (企业微信) server for tests, dry runs and demos.

    sim = Simulator.from_groups([{"chat_id": ..., "name": ..., "owner": ..., ...}])
    with running_simulator(sim) as base_url:
        async with WeComClient(base_url, sim.config.corp_id, sim.config.secret) as client: ...

Speaks WeCom's URLs, JSON shapes and errcodes (see docs in each api_* module), keeps time by
an injected clock, and can be steered (confirm tasks, revoke tokens, inject faults) from
Python or over /_sim/ endpoints.
"""

from botops.simulator.config import ReceiveCap, SimConfig
from botops.simulator.core import Simulator
from botops.simulator.faults import Fault

__all__ = ["Fault", "ReceiveCap", "SimConfig", "Simulator"]
