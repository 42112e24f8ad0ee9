"""Bringing WeCom's state into the store: `sync_groups` (customer groups, rosters, corp tags).

WeCom is the source of truth for groups and members; the store is a copy the planner and
the CLI read without calling WeCom. Syncs are idempotent upserts, so they can be rerun at
any time — after an interruption, on a schedule, or when a callback hints at a change.
"""

from botops.sync.groups import GroupSource, Progress, sync_groups
from botops.sync.report import SyncError, SyncReport

__all__ = ["GroupSource", "Progress", "SyncError", "SyncReport", "sync_groups"]
