"""Whether a command can reach real customers: for the commands that must not by mistake.

With no credentials (`wecom.configured` false; the config refuses half a set) every command
runs against the built-in simulator and nothing reaches anyone. With credentials, sends can
reach the corp's real customers whatever `wecom.api_base` is: a proxy or a mirror forwards to
WeCom all the same.
The two guards ask different questions:

- `botops send-test` needs `--to` whenever real customers can be reached
  (`may_reach_customers`): without it the test goes to a customer group;
- a pretended time (`botops run --now`, with `--once` or without) is refused on WeCom's own
  host (`on_production_host`): rehearsals run against a simulator reached over HTTP with
  credentials, which a proxy cannot be told apart from.
"""

from __future__ import annotations

from botops.config import PRODUCTION_API, Settings


def may_reach_customers(settings: Settings) -> bool:
    """Credentials are configured: the built-in simulator is not in use."""
    return settings.wecom.configured


def on_production_host(settings: Settings) -> bool:
    """Credentials are configured and `wecom.api_base` is WeCom's own host."""
    api_base = settings.wecom.api_base.rstrip("/")
    return may_reach_customers(settings) and api_base == PRODUCTION_API
