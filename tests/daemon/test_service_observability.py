"""What operators see of a running `botops run`: /readyz's checks and /metrics, read from a
real daemon process that just sent through the simulator."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from botops.simulator.faults import Fault
from botops.store.daemons import beat
from botops.store.db import open_database, session
from botops.store.models import SendState
from tests.daemon.service_support import (
    ADD,
    Daemon,
    playbook,
    project_on,
    seed,
    utcnow,
    wait_until,
)

pytestmark = pytest.mark.slow


def get(daemon: Daemon, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}{path}", timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def post(daemon: Daemon, path: str, body: bytes) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{daemon.port}{path}", data=body, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def log_line(daemon: Daemon, event: str) -> dict[str, Any] | None:
    """The daemon's first JSON log line for `event`, or None."""
    for line in daemon.log().splitlines():
        if line.startswith("{") and f'"event": "{event}"' in line:
            found: dict[str, Any] = json.loads(line)
            return found
    return None


def samples(text: str) -> dict[str, float]:
    """Prometheus text -> {'name{labels}': value}, labels as printed."""
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z_]+(?:\{[^}]*\})?) (\S+)", line)
        if match:
            found[match.group(1)] = float(match.group(2))
    return found


def test_readyz_and_metrics_describe_the_running_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    groups = seed(4, "Obs", 2)
    with project_on(tmp_path, groups, f"sqlite:///{tmp_path / 'state' / 'botops.db'}") as project:
        project.write(
            "sops/now.yaml",
            playbook("now", "现在", [("due", utcnow() - timedelta(minutes=1), 'text: "现在发"')]),
        )
        project.tag_groups(groups, "现在", monkeypatch, capsys)
        daemon = project.daemon("d")
        wait_until(lambda: project.sim.count(ADD) == 2, 30, "two tasks created")

        status, body = get(daemon, "/readyz")
        ready: dict[str, Any] = json.loads(body)
        assert status == 200
        assert ready["checks"] == {"database": "ok", "scheduler": "ok", "wecom_token": "ok"}
        assert (ready["role"], ready["leader"]) == ("leader", True)

        assert post(daemon, "/ingest/messages", b"{}") == 503  # no ingest.secret set
        assert post(daemon, "/wecom/nope", b"") == 404

        def scraped() -> dict[str, float] | None:
            code, text = get(daemon, "/metrics")
            assert code == 200
            found = samples(text.decode())
            return found if found.get('botops_sends{channel="group",state="submitted"}') else None

        metrics = wait_until(scraped, 10, "the submitted sends in /metrics")
        assert metrics['botops_sends{channel="group",state="submitted"}'] == 4
        assert metrics['botops_tasks_waiting_for_staff{staff="staff00"}'] == 1
        assert metrics['botops_tasks_waiting_for_staff{staff="staff01"}'] == 1
        api = 'api="externalcontact/add_msg_template",outcome="0"'
        assert metrics[f"botops_wecom_api_calls_total{{{api}}}"] == 2
        assert metrics["botops_outbox_lag_seconds_count"] == 2
        assert metrics["botops_outbox_lag_seconds_sum"] >= 60  # planned a minute before start
        assert metrics['botops_callbacks_total{route="/ingest/messages",status="503"}'] == 1
        assert metrics['botops_callbacks_total{route="other",status="404"}'] == 1

        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0


def test_every_line_the_daemon_logs_is_json_the_schedulers_too(tmp_path: Path) -> None:
    """Off a terminal the log is JSON lines for a collector to parse: the libraries logging
    through the standard library (here APScheduler, skipping planning rounds while the first
    stalls on a slow WeCom, and uvicorn, refusing a request that is not HTTP) write JSON lines
    too, not stray text."""
    with project_on(tmp_path, seed(1, "Json", 1), f"sqlite:///{tmp_path / 'botops.db'}") as project:
        project.sim.faults.add(Fault("latency", api="gettoken", seconds=3))
        daemon = project.daemon("d")
        skipped = "maximum number of running instances reached"
        wait_until(lambda: skipped in daemon.log(), 30, "a planning round skipped")
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as garbage:
            garbage.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            garbage.recv(1024)
        invalid = "Invalid HTTP request received."
        wait_until(lambda: invalid in daemon.log(), 15, "uvicorn's warning")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0
        lines = [json.loads(line) for line in daemon.log().splitlines()]
        [first] = [line for line in lines if skipped in line["event"]][:1]
        assert (first["level"], first["logger"]) == ("warning", "apscheduler.scheduler")
        [refused] = [line for line in lines if invalid in line["event"]]
        assert (refused["level"], refused["logger"]) == ("warning", "uvicorn.error")


