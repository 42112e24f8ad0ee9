"""`botops withdraw` through `botops.cli.main`: tasks created by `botops send-test`, withdrawn
from a simulator reached over HTTP as WeCom, or left to the daemon with the built-in one."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from botops.cli import main
from botops.simulator import Fault, Simulator
from botops.store.db import open_database, session
from botops.store.models import MassTask, MassTaskTarget, TargetStatus, TaskStatus
from tests.cli.support import GROUPS, PARENTS, READING
from tests.helpers import local

CANCEL = "externalcontact/cancel_groupmsg_send"


def two_tasks(sim: Simulator) -> tuple[str, str]:
    """The milestone step sent to READING (zhangsan's) and PARENTS (lisi's): recorded tasks."""
    for group in (READING, PARENTS):  # with credentials send-test needs --to
        args = ["send-test", "checkin-100days", "milestone", "--group", group, "--to", group]
        assert main([*args, "--groups", str(GROUPS)]) == 0
    by_creator = {t.creator: t.msgid for t in sim.tasks()}
    return by_creator["zhangsan"], by_creator["lisi"]


def stored(env: Path) -> dict[str, tuple[MassTask, dict[str, TargetStatus]]]:
    engine = open_database(f"sqlite:///{env / 'data' / 'botops.db'}")
    try:
        with session(engine) as s:
            targets = s.exec(select(MassTaskTarget)).all()
            return {
                t.msgid: (t, {x.target_id: x.status for x in targets if x.msgid == t.msgid})
                for t in s.exec(select(MassTask)).all()
            }
    finally:
        engine.dispose()


def test_withdraw_lists_first_then_cancels_what_staff_have_not_sent(env, external, capsys):
    zhang, li = two_tasks(external)
    external.confirm(li)  # lisi sent his before ops noticed the mistake
    capsys.readouterr()

    assert main(["withdraw", "checkin-100days", "--sender", "zhangsan"]) == 0
    assert main(["withdraw", "checkin-100days"]) == 0
    listed = capsys.readouterr().out
    assert external.count(CANCEL) == 0
    assert {task.withdrawn_at for task, _ in stored(env).values()} == {None}

    assert main(["withdraw", "checkin-100days", "milestone", "--yes"]) == 0
    done = capsys.readouterr().out
    assert main(["withdraw", "checkin-100days", "--yes"]) == 0
    again = capsys.readouterr().out

    first, both = listed.split("task(s) of checkin-100days: run again with --yes")[:2]
    assert zhang in first
    assert li not in first
    assert zhang in both
    assert li in both
    assert "withdrew 2 task(s) of checkin-100days/milestone (recorded)" in done
    assert f"{zhang}: cancelled in WeCom" in done
    assert f"{li}: staff had already sent it (sent); nothing left to cancel" in done
    assert "no mass-send task of checkin-100days is waiting for staff" in again
    assert {t.msgid: t.cancelled for t in external.tasks()} == {zhang: True, li: False}
    rows = stored(env)
    (task, targets), (sent, sent_targets) = rows[zhang], rows[li]
    assert task.status == TaskStatus.EXPIRED
    assert task.withdrawn_at is not None
    assert targets == {READING: TargetStatus.EXPIRED}
    assert sent.status == TaskStatus.SENT
    assert sent_targets == {PARENTS: TargetStatus.SENT}


def test_a_failed_cancel_stays_recorded_for_the_daemon_to_retry(env, external, capsys):
    zhang, _ = two_tasks(external)
    external.faults.add(Fault("errcode", api=CANCEL, errcode=-1, times=100))

    code = main(["withdraw", "checkin-100days", "--sender", "zhangsan", "--yes"])

    assert code == 1
    assert "the daemon tries again at its next round" in capsys.readouterr().out
    task, targets = stored(env)[zhang]
    assert task.status == TaskStatus.WAITING  # the daemon's tracking round cancels it later
    assert task.withdrawn_at is not None
    assert task.expires_at == task.withdrawn_at
    assert targets == {READING: TargetStatus.WAITING}


def test_a_cancel_refused_for_good_is_said_not_passed_off_as_sent(env, external, capsys):
    zhang, _ = two_tasks(external)
    external.faults.add(Fault("errcode", api=CANCEL, errcode=41047, errmsg="invalid msgid"))

    code = main(["withdraw", "checkin-100days", "--sender", "zhangsan", "--yes"])

    out = capsys.readouterr().out
    assert code == 1
    assert f"{zhang}: WeCom refused the cancel: " in out
    assert "41047" in out
    assert "staff had already sent it" not in out


def test_with_the_builtin_simulator_the_daemon_cancels_them(env, builtin, capsys):
    at = local("2026-03-10 08:00")
    engine = open_database(f"sqlite:///{env / 'data' / 'botops.db'}")
    try:
        with session(engine) as s:
            s.add(MassTask(msgid="m1", sender="zhaoliu", playbook="flash-sale", created_at=at))
    finally:
        engine.dispose()

    assert main(["withdraw", "flash-sale", "--yes"]) == 0

    out = capsys.readouterr().out
    assert "the running daemon cancels them at its next planning round (every 1m)" in out
    assert builtin == []  # no simulator of its own: its tasks would be unknown there
    task, _ = stored(env)["m1"]
    assert task.status == TaskStatus.WAITING
    assert task.withdrawn_at is not None


def test_without_a_database_nothing_is_created(env, capsys):
    assert main(["withdraw", "flash-sale", "--yes"]) == 1
    assert "no database at" in capsys.readouterr().err
    assert not (env / "data" / "botops.db").exists()
