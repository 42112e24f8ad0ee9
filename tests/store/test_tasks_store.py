"""botops.store.tasks: which tasks are open, withdrawing them, finishing a task only once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from botops.store.db import session
from botops.store.models import MassTask, TaskStatus
from botops.store.tasks import finish_task, open_tasks, withdraw
from tests.helpers import local

NOW = local("2026-03-10 09:00")


def task(msgid: str, *, step: str = "open", sender: str = "zhangsan", **kw: object) -> MassTask:
    """A task of flash-sale/`step` waiting for `sender`; the longer `msgid`, the older."""
    options: dict[str, object] = {
        "msgid": msgid,
        "sender": sender,
        "playbook": "flash-sale",
        "step": step,
        "created_at": NOW - timedelta(minutes=len(msgid)),
        "expires_at": NOW + timedelta(hours=3),
    }
    options.update(kw)
    return MassTask.model_validate(options)


def fill(engine: Engine) -> None:
    with session(engine) as s:
        s.add(task("m1"))
        s.add(task("m22", sender="lisi"))
        s.add(task("m333", step="close"))
        s.add(task("m4444", playbook="checkin"))
        s.add(task("m55555", status=TaskStatus.SENT))


def msgids(engine: Engine, **filters: str) -> list[str]:
    with session(engine) as s:
        return [t.msgid for t in open_tasks(s, **filters)]


def test_open_tasks_match_every_filter_given(engine: Engine):
    fill(engine)
    assert msgids(engine) == ["m4444", "m333", "m22", "m1"]  # oldest first; m55555 is sent
    assert msgids(engine, playbook="flash-sale") == ["m333", "m22", "m1"]
    assert msgids(engine, playbook="flash-sale", step="open") == ["m22", "m1"]
    assert msgids(engine, playbook="flash-sale", step="open", sender="lisi") == ["m22"]
    assert msgids(engine, playbook="nope") == []


def test_withdrawing_expires_waiting_tasks_now_and_keeps_the_first_time(engine: Engine):
    fill(engine)
    with session(engine) as s:
        s.add(task("m6", expires_at=NOW - timedelta(minutes=5)))  # already past its expiry
    with session(engine) as s:
        done = withdraw(s, ["m1", "m6", "m55555", "unknown"], NOW)
    later = NOW + timedelta(minutes=1)
    with session(engine) as s:
        again = withdraw(s, ["m1"], later)
    assert sorted(done) == ["m1", "m6"]  # a finished or unknown task is not withdrawn
    assert again == ["m1"]
    with session(engine) as s:
        rows = {m: s.get(MassTask, m) for m in ("m1", "m6", "m22", "m55555")}
    assert (rows["m1"].expires_at, rows["m1"].withdrawn_at) == (NOW, NOW)
    assert (rows["m6"].expires_at, rows["m6"].withdrawn_at) == (NOW - timedelta(minutes=5), NOW)
    assert rows["m22"].withdrawn_at is None
    assert rows["m55555"].withdrawn_at is None
    assert rows["m55555"].expires_at == NOW + timedelta(hours=3)
    with session(engine) as s:  # what the daemon's planning round tracks
        assert [t.msgid for t in open_tasks(s, withdrawn=True)] == ["m1", "m6"]


def test_a_task_is_finished_once(engine: Engine):
    fill(engine)
    with session(engine) as s:
        first = finish_task(s, "m1", TaskStatus.EXPIRED, NOW)
    with session(engine) as s:
        second = finish_task(s, "m1", TaskStatus.PARTIAL, NOW + timedelta(minutes=1))
        finished = finish_task(s, "m55555", TaskStatus.EXPIRED, NOW)
    assert (first, second, finished) == (True, False, False)
    with session(engine) as s:
        row, sent = s.get(MassTask, "m1"), s.get(MassTask, "m55555")
    assert (row.status, row.finished_at, row.error) == (TaskStatus.EXPIRED, NOW, "")
    assert sent.status == TaskStatus.SENT