def test_a_wrong_wecom_secret_degrades_readyz_but_the_replica_stays_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The token check is reported, with WeCom's reason, but readiness stands: every replica
    has the same secret, and a 503 would take the callback and ingest routes down with it."""
    groups = seed(1, "Bad", 1)
    with project_on(tmp_path, groups, f"sqlite:///{tmp_path / 'state' / 'botops.db'}") as project:
        daemon = project.daemon("d", BOTOPS_WECOM__SECRET="not-the-secret")

        def answered() -> tuple[int, bytes] | None:
            assert daemon.proc.poll() is None, daemon.log()[-2000:]
            try:
                return get(daemon, "/readyz")
            except OSError:
                return None

        status, body = wait_until(answered, 30, "/readyz answers")
        ready = json.loads(body)
        assert status == 200
        assert ready["status"] == "degraded"
        assert ready["checks"]["database"] == "ok"
        assert ready["checks"]["scheduler"] == "ok"
        assert ready["checks"]["wecom_token"].startswith("error: WeCom gettoken: errcode 40001")
        assert get(daemon, "/healthz")[0] == 200
        # The start sync failed on the secret: at error level, naming why, for log alerting.
        line = wait_until(lambda: log_line(daemon, "daemon.sync_incomplete"), 30, "sync logged")
        assert line["level"] == "error"
        assert line["aborted"] is True
        assert "40001" in line["first_errors"][0]
        assert log_line(daemon, "daemon.synced") is None


def test_the_daemon_posts_the_daily_digest_to_the_ops_robot_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    groups = seed(2, "Dig", 1)
    with project_on(tmp_path, groups, f"sqlite:///{tmp_path / 'state' / 'botops.db'}") as project:
        project.write(
            "sops/now.yaml",
            playbook("now", "现在", [("due", utcnow() - timedelta(minutes=1), 'text: "现在发"')]),
        )
        project.tag_groups(groups, "现在", monkeypatch, capsys)
        project.sim.add_robot("ops-robot-key")
        daemon = project.daemon(
            "d", BOTOPS_ALERTS__ROBOT_KEY="ops-robot-key", BOTOPS_REPORTS__DIGEST_AT="00:00"
        )
        [message] = wait_until(project.sim.robot_messages, 30, "the digest posted")
        wait_until(lambda: project.sim.count(ADD) == 1, 30, "the send created")
        time.sleep(3)  # several more planning rounds (plan_every is 1 s here)
        assert project.sim.robot_messages() == [message], "posted more than once"
        content = message.body["markdown"]["content"]
        assert content.startswith("## botops 每日运营简报")
        assert "ops-robot-key" not in daemon.log()  # the key is a secret
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0


def test_ops_hear_once_when_the_wecom_credentials_stop_working_and_once_when_they_work(
    tmp_path: Path,
) -> None:
    """The app loses its 客户联系 permission (48002); the ops robot is busy when the first
    alert goes out; the daemon is restarted while the sync is still broken; then the
    permission comes back. Ops hear of the failure once and of the recovery once."""
    groups = seed(1, "Cred", 1)
    with project_on(tmp_path, groups, f"sqlite:///{tmp_path / 'state' / 'botops.db'}") as project:
        sim = project.sim
        sim.add_robot("ops-robot-key")
        tags = "externalcontact/get_corp_tag_list"
        sim.faults.add(Fault("errcode", times=1_000_000, api=tags, errcode=48002))
        # busy for every try of one round (the client's retry_attempts)
        sim.faults.add(Fault("errcode", times=2, api="webhook/send", errcode=-1))
        env = {
            "BOTOPS_WECOM__RETRY_ATTEMPTS": "2",
            "BOTOPS_ALERTS__ROBOT_KEY": "ops-robot-key",
            "BOTOPS_DAEMON__SYNC_EVERY": "1s",
            "BOTOPS_REPORTS__DIGEST_AT": "null",
        }

        def alerts() -> list[str]:
            texts = [m.body["markdown"]["content"] for m in sim.robot_messages()]
            return [t for t in texts if t.startswith("**botops: 企业微信同步")]

        first = project.daemon("first", **env)
        [failed] = wait_until(alerts, 30, "the failure posted once the robot took it")
        assert failed.startswith("**botops: 企业微信同步失败**")
        assert "48002" in failed
        assert "alerts.failed" in first.log()  # the robot's refusal, before it was retried
        first.signal(signal.SIGTERM)
        assert first.wait(timeout=20) == 0

        second = project.daemon("second", **env)
        wait_until(
            lambda: second.log().count("daemon.sync_incomplete") >= 3, 30, "three failed syncs"
        )
        assert alerts() == [failed], "a restarted daemon alerted again"
        sim.faults.clear()
        wait_until(lambda: len(alerts()) == 2, 30, "the recovery posted")
        time.sleep(3)  # several more syncs (every second here): no more alerts
        assert alerts()[1].startswith("**botops: 企业微信同步已恢复**")
        assert len(alerts()) == 2
        second.signal(signal.SIGTERM)
        assert second.wait(timeout=20) == 0


def test_ops_hear_when_wecom_refuses_sends_once_an_hour_at_most(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two steps five seconds apart, every mass send refused (40058): one alert, naming the
    first round's failures; the second round's, in the same hour, wait for the digest."""
    groups = seed(2, "Refuse", 2)  # two owners: two WeCom tasks per step
    hour = (utcnow() + timedelta(days=30)).replace(minute=10, second=0, microsecond=0)
    with project_on(tmp_path, groups, f"sqlite:///{tmp_path / 'state' / 'botops.db'}") as project:
        sim = project.sim
        steps = [
            ("first", hour + timedelta(seconds=3), 'text: "第一条"'),
            ("second", hour + timedelta(seconds=8), 'text: "第二条"'),
        ]
        project.write("sops/refused.yaml", playbook("refused", "拒绝", steps))
        project.tag_groups(groups, "拒绝", monkeypatch, capsys)
        sim.add_robot("ops-robot-key")
        sim.faults.add(Fault("errcode", times=4, api=ADD, errcode=40058, errmsg="invalid param"))
        daemon = project.daemon(
            "d",
            ["--now", hour.isoformat()],
            BOTOPS_ALERTS__ROBOT_KEY="ops-robot-key",
            BOTOPS_REPORTS__DIGEST_AT="null",
        )

        def failed(step: str) -> bool:
            rows = project.rows(step)
            return len(rows) == 2 and all(r.state == SendState.FAILED for r in rows)

        wait_until(lambda: failed("first"), 30, "the first step's sends failed")
        [alert] = wait_until(sim.robot_messages, 30, "the failure alert posted")
        wait_until(lambda: failed("second"), 30, "the second step's sends failed")
        time.sleep(2)  # a few more rounds (plan_every 1 s here)
        assert sim.robot_messages() == [alert], "alerted twice within the hour"
        content = alert.body["markdown"]["content"]
        assert content.startswith('**botops: 发送失败** <font color="warning">2 条</font>')
        assert "> refused / first → Refuse群0：WeCom" in content
        assert "40058" in content
        assert "second" not in content
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0


