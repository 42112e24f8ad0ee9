"""botops.store.daemons: the running daemons' heartbeats."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from botops.store.daemons import beat, daemons_seen, forget_gone, leave, silent_daemons
from botops.store.db import session
from tests.helpers import local

NOW = local("2026-03-10 09:00")


def seen(engine: Engine) -> list[tuple[str, str, object, object]]:
    with session(engine) as s:
        return [(d.worker, d.role, d.started_at, d.seen_at) for d in daemons_seen(s)]


def test_a_heartbeat_updates_role_and_time_and_keeps_the_start(engine: Engine) -> None:
    started = NOW - timedelta(hours=2)
    with session(engine) as s:
        beat(s, "a:1:x", "standby", "0.1.0", started, NOW)
    with session(engine) as s:
        beat(s, "a:1:x", "leader", "0.1.0", NOW, NOW + timedelta(seconds=5))
    assert seen(engine) == [("a:1:x", "leader", started, NOW + timedelta(seconds=5))]


def test_the_leader_comes_first_then_the_most_recently_seen(engine: Engine) -> None:
    with session(engine) as s:
        beat(s, "b:2:y", "standby", "0.1.0", NOW, NOW - timedelta(minutes=5))
        beat(s, "c:3:z", "standby", "0.1.0", NOW, NOW)
        beat(s, "a:1:x", "leader", "0.1.0", NOW, NOW - timedelta(seconds=3))
    assert [w for w, *_ in seen(engine)] == ["a:1:x", "c:3:z", "b:2:y"]


def test_a_clean_shutdown_leaves_and_a_crashed_one_is_forgotten_later(engine: Engine) -> None:
    with session(engine) as s:
        beat(s, "a:1:x", "leader", "0.1.0", NOW, NOW)
        beat(s, "b:2:y", "standby", "0.1.0", NOW, NOW - timedelta(days=2))
        beat(s, "c:3:z", "standby", "0.1.0", NOW, NOW - timedelta(hours=1))
    with session(engine) as s:
        leave(s, "a:1:x")
        assert forget_gone(s, NOW - timedelta(days=1)) == 1
    assert [w for w, *_ in seen(engine)] == ["c:3:z"]


def test_silent_daemons_are_those_not_seen_since(engine: Engine) -> None:
    with session(engine) as s:
        beat(s, "a:1:x", "leader", "0.1.0", NOW, NOW)
        beat(s, "b:2:y", "standby", "0.1.0", NOW, NOW - timedelta(minutes=3))
    with session(engine) as s:
        assert [d.worker for d in silent_daemons(s, NOW - timedelta(minutes=2))] == ["b:2:y"]
