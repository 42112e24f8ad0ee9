"""`botops run`: the long-running daemon.

One asyncio process: APScheduler (3.x, AsyncIOScheduler) is only the timer — every job reads
its work from the database — plus the HTTP server (botops.daemon.http: health, readiness,
metrics, WeCom callbacks, AI-bot messages, message ingest).

    leadership   every 5 s: a standby tries to become leader; a leader checks it still is
    plan         every daemon.plan_every, on the clock's round times (botops.daemon.ticks):
                 reload playbooks if changed, cancel withdrawn tasks, plan into the outbox,
                 dispatch what is due, send recorded alerts             (leader only)
    track        every tracking.poll_every: poll WeCom tasks, remind, expire (leader only)
    sync         every daemon.sync_every: re-sync groups                (leader only)

SIGTERM / SIGINT / SIGHUP: stop claiming, let the job in flight finish (at most
daemon.shutdown_grace), release leadership, stop the server, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import UTC, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette

from botops import __version__
from botops.clock import Clock, SystemClock
from botops.config import Settings
from botops.daemon.alerting import (
    alert_failed_sends,
    alert_rejected,
    alert_silent_daemons,
    alert_sync,
)
from botops.daemon.heap import freeze_startup_heap
from botops.daemon.http import Readiness, build_app
from botops.daemon.leader import Leadership, LeadershipError, leadership_for
from botops.daemon.reload import PlaybookSource, ReloadStatus
from botops.daemon.runtime import Runtime, runtime
from botops.daemon.store_metrics import unwatch_store, watch_store
from botops.daemon.ticks import first_tick_on_system_clock
from botops.errors import BotopsError, ConfigError, Problem, WeComError
from botops.playbook.library import PlaybookLibrary
from botops.playbook.model import Playbook
from botops.senders.alerts import send_alerts
from botops.senders.digest import send_digest
from botops.store.callbacks import prune_callbacks
from botops.store.daemons import beat, forget_gone, leave
from botops.store.db import database_error, in_session
from botops.store.inactivity import evaluate_flags
from botops.store.retention import messages_kept_from, prune_messages, prune_sends
from botops.sync.groups import sync_groups
from botops.sync.report import SyncReport
from botops.webhook.aibot_app import aibot_routes
from botops.webhook.app import callback_routes
from botops.webhook.ingest import ingest_routes
from botops.webhook.process import Handlers, SingleFlight, process_pending

log = structlog.get_logger()

LEADERSHIP_EVERY_SECONDS = 5  # also the heartbeat's period (botops status)
FORGET_DAEMONS_AFTER = timedelta(days=1)  # a crashed replica's heartbeat row, then deleted
CANCEL_GRACE_SECONDS = 5.0
# The wall clock moved this much more (or less) than time passed: the host's clock stepped.
CLOCK_STEP = timedelta(seconds=30)


class PortUnavailable(BotopsError):
    """server.host:server.port cannot be listened on (in use, not permitted, no such address)."""


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on host:port, for uvicorn to serve on (as uvicorn binds its own)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart, not a clash
        sock.bind((host, port))
        sock.listen(2048)  # listening, not just bound: a second bind could still succeed
    except OSError as exc:
        sock.close()
        hint = (
            ": another process holds it (stop it, or set server.port / BOTOPS_SERVER__PORT)"
            if exc.errno == errno.EADDRINUSE
            else ""
        )
        raise PortUnavailable(
            f"cannot listen on {host}:{port} (server.host, server.port): "
            f"{(exc.strerror or str(exc)).lower()}{hint}"
        ) from None
    return sock


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside our loop: the daemon, not uvicorn, owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve(settings: Settings, clock: Clock, library: PlaybookLibrary) -> int:
    """Run until SIGTERM/SIGINT. `library` is the validated library at start (the CLI loads
    it so that a broken checkout fails before anything starts)."""
    del library  # PlaybookSource loads (and keeps reloading) the same files itself
    return asyncio.run(Service(settings, clock).run())


class Service:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self._stop = asyncio.Event()
        self._busy = asyncio.Lock()  # one leader job at a time; shutdown waits for it
        self._leader = False
        self._started = clock.now()
        self._beat_failing = False  # the heartbeat's write failed last time (logged once)

    async def run(self) -> int:
        # The port before anything else: a daemon that cannot serve must not lead, migrate,
        # start jobs or write a heartbeat (status would show it as a crashed replica).
        settings = self._settings
        with listen(settings.server.host, settings.server.port) as sock:
            return await self._run(sock)

    async def _run(self, sock: socket.socket) -> int:
        settings = self._settings
        leadership = leadership_for(settings.database_url)  # SQLite: refuses a second daemon
        source = PlaybookSource(
            settings.sops_dir, settings.templates_dir, settings.policy, self._rejected, settle=True
        )
        still_leader = functools.partial(self._still_leading, leadership)
        async with runtime(settings, self._clock, source.current, still_leader=still_leader) as rt:
            await self._lead(leadership)
            await self._first_beat(rt)  # a database it cannot write: refused, not run idle
            scheduler = self._scheduler(rt, source, leadership)
            gauges = watch_store(rt.engine)
            server = _EmbeddedServer(
                uvicorn.Config(
                    self._app(rt, scheduler, leadership),
                    host=settings.server.host,
                    port=settings.server.port,
                    log_level="warning",
                    log_config=None,  # its lines go through ours: JSON, redacted
                )
            )
            freeze_startup_heap()
            server_task = asyncio.create_task(server.serve(sockets=[sock]))
            scheduler.start()
            clock_watch = asyncio.create_task(self._watch_clock(scheduler))
            self._install_signal_handlers()
            log.info(
                "daemon.started",
                worker=rt.worker,
                port=settings.server.port,
                simulated=rt.wecom.simulated,
            )
            _warn_customer_playbooks(rt.cycle.library().playbooks)
            await self._stop.wait()
            clock_watch.cancel()
            await self._shutdown(rt, scheduler, leadership, server, server_task)
            unwatch_store(gauges)
        return 0

    def _scheduler(
        self, rt: Runtime, source: PlaybookSource, leadership: Leadership
    ) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler(timezone=UTC)
        daemon = self._settings.daemon
        leader_jobs: dict[str, Callable[[], Awaitable[None]]] = {
            "plan": lambda: self._plan(rt, source),
            "track": lambda: self._track(rt),
            "sync": lambda: self._sync(rt),
        }
        every = {
            "plan": daemon.plan_every,
            "track": self._settings.tracking.poll_every,
            "sync": daemon.sync_every,
        }

        # APScheduler awaits a job only when its function is a coroutine function: these are.
        async def lead() -> None:
            await self._lead(leadership)
            await self._beat(rt)

        async def run_leader_job(name: str) -> None:
            await self._as_leader(leadership, leader_jobs[name])

        async def start() -> None:  # take leadership, then sync and plan at once
            await lead()
            await run_leader_job("sync")
            await run_leader_job("plan")

        # Explicit ids, one instance each, missed runs coalesced: a timer, not a queue.
        options: dict[str, Any] = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        scheduler.add_job(
            lead, "interval", seconds=LEADERSHIP_EVERY_SECONDS, id="leadership", **options
        )
        for name, interval in every.items():
            # Planning also sends what is due: on round times, 07:30's sends leave at 07:30.
            first = first_tick_on_system_clock(self._clock, interval) if name == "plan" else None
            scheduler.add_job(
                run_leader_job,
                "interval",
                args=[name],
                seconds=interval.total_seconds(),
                start_date=first,
                id=name,
                **options,
            )
        scheduler.add_job(start, id="start")
        return scheduler

    async def _watch_clock(self, scheduler: AsyncIOScheduler) -> None:
        """Keep the jobs' pace when the host's clock steps (NTP, a VM resumed, `date -s`).

        APScheduler times jobs by the wall clock: stepped back an hour, every job (planning,
        tracking, leadership, the heartbeat) would wait that hour; stepped forward, all run at
        once. So each step is measured against monotonic time and the jobs are moved by it;
        planning keeps to the round times of the clock as it now reads."""
        wall, elapsed = SystemClock().now(), time.monotonic()
        while True:
            await asyncio.sleep(LEADERSHIP_EVERY_SECONDS)
            now, monotonic = SystemClock().now(), time.monotonic()
            step = (now - wall) - timedelta(seconds=monotonic - elapsed)
            wall, elapsed = now, monotonic
            if abs(step) < CLOCK_STEP:
                continue
            log.warning("daemon.clock_stepped", seconds=round(step.total_seconds()))
            for job in scheduler.get_jobs():
                if job.next_run_time is None:  # paused (shutting down)
                    continue
                if job.id == "plan":
                    every = self._settings.daemon.plan_every
                    job.modify(next_run_time=first_tick_on_system_clock(self._clock, every))
                else:
                    job.modify(next_run_time=job.next_run_time + step)

    async def _still_leading(self, leadership: Leadership) -> bool:
        """Asked before every leader job and every batch of sends: a partitioned ex-leader
        must stop before a standby can take over."""
        if self._leader and not await leadership.still_leader():
            self._leader = False
            log.error("daemon.leadership_lost")
        return self._leader

    async def _lead(self, leadership: Leadership) -> None:
        if self._leader:
            await self._still_leading(leadership)
        elif not self._stop.is_set():
            try:
                acquired = await leadership.acquire()
            except LeadershipError as exc:  # the database is down: stay standby, try again
                log.error("daemon.leadership_failed", error=str(exc))
                return
            if acquired:
                self._leader = True
                log.info("daemon.leader")

    async def _beat(self, rt: Runtime) -> None:
        """The heartbeat `botops status` reads: this replica, its role, now."""
        if self._stop.is_set():  # shutting down: _shutdown deletes the row
            return
        role, now = "leader" if self._leader else "standby", self._clock.now()
        try:
            await asyncio.to_thread(
                in_session, rt.engine, beat, rt.worker, role, __version__, self._started, now
            )
        except SQLAlchemyError as exc:  # the database is down: leadership reports it too
            if not self._beat_failing:
                log.warning("daemon.heartbeat_failed", error=database_error(exc))
            self._beat_failing = True
        else:
            self._beat_failing = False

    async def _first_beat(self, rt: Runtime) -> None:
        """The first heartbeat, before any job: a database botops can read but not write (a
        read-only file or mount, a read-only PostgreSQL server) stops the start with the
        reason, where later rounds would only log `daemon.job_failed` forever."""
        role, now = "leader" if self._leader else "standby", self._clock.now()
        try:
            await asyncio.to_thread(
                in_session, rt.engine, beat, rt.worker, role, __version__, self._started, now
            )
        except SQLAlchemyError as exc:
            raise ConfigError(
                "database.url", f"cannot write to the database: {database_error(exc)}"
            ) from None

    async def _as_leader(self, leadership: Leadership, work: Callable[[], Awaitable[None]]) -> None:
        if not self._leader or self._stop.is_set():
            return
        async with self._busy:
            if self._stop.is_set():  # SIGTERM came while this job waited for the one before
                return
            if not await self._still_leading(leadership):
                return
            try:
                await work()
            except WeComError as exc:  # logged, retried by the next run of the job
                log.error("daemon.job_failed", error=str(exc))
            except SQLAlchemyError as exc:  # the database unavailable or locked: the same
                log.error("daemon.job_failed", error=f"database: {database_error(exc)}")

    async def _plan(self, rt: Runtime, source: PlaybookSource) -> None:
        reload = source.refresh()
        if reload.status is ReloadStatus.APPLIED:
            log.info(
                "daemon.playbooks_reloaded",
                added=reload.added,
                changed=reload.changed,
                removed=reload.removed,
            )
            _warn_customer_playbooks(rt.cycle.library().playbooks)
        elif reload.status is ReloadStatus.REJECTED:
            tz, now = self._settings.timezone, self._clock.now()
            await asyncio.to_thread(alert_rejected, rt.engine, reload.problems, tz, now)
        try:
            await self._cancel_withdrawn(rt)  # a wrong message: stop it before anything else
            tz, now = self._settings.timezone, self._clock.now()
            await asyncio.to_thread(alert_silent_daemons, rt.engine, rt.worker, tz, now)
            await self._process_callbacks(rt)
            await asyncio.to_thread(rt.cycle.plan)  # database work off the event loop
            started = self._clock.now()
            if (await rt.dispatcher.dispatch()).failed:
                tz, now = self._settings.timezone, self._clock.now()
                await asyncio.to_thread(alert_failed_sends, rt.engine, started, tz, now)
        finally:  # a round that failed (WeCom's credentials, say) is when alerts matter most
            await self._send_alerts(rt)
        await self._digest(rt)

    async def _cancel_withdrawn(self, rt: Runtime) -> None:
        try:
            await rt.cycle.track(withdrawn=True)
        except WeComError as exc:  # e.g. credentials broken: never let it stop planning
            log.error("daemon.withdrawn_not_cancelled", error=str(exc))

    async def _digest(self, rt: Runtime) -> None:
        """The daily digest, once, at reports.digest_at (a no-op the rest of the day)."""
        key = self._settings.alerts.robot_key
        try:
            await send_digest(
                rt.engine,
                rt.wecom.robots,
                None if key is None else key.get_secret_value(),
                rt.cycle.library().playbooks,
                self._settings,
                self._clock.now(),
            )
        except Exception as exc:  # a report must never stop planning and sending
            log.error("daemon.digest_failed", error=str(exc) or repr(exc))

    async def _process_callbacks(self, rt: Runtime) -> None:
        """Act on stored WeCom callbacks; a failure stays recorded on its row for next time."""
        try:
            daemon = self._settings.daemon
            handlers = Handlers(
                rt.cycle.library, self._settings.timezone, daemon.callback_retry_after
            )
            handled = await process_pending(rt.engine, rt.wecom.client, self._clock, handlers)
        except SQLAlchemyError as exc:  # the database is down: the next run tries again
            log.error("daemon.callbacks_failed", error=f"database: {database_error(exc)}")
            return
        except Exception as exc:  # never let callback handling stop planning or the server
            log.error("daemon.callbacks_failed", error=str(exc) or repr(exc))
            return
        if handled:
            log.info("daemon.callbacks_processed", count=handled)

    async def _track(self, rt: Runtime) -> None:
        await rt.cycle.track()

    async def _sync(self, rt: Runtime) -> None:
        report = await sync_groups(rt.wecom.client, rt.engine, self._clock)
        await asyncio.to_thread(alert_sync, rt.engine, report, self._clock.now())
        self._log_sync(report)
        # Hourly with the sync: flags stay current between digests (and in /metrics).
        playbooks = rt.cycle.library().playbooks
        now = self._clock.now()
        changes = await asyncio.to_thread(
            in_session, rt.engine, evaluate_flags, playbooks, self._settings, now
        )
        if changes:
            log.info("daemon.flags_changed", changes=len(changes))
        await self._prune(rt, playbooks)

    @staticmethod
    def _log_sync(report: SyncReport) -> None:
        counts = {"new": len(report.new), "changed": len(report.changed)}
        if report.ok:
            log.info("daemon.synced", **counts)
        else:  # at error level, so that log alerting sees a sync that keeps failing
            log.error(
                "daemon.sync_incomplete",
                **counts,
                errors=len(report.errors),
                first_errors=[str(e) for e in report.errors[:3]],
                aborted=report.aborted,
                rate_limited=report.rate_limited,
            )

    async def _prune(self, rt: Runtime, playbooks: Sequence[Playbook]) -> None:
        """Delete the history kept long enough (`daemon.keep_callbacks`, `keep_sends`,
        `keep_messages`)."""
        now, daemon = self._clock.now(), self._settings.daemon
        pruned = await asyncio.to_thread(prune_callbacks, rt.engine, now - daemon.keep_callbacks)
        if pruned:
            log.info("daemon.callbacks_pruned", count=pruned)
        await asyncio.to_thread(in_session, rt.engine, forget_gone, now - FORGET_DAEMONS_AFTER)
        if daemon.keep_sends is not None:
            pruned = await asyncio.to_thread(prune_sends, rt.engine, now - daemon.keep_sends)
            if pruned:
                log.info("daemon.sends_pruned", count=pruned)
        if daemon.keep_messages is not None:
            today = now.astimezone(ZoneInfo(self._settings.timezone)).date()
            rules = [p.inactivity for p in playbooks] + [self._settings.reports.default_rule]
            windows = [rule.days for rule in rules if rule is not None]
            before = messages_kept_from(today, daemon.keep_messages, windows)
            pruned = await asyncio.to_thread(prune_messages, rt.engine, before)
            if pruned:
                log.info("daemon.messages_pruned", count=pruned, before=before.isoformat())

    def _rejected(self, problems: Sequence[Problem]) -> None:
        """An invalid playbook change: the last good version keeps running (_plan alerts)."""
        for problem in problems:
            log.error("daemon.playbooks_rejected", problem=str(problem))

    async def _send_alerts(self, rt: Runtime) -> None:
        key = self._settings.alerts.robot_key
        secret = None if key is None else key.get_secret_value()
        per_minute = self._settings.wecom.robot_messages_per_minute
        await send_alerts(
            rt.engine, rt.wecom.robots, secret, self._clock.now(), per_minute=per_minute
        )

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        # SIGHUP too: a closed terminal (or a `kill -HUP` meant as "reload") must not kill
        # the daemon mid-send. Playbooks reload by themselves; settings need a restart.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, self._stop.set)

    async def _shutdown(
        self,
        rt: Runtime,
        scheduler: AsyncIOScheduler,
        leadership: Leadership,
        server: uvicorn.Server,
        server_task: asyncio.Task[None],
    ) -> None:
        log.info("daemon.stopping")
        rt.dispatcher.drain()
        # Pause, not shutdown: APScheduler 3's AsyncIOExecutor.shutdown() cancels the
        # coroutine jobs still running, which would abort the WeCom call in flight.
        scheduler.pause()
        finished = await self._idle(self._settings.daemon.shutdown_grace.total_seconds())
        scheduler.shutdown(wait=False)  # cancels a job that outlived the grace
        if not finished:
            log.error("daemon.shutdown_grace_exceeded")  # claimed rows are reconciled at start
            await self._idle(CANCEL_GRACE_SECONDS)  # let it disown its batch before we go
        await leadership.release()
        with contextlib.suppress(SQLAlchemyError):  # else its row goes stale: status says so
            await asyncio.to_thread(in_session, rt.engine, leave, rt.worker)
        server.should_exit = True
        await server_task
        log.info("daemon.stopped")

    async def _idle(self, seconds: float) -> bool:
        """Wait until no leader job runs (the one in flight finishes); False after `seconds`."""
        try:
            async with asyncio.timeout(seconds), self._busy:
                return True
        except TimeoutError:
            return False

    def _app(self, rt: Runtime, scheduler: AsyncIOScheduler, leadership: Leadership) -> Starlette:
        # A stored callback wakes the leader's handling, one run at a time and as a leader job
        # (never beside planning or the sync, which write the same groups). A standby's
        # `_as_leader` returns at once: the leader's next planning round handles its rows.
        handling = SingleFlight(
            lambda: self._as_leader(leadership, lambda: self._process_callbacks(rt))
        )
        callbacks = callback_routes(
            self._settings.wecom, rt.engine, self._clock, on_stored=handling.run
        )
        callbacks += aibot_routes(
            self._settings.wecom, rt.engine, self._clock, rt.cycle.library, self._settings.timezone
        )
        callbacks += ingest_routes(
            self._settings.ingest, rt.engine, self._clock, rt.cycle.library, self._settings.timezone
        )
        ready = Readiness(
            rt.engine,
            rt.wecom.client,
            rt.worker,
            scheduler_running=lambda: bool(scheduler.running) and not self._stop.is_set(),
            is_leader=lambda: self._leader,
        )
        return build_app(ready, callbacks)


def _warn_customer_playbooks(playbooks: Iterable[Playbook]) -> None:
    """botops stores groups only: a playbook for individual customers is previewed but never
    sent. Said at start and on every reload, so it never goes unnoticed."""
    single = sorted(p.id for p in playbooks if p.audience.chat_type == "single")
    if single:
        log.warning(
            "daemon.customer_playbooks_not_sent",
            playbooks=single,
            hint="chat_type single: botops run sends to customer groups only",
        )
