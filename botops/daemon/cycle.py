"""One cycle of the daemon: plan what is due into the outbox, dispatch, track, carry outcomes.

`botops run` runs these steps on timers (APScheduler is only the timer; the database holds
the truth); `botops run --once` runs them once, in order, and exits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from botops.clock import Clock
from botops.config import Settings
from botops.daemon.heap import return_freed_memory
from botops.outbox.dispatcher import Dispatcher, DispatchReport
from botops.outbox.outcomes import apply_outcomes
from botops.outbox.queue import EnqueueReport, enqueue
from botops.planning.planner import Window, plan
from botops.playbook.library import PlaybookLibrary
from botops.store.db import session
from botops.store.groups import targets
from botops.store.models import OutboxRow, SendState
from botops.store.tasks import open_tasks
from botops.tracking.tracker import TaskTracker, TrackingReport

log = structlog.get_logger()

# After a long outage, sends of at most this far back are still written (as missed), so the
# report shows them; older ones are history.
MAX_BACKFILL = timedelta(days=7)


@dataclass
class CycleReport:
    planned: EnqueueReport = field(default_factory=EnqueueReport)
    dispatched: DispatchReport = field(default_factory=DispatchReport)
    tracking: TrackingReport | None = None
    outcomes: dict[str, SendState] = field(default_factory=dict)


class Cycle:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        clock: Clock,
        library: Callable[[], PlaybookLibrary],
        dispatcher: Dispatcher,
        tracker: TaskTracker,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._clock = clock
        self._library = library
        self._dispatcher = dispatcher
        self._tracker = tracker

    async def once(self) -> CycleReport:
        report = CycleReport(planned=self.plan())
        report.dispatched = await self._dispatcher.dispatch()
        report.tracking, report.outcomes = await self.track()
        return report

    def plan(self) -> EnqueueReport:
        """Plan [late-but-fresh sends, now + plan_ahead) into the outbox."""
        now = self._clock.now()
        library = self._library()
        policy = self._settings.send_policy
        with session(self._engine) as s:
            window = Window(
                self._window_start(s, library, now), now + self._settings.daemon.plan_ahead
            )
            result = plan(
                library,
                targets(s),
                window,
                policy,
                enrol_at=now.astimezone(ZoneInfo(policy.timezone)),
                checkins_at_send=True,
            )
            versions = {p.id: library.digest(p.id) for p in library.playbooks}
            report = enqueue(s, result, versions, now)
        del result
        return_freed_memory()
        log.info(
            "cycle.planned",
            window_start=window.start.isoformat(),
            inserted=report.inserted,
            updated=report.updated,
            cancelled=len(report.cancelled),
            revived=len(report.revived),
        )
        return report

    @property
    def library(self) -> Callable[[], PlaybookLibrary]:
        return self._library

    def _window_start(self, s: Session, library: PlaybookLibrary, now: datetime) -> datetime:
        """From the last send already planned (so an outage's sends are written, as missed)
        or the longest expires_after back (so late-but-fresh sends still go), whichever is
        earlier — but never more than MAX_BACKFILL."""
        policy = self._settings.send_policy
        longest = max(
            (
                step.expires_after or policy.expires_after
                for p in library.playbooks
                for step in p.steps
            ),
            default=policy.expires_after,
        )
        latest = s.exec(select(func.max(OutboxRow.due_at))).one()
        start = now - longest if latest is None else min(latest, now - longest)
        return max(start, now - MAX_BACKFILL)

    async def track(
        self, *, withdrawn: bool = False
    ) -> tuple[TrackingReport, dict[str, SendState]]:
        """A tracking round over every waiting task, or (`withdrawn`) only over those ops
        withdrew: run every planning round, so staff stop seeing a withdrawn message within a
        minute even when `botops withdraw` could not reach WeCom itself."""
        only = None
        if withdrawn:
            with session(self._engine) as s:
                only = [t.msgid for t in open_tasks(s, withdrawn=True)]
            if not only:
                return TrackingReport(), {}
        tracking = await self._tracker.poll(only=only)
        with session(self._engine) as s:
            outcomes = apply_outcomes(s, self._clock.now())
        return tracking, outcomes
