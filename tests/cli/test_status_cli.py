"""`botops status` through the command line, on a real SQLite file holding a day's state."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from botops.cli import main
from botops.store.db import open_database, session
from botops.store.models import (
    Alert,
    AlertStatus,
    CallbackEvent,
    DaemonSeen,
    GroupFlag,
    GroupRecord,
    MassTask,
    OutboxRow,
    SendState,
    TaskStatus,
)
from tests.helpers import local

NOW = local("2026-03-10 15:00")


def fill(path: Path) -> None:
    def row(key: str, due: str, state: SendState, error: str = "") -> OutboxRow:
        at = local(due)
        return OutboxRow(
            key=key,
            playbook="camp",
            step="morning",
            target_id=key.split(":")[2],
            sender="zhangsan",
            planned_at=at,
            due_at=at,
            expires_at=at + timedelta(hours=3),
            state=state,
            error=error,
            updated_at=at + timedelta(minutes=1),
        )

    engine = open_database(f"sqlite:///{path}")
    with session(engine) as s:
        s.add(row("camp:morning:wrA:1", "2026-03-10 07:30", SendState.SENT))
        s.add(row("camp:morning:wrB:1", "2026-03-10 07:30", SendState.SUBMITTED))
        s.add(row("camp:morning:wrC:1", "2026-03-10 07:30", SendState.SUBMITTED))
        s.add(row("camp:morning:wrD:1", "2026-03-10 07:30", SendState.FAILED, "errcode 41048"))
        s.add(row("camp:morning:wrA:0", "2026-03-09 07:30", SendState.SENT))  # yesterday
        withdrawn = "withdrawn by ops (botops withdraw) before staff sent it"
        s.add(row("camp:morning:wrE:0", "2026-03-09 07:30", SendState.CANCELLED, withdrawn))
        s.add(row("camp:evening:wrA:1", "2026-03-10 20:00", SendState.PLANNED))
        for msgid, sender, hours in (
            ("m1", "zhangsan", 7),
            ("m2", "zhangsan", 2),
            ("m3", "lisi", 1),
        ):
            s.add(
                MassTask(
                    msgid=msgid,
                    sender=sender,
                    created_at=NOW - timedelta(hours=hours),
                    status=TaskStatus.WAITING,
                )
            )
        s.add(MassTask(msgid="m0", sender="wangwu", created_at=NOW, status=TaskStatus.SENT))
        # Still waiting, but not for their sender: confirmed (sent to some groups), withdrawn.
        s.add(MassTask(msgid="m4", sender="wangwu", created_at=NOW, sender_confirmed_at=NOW))
        s.add(MassTask(msgid="m5", sender="lisi", created_at=NOW, withdrawn_at=NOW))
        s.add(
            GroupRecord(
                chat_id="wrQ",
                name="安静的群",
                owner="lisi",
                synced_at=NOW - timedelta(days=2, hours=3),  # the sync has been failing
            )
        )
        s.flush()
        s.add(
            GroupFlag(
                chat_id="wrQ",
                rule_source="camp",
                reason="3 天内仅 1 次打卡（阈值 5）",
                flagged_at=NOW - timedelta(days=1),
            )
        )
        s.add(
            CallbackEvent(
                dedup_key="k1",
                kind="ExternalChatEvent",
                chat_id="wrQ",
                payload="<xml/>",
                received_at=NOW - timedelta(minutes=5),
                error="WeCom groupchat/get: errcode -1 system busy",
            )
        )
        s.add(  # given up on: handled, its error kept
            CallbackEvent(
                dedup_key="k2",
                kind="ExternalTagEvent",
                payload="<xml/>",
                received_at=NOW - timedelta(hours=7),
                processed_at=NOW - timedelta(hours=1),
                error="gave up after 12 attempts: WeCom get_corp_tag_list: errcode 60011",
            )
        )
        s.add(
            Alert(
                key="a1",
                kind="sync_broken",
                text="**botops: 企业微信同步失败**",
                created_at=NOW - timedelta(minutes=30),
                attempts=2,
                error="WeCom webhook/send: errcode 45009 api freq out of limit",
            )
        )
        s.add(
            Alert(
                key="a2",
                kind="playbooks_rejected",
                text="sent",
                created_at=NOW - timedelta(minutes=20),
                status=AlertStatus.SENT,
                finished_at=NOW - timedelta(minutes=20),
            )
        )
        s.add(daemon("pod-a:1:aaaa", "leader", timedelta(hours=2, minutes=5), timedelta(seconds=3)))
        s.add(daemon("pod-b:1:bbbb", "standby", timedelta(hours=3), timedelta(minutes=5)))
    engine.dispose()


def daemon(worker: str, role: str, up: timedelta, silent: timedelta) -> DaemonSeen:
    """A heartbeat: started `up` ago, last seen `silent` ago."""
    return DaemonSeen(
        worker=worker, role=role, version="0.1.0", started_at=NOW - up, seen_at=NOW - silent
    )


def test_status_shows_the_day_at_a_glance(database: Path, capsys: pytest.CaptureFixture[str]):
    fill(database)
    assert main(["status", "--now", NOW.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "botops status — 2026-03-10 15:00 (Asia/Shanghai)" in out
    daemons = out.split("daemons:\n")[1].split("\n\n")[0]
    assert daemons.splitlines() == [
        "  leader   pod-a:1:aaaa  seen 3s ago, up 2h05m  (botops 0.1.0)",
        "  standby  pod-b:1:bbbb  not seen for 5m: stopped or hung  (botops 0.1.0)",
    ]
    sends = out.split("Sends due today (03-10):")[1].split("Waiting for staff")[0]
    assert [line.split() for line in sends.strip().splitlines()] == [
        ["state", "sends"],
        ["submitted", "2"],
        ["failed", "1"],
        ["planned", "1"],
        ["sent", "1"],
    ]
    staff = out.split("Waiting for staff to confirm:")[1].split("Inactive groups")[0]
    assert [line.split() for line in staff.strip().splitlines()] == [
        ["staff", "tasks", "oldest"],
        ["zhangsan", "2", "7h00m"],
        ["lisi", "1", "1h00m"],
    ]
    assert "Inactive groups: 1\n  安静的群  3 天内仅 1 次打卡（阈值 5）" in out
    errors = out.split("Recent errors:")[1]
    assert "callback ExternalChatEvent  WeCom groupchat/get: errcode -1 system busy" in errors
    assert "callback ExternalTagEvent  gave up after 12 attempts: WeCom get_corp_tag" in errors
    assert "send camp:morning → wrD (failed)  errcode 41048" in errors
    assert "wrE" not in errors  # cancelled on purpose: not an error
    assert "alert sync_broken (pending)  WeCom webhook/send: errcode 45009" in errors
    assert "playbooks_rejected" not in errors  # delivered
    assert "callbacks waiting to be handled: 1" in out
    assert "groups last synced: 2d3h ago (03-08 12:00)" in out


def test_status_as_json(database: Path, capsys: pytest.CaptureFixture[str]):
    fill(database)
    assert main(["status", "--now", NOW.isoformat(), "--format", "json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["sends_today"] == {"sent": 1, "submitted": 2, "failed": 1, "planned": 1}
    assert {b["sender"]: b["tasks"] for b in status["backlog"]} == {"zhangsan": 2, "lisi": 1}
    assert [f["chat_id"] for f in status["flagged"]] == ["wrQ"]
    assert status["pending_callbacks"] == 1
    assert status["last_synced"].startswith("2026-03-08")
    assert [(d["worker"], d["role"]) for d in status["daemons"]] == [
        ("pod-a:1:aaaa", "leader"),
        ("pod-b:1:bbbb", "standby"),
    ]


def test_status_without_a_database_says_so_and_creates_nothing(
    database: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["status"]) == 1
    assert "no database at" in capsys.readouterr().err
    assert not database.exists()


def test_status_of_a_new_database_says_never(database: Path, capsys: pytest.CaptureFixture[str]):
    open_database(f"sqlite:///{database}").dispose()
    assert main(["status", "--now", NOW.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "last outbox activity: never\ngroups last synced: never\n" in out
    assert "daemons: none running\n" in out


def test_status_says_when_no_daemon_leads(database: Path, capsys: pytest.CaptureFixture[str]):
    """The leader crashed a minute ago; the standby has not taken over (yet)."""
    engine = open_database(f"sqlite:///{database}")
    with session(engine) as s:
        s.add(daemon("pod-a:1:aaaa", "leader", timedelta(hours=1), timedelta(minutes=1)))
        s.add(daemon("pod-b:1:bbbb", "standby", timedelta(hours=1), timedelta(seconds=2)))
    engine.dispose()
    assert main(["status", "--now", NOW.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "  leader   pod-a:1:aaaa  not seen for 1m: stopped or hung" in out
    assert "  no leader: nothing is planned or sent\n" in out
