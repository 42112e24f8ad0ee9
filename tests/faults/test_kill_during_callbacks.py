"""SIGKILL of a real `botops run` while WeCom callbacks and AI-bot check-ins pour in.

Four threads post genuine encrypted callbacks (group updates to /wecom/callback, check-ins
to /wecom/aibot) at a daemon whose WeCom answers every groupchat/get with an error, so the
updates pile up unprocessed. Mid-stream the daemon is killed with SIGKILL; a new one starts
against the same SQLite file and a recovered WeCom. A 200 is a promise: that callback is
stored exactly once and processed after the restart, and that check-in's points are in the
ledger exactly once. A callback that got no 200 is either stored whole or not at all.
"""

from __future__ import annotations

import queue
import signal
import sqlite3
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from botops.simulator import Fault
from botops.simulator.seed import external_userid
from botops.store.db import open_database, session
from botops.store.models import CallbackEvent, LedgerEntry, LedgerReason
from botops.webhook.crypto import CallbackCrypto
from tests.daemon.service_support import Project, project_on, wait_until
from tests.faults.callbacks import (
    AIBOT_KEY,
    AIBOT_TOKEN,
    KEY,
    TOKEN,
    aibot_message,
    chat_update,
    json_callback,
    xml_callback,
)
from tests.helpers import SHANGHAI

pytestmark = pytest.mark.slow

GROUPS, MEMBERS = 8, 12
ITEMS = 160  # half group updates, half check-ins (each by a different member)
KILL_AFTER = 50  # 200s answered before the kill
POSTERS = 4
GET_GROUP = "externalcontact/groupchat/get"
SEED: list[dict[str, Any]] = [
    {
        "chat_id": f"wrKillCb{i}",
        "name": f"打卡{i}群",
        "owner": f"staff{i % 2}",
        "created_at": "2026-01-01T10:00:00+08:00",
        "member_count": MEMBERS,
    }
    for i in range(GROUPS)
]


def camp_playbook() -> str:
    yesterday = (datetime.now(SHANGHAI) - timedelta(days=1)).date()
    return (
        f"id: camp\nname: 打卡营\nanchor: {yesterday.isoformat()}\n"
        "audience: {tags: {any: [打卡营]}}\ncheckin:\n  keywords: [打卡]\n"
        "steps:\n  - id: later\n    schedule: {day: 60, time: '09:00'}\n    text: 你好\n"
    )


@dataclass(frozen=True)
class Item:
    """One callback to post: where, the plaintext WeCom would have encrypted, and the
    check-in's msgid (AI-bot items)."""

    path: str
    plain: str
    msgid: str | None


