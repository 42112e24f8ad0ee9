"""Wiring: settings → database, WeCom, senders, dispatcher, tracker, cycle.

The only module that puts the pieces together for `botops run`; each piece is tested alone.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import Engine

from botops.clock import Clock
from botops.config import Settings
from botops.daemon.cycle import Cycle
from botops.outbox.dispatcher import Dispatcher, OutboxRecorder, StillLeader
from botops.playbook.library import PlaybookLibrary
from botops.senders.wecom_mass import WeComMassSender
from botops.store.db import open_database
from botops.store.media import DbMediaStore
from botops.tracking.policy import TrackingPolicy
from botops.tracking.tracker import TaskTracker
from botops.wecom.connect import WeCom, connect
from botops.wecom.media import MediaCache
from botops.wecom.ratelimit import Monotonic
from botops.wecom.retry import Sleep


@dataclass(frozen=True)
class Runtime:
    engine: Engine
    wecom: WeCom
    dispatcher: Dispatcher
    cycle: Cycle
    worker: str


def worker_id() -> str:
    """Unique per process run: claims of any other id belong to a dispatcher that is gone."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def runtime(
    settings: Settings,
    clock: Clock,
    library: Callable[[], PlaybookLibrary],
    *,
    sleep: Sleep = asyncio.sleep,
    monotonic: Monotonic = time.monotonic,
    still_leader: StillLeader | None = None,
) -> AsyncIterator[Runtime]:
    """`sleep` and `monotonic` pace WeCom retries and rate limits (see `connect`);
    `still_leader` is asked before each batch of sends (see Dispatcher)."""
    engine = open_database(settings.database_url)
    try:
        async with connect(settings, clock, sleep=sleep, monotonic=monotonic) as wecom:
            media = MediaCache(
                wecom.client.upload_media,
                clock,
                namespace=wecom.corp_id,
                store=DbMediaStore(engine),
            )
            sender = WeComMassSender(wecom.client, media, record=OutboxRecorder(engine, clock))
            worker = worker_id()
            dispatcher = Dispatcher(
                engine,
                sender,
                wecom.client,
                clock,
                worker=worker,
                library=library,
                policy=settings.send_policy,
                settle=settings.daemon.reconcile_after,
                still_leader=still_leader,
            )
            tracker = TaskTracker(
                wecom.client, engine, clock, TrackingPolicy.from_settings(settings.tracking)
            )
            cycle = Cycle(engine, settings, clock, library, dispatcher, tracker)
            yield Runtime(engine, wecom, dispatcher, cycle, worker)
    finally:
        engine.dispose()
