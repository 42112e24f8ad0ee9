"""`botops send-test` end to end through `botops.cli.main`, with the shipped playbooks."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from botops.cli import main
from botops.store.db import open_database, session
from botops.store.models import MassTask, MassTaskTarget, TaskStatus
from tests.cli.support import FLASH, GROUPS, PARENTS, POSTER, READING
from tests.senders.support import ROBOT_KEY


def send_test(*args: str) -> int:
    return main(["send-test", *args, "--groups", str(GROUPS)])


def test_mass_send_with_no_credentials_uses_the_builtin_simulator(env, builtin, capsys):
    code = send_test("checkin-100days", "milestone", "--group", READING, "--day", "7")
    out = capsys.readouterr().out
    assert code == 0
    (sim,) = builtin
    (task,) = sim.tasks()
    assert (task.chat_type, task.creator) == ("group", "zhangsan")
    assert [t.target_id for t in task.targets] == [READING]
    assert "今天是第 7 天 ——「坚持一周」里程碑" in task.text["content"]
    (attachment,) = task.attachments
    media = sim.state.media[attachment["image"]["media_id"]]
    assert media.sha256 == hashlib.sha256(POSTER.read_bytes()).hexdigest()
    assert f"created mass-send task {task.msgid} for {READING} (百日读书打卡1群)" in out
    assert "staff zhangsan must confirm it in the WeCom client" in out
    assert "not recorded" in out
    assert not (env / "data").exists()  # a throwaway simulator's ids stay out of the database


def test_robot_send_with_no_credentials(env, builtin, capsys):
    code = send_test("flash-sale", "open", "--group", FLASH, "--day", "3", "--via", "robot")
    assert code == 0
    (sim,) = builtin
    text, news = sim.robot_messages()
    assert text.msgtype == "text"
    assert "开抢啦" in text.body["text"]["content"]
    assert "云朵绒加厚四件套" in text.body["text"]["content"]
    (article,) = news.body["news"]["articles"]
    assert article["title"] == "【快闪价】宝藏好物限时开抢"
    assert sim.tasks() == []  # a robot posts at once: no task to confirm
    assert f"sent to {FLASH} via its group robot" in capsys.readouterr().out


def test_mass_send_to_another_group_is_recorded_for_tracking(env, external, capsys):
    code = send_test(
        "checkin-100days", "milestone", "--group", READING, "--to", PARENTS, "--day", "21"
    )
    assert code == 0
    (task,) = external.tasks()
    assert (task.creator, [t.target_id for t in task.targets]) == ("lisi", [PARENTS])
    assert "21天习惯养成" in task.text["content"]
    assert "staff lisi must confirm" in capsys.readouterr().out
    engine = open_database(f"sqlite:///{env / 'data' / 'botops.db'}")
    try:
        with session(engine) as s:
            (row,) = s.exec(select(MassTask)).all()
            (target,) = s.exec(select(MassTaskTarget)).all()
    finally:
        engine.dispose()
    assert (row.msgid, row.sender, row.status) == (task.msgid, "lisi", TaskStatus.WAITING)
    assert (row.playbook, row.step) == ("checkin-100days", "milestone")
    assert row.expires_at is not None
    # the milestone step's expires_after (6h), counted from when the command started
    assert abs(row.expires_at - row.created_at - timedelta(hours=6)) < timedelta(minutes=1)
    assert target.target_id == PARENTS
    assert target.send_key.startswith(f"checkin-100days:milestone:{PARENTS}:test-")


def test_robot_keys_come_from_the_keys_file(env, external, monkeypatch, capsys):
    (env / "robots.yaml").write_text(f"{FLASH}: {ROBOT_KEY}\n", encoding="utf-8")
    (env / "config.yaml").write_text("wecom:\n  robot_keys_file: robots.yaml\n", encoding="utf-8")
    assert (
        send_test("flash-sale", "warm-up", "--group", FLASH, "--to", FLASH, "--via", "robot") == 0
    )
    assert [m.msgtype for m in external.robot_messages()] == ["text"]
    code = send_test("flash-sale", "warm-up", "--group", FLASH, "--to", READING, "--via", "robot")
    captured = capsys.readouterr()
    assert code == 1
    assert f"not sent to {READING}: no robot key" in captured.err
    assert ROBOT_KEY not in captured.out + captured.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "milestone", "--group", READING], "no playbook 'nope'"),
        (["checkin-100days", "nope", "--group", READING], "has no step 'nope'"),
        (["checkin-100days", "milestone", "--group", "wrX"], "unknown group 'wrX'"),
        (
            ["checkin-100days", "milestone", "--group", READING, "--to", "wrX"],
            "unknown group --to 'wrX'",
        ),
        (
            ["checkin-100days", "milestone", "--group", READING, "--day", "8"],
            "step 'milestone' runs on day 7, 21, 50, not on day 8: pass --day",
        ),
        (
            ["checkin-100days", "morning-task", "--group", READING, "--day", "101"],
            "step 'morning-task' runs on days 1-100, not on day 101: pass --day",
        ),
    ],
)
def test_mistakes_are_named(env, builtin, capsys, args, message):
    assert send_test(*args) == 1
    assert message in capsys.readouterr().err
    assert builtin == []  # nothing was started, let alone sent


def test_without_day_a_step_is_rendered_as_its_first_occurrence(env, builtin, capsys):
    assert send_test("checkin-100days", "milestone", "--group", READING) == 0
    assert "rendered as day 7, the step's first occurrence" in capsys.readouterr().out
    (sim,) = builtin
    (task,) = sim.tasks()
    assert "今天是第 7 天 ——「坚持一周」里程碑" in task.text["content"]


def test_without_a_groups_file_the_local_store_is_asked(env, capsys):
    code = main(["send-test", "checkin-100days", "milestone", "--group", READING])
    assert code == 1
    err = capsys.readouterr().err
    # No store yet: said, and none created on the way (a read must not leave an empty one).
    assert err.startswith("botops: no database at ")
    assert "run `botops sync` first, or pass --groups FILE" in err
    missing = Path(err.removeprefix("botops: no database at ").split(": run")[0])
    assert not missing.exists()
    assert main(["sync"]) == 0  # the built-in simulator's groups, not this one
    assert main(["send-test", "checkin-100days", "milestone", "--group", READING]) == 1
    assert "not in the local store" in capsys.readouterr().err