def items(corp_id: str, api_base: str) -> list[Item]:
    now = datetime.now(UTC)
    made: list[Item] = []
    for n in range(ITEMS // 2):
        chat = SEED[n % GROUPS]["chat_id"]
        made.append(Item("/wecom/callback", chat_update(corp_id, chat, now, f"v{n}"), None))
        member = external_userid(SEED[n % GROUPS]["chat_id"], n // GROUPS)
        msgid = f"killmsg{n:03d}"
        made.append(
            Item(
                "/wecom/aibot",
                aibot_message(msgid, chat, member, "@打卡助手 打卡", api_base),
                msgid,
            )
        )
    return made


class Poster:
    """Posts `work` from several threads at whatever daemon is current; records every
    outcome (status code, or the exception's name for no answer)."""

    def __init__(self, work: list[Item], callback: CallbackCrypto, aibot: CallbackCrypto):
        self.todo: queue.Queue[Item] = queue.Queue()
        for item in work:
            self.todo.put(item)
        self.crypto = {"/wecom/callback": callback, "/wecom/aibot": aibot}
        self.outcomes: dict[Item, int | str] = {}
        self.lock = threading.Lock()
        self.port = 0

    def ok(self) -> int:
        with self.lock:
            return sum(1 for v in self.outcomes.values() if v == 200)

    def run(self) -> None:
        with httpx.Client(timeout=10) as http:
            while True:
                try:
                    item = self.todo.get_nowait()
                except queue.Empty:
                    return
                crypto = self.crypto[item.path]
                build = xml_callback if item.path == "/wecom/callback" else json_callback
                query, body = build(crypto, item.plain, datetime.now(UTC))
                outcome: int | str
                try:
                    answer = http.post(
                        f"http://127.0.0.1:{self.port}{item.path}", params=query, content=body
                    )
                    outcome = answer.status_code
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                with self.lock:
                    self.outcomes[item] = outcome


def stored(project: Project) -> tuple[list[CallbackEvent], list[LedgerEntry]]:
    engine = open_database(project.database_url)
    try:
        with session(engine) as s:
            return list(s.exec(select(CallbackEvent))), list(s.exec(select(LedgerEntry)))
    finally:
        engine.dispose()


def test_a_kill_during_callbacks_keeps_every_answered_one_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "state" / "botops.db"
    with project_on(tmp_path, SEED, f"sqlite:///{database}") as project:
        sim = project.sim
        corp_id = sim.config.corp_id
        api_base = project.env["BOTOPS_WECOM__API_BASE"]
        project.env |= {
            "BOTOPS_WECOM__CALLBACK_TOKEN": TOKEN,
            "BOTOPS_WECOM__CALLBACK_AES_KEY": KEY,
            "BOTOPS_WECOM__AIBOT_TOKEN": AIBOT_TOKEN,
            "BOTOPS_WECOM__AIBOT_AES_KEY": AIBOT_KEY,
        }
        project.write("sops/camp.yaml", camp_playbook())
        project.tag_groups(SEED, "打卡营", monkeypatch, capsys)
        # Group updates cannot be processed yet: WeCom refuses every groupchat/get.
        sim.faults.add(Fault("errcode", api=GET_GROUP, errcode=60011, times=1_000_000))

        first = project.daemon("first")
        first.wait_ready()
        work = items(corp_id, api_base)
        poster = Poster(
            work, CallbackCrypto(TOKEN, KEY, corp_id), CallbackCrypto(AIBOT_TOKEN, AIBOT_KEY, "")
        )
        poster.port = first.port
        threads = [threading.Thread(target=poster.run) for _ in range(POSTERS)]
        for thread in threads:
            thread.start()
        wait_until(lambda: poster.ok() >= KILL_AFTER, 30, f"{KILL_AFTER} callbacks answered")
        first.signal(signal.SIGKILL)
        for thread in threads:
            thread.join(timeout=60)
        assert first.wait(timeout=10) == -signal.SIGKILL
        outcomes = dict(poster.outcomes)
        assert set(outcomes) == set(work)
        answered = {item for item, outcome in outcomes.items() if outcome == 200}
        assert len(answered) >= KILL_AFTER
        assert len(answered) < len(work), "the kill came mid-stream"
        no_answer = {"ConnectError", "RemoteProtocolError", "ReadError", "WriteError"}
        assert set(outcomes.values()) <= {200} | no_answer  # never an error status

        # At the moment of the kill: nothing half-stored. Every row is one posted callback,
        # byte for byte, and every answered callback is there.
        by_payload = {item.plain: item for item in work}
        rows, ledger = stored(project)
        assert all(r.payload in by_payload for r in rows)
        assert {by_payload[r.payload] for r in rows} >= answered
        pending = [r for r in rows if r.processed_at is None]
        assert any(r.kind == "ExternalChatEvent" for r in pending), "updates were waiting"
        check_integrity(database)

        # WeCom recovers; a new daemon takes over the same database.
        sim.faults.clear()
        second = project.daemon("second")
        second.wait_ready()

        def all_processed() -> bool:
            rows, _ = stored(project)
            return bool(rows) and all(r.processed_at is not None for r in rows)

        wait_until(all_processed, 30, "every stored callback processed")
        rows, ledger = stored(project)
        second.signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0, second.log()[-3000:]
        check_integrity(database)

    kept = Counter(by_payload[r.payload] for r in rows)
    assert set(kept) >= answered
    assert max(kept.values()) == 1
    assert all(r.error == "" for r in rows), [r.error for r in rows if r.error]
    # Check-ins: exactly the stored ones scored, each once, 10 points; a 200 means scored.
    scored = Counter(e.source_msgid for e in ledger if e.reason == LedgerReason.CHECKIN)
    stored_checkins = {by_payload[r.payload].msgid for r in rows if r.kind == "AiBotMessage"}
    assert scored == Counter(dict.fromkeys(stored_checkins, 1))
    assert {i.msgid for i in answered if i.msgid} <= stored_checkins
    assert {e.points for e in ledger} == {10}
    # The group updates were processed by re-fetching their group from WeCom.
    updates = sum(1 for r in rows if r.kind == "ExternalChatEvent")
    assert updates > 0
    assert sim.count(GET_GROUP) >= updates


def check_integrity(database: Path) -> None:
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
