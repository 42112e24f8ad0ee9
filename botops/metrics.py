"""Prometheus metrics (`GET /metrics` on the daemon).

Two kinds:
- events this process saw, counted where they happen: WeCom API calls by errcode, callbacks
  by route and status with their latency, check-ins scored, outbox lag at dispatch;
- the state of the system, read from the database at scrape time
  (botops.daemon.store_metrics): sends by state and channel, tasks waiting for staff, flagged
  groups. Every replica reports the same
  figures for these (they are the database's), so aggregate them with max(), not sum().

Everything lives in one registry of our own, so tests and embedding apps see only botops'.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

WECOM_CALLS = Counter(
    "botops_wecom_api_calls",
    "WeCom API calls by API and outcome (errcode, http_<status> or network)",
    ["api", "outcome"],
    registry=REGISTRY,
)
CALLBACKS = Counter(
    "botops_callbacks",
    "Inbound callbacks and message batches by route and HTTP status",
    ["route", "status"],
    registry=REGISTRY,
)
CALLBACK_SECONDS = Histogram(
    "botops_callback_seconds",
    "Time to answer an inbound callback (verify, decrypt, store, and for the AI bot, score)",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
CHECKINS = Counter(
    "botops_checkins",
    "Messages scored by the check-in rules, by playbook and outcome",
    ["playbook", "outcome"],
    registry=REGISTRY,
)
OUTBOX_LAG = Histogram(
    "botops_outbox_lag_seconds",
    "How late a batch reached WeCom: handed over minus its planned send time",
    buckets=(1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600, 6 * 3600),
    registry=REGISTRY,
)


def render() -> bytes:
    return generate_latest(REGISTRY)
