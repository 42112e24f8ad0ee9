"""Following mass-send tasks after creation: confirmation, per-target results, reminders,
and cancelling what is still unsent when a send expires (wecom-api.md §2)."""

from botops.tracking.policy import TrackingPolicy
from botops.tracking.tracker import TaskError, TaskTracker, TrackingReport

__all__ = ["TaskError", "TaskTracker", "TrackingPolicy", "TrackingReport"]