def test_ops_hear_of_a_replica_that_stopped_without_a_clean_shutdown(tmp_path: Path) -> None:
    """A replica was killed (OOM, kill -9) ten minutes ago: its heartbeat row is stale. The
    next leader alerts it once."""
    with project_on(tmp_path, seed(1, "Gone", 1), f"sqlite:///{tmp_path / 'botops.db'}") as project:
        project.sim.add_robot("ops-robot-key")
        engine = open_database(project.database_url)
        try:
            with session(engine) as s:
                gone = utcnow() - timedelta(minutes=10)
                beat(s, "pod-old:7:dead", "leader", "0.1.0", gone - timedelta(hours=1), gone)
        finally:
            engine.dispose()
        daemon = project.daemon(
            "d", BOTOPS_ALERTS__ROBOT_KEY="ops-robot-key", BOTOPS_REPORTS__DIGEST_AT="null"
        )
        [alert] = wait_until(project.sim.robot_messages, 30, "the crashed replica alerted")
        content = alert.body["markdown"]["content"]
        assert content.startswith("**botops: 一个 botops 进程没有正常退出**")
        assert "pod-old:7:dead（主节点" in content
        time.sleep(2)  # more planning rounds: once only
        assert len(project.sim.robot_messages()) == 1
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0


CUSTOMERS = """\
id: vip-care
name: 客户关怀
audience:
  chat_type: single
  tag_filter: [[VIP]]
steps:
  - id: hello
    schedule: {at: "2026-12-07T10:00:00"}
    text: 您好
"""


def test_a_playbook_for_individual_customers_is_said_to_be_not_sent(tmp_path: Path) -> None:
    """botops stores groups only: a `chat_type: single` playbook previews but never sends,
    and the daemon says so at start rather than staying silent."""
    with project_on(tmp_path, seed(1, "Vip", 1), f"sqlite:///{tmp_path / 'b.db'}") as project:
        project.write("sops/vip.yaml", CUSTOMERS)
        daemon = project.daemon("d")
        found = wait_until(
            lambda: log_line(daemon, "daemon.customer_playbooks_not_sent"), 30, "the warning"
        )
        assert found["playbooks"] == ["vip-care"]
        assert found["level"] == "warning"
