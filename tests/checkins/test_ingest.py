"""The signed ingest route over real loopback HTTP and a real SQLite file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import func, select
from starlette.applications import Starlette

from botops.clock import FrozenClock
from botops.config import IngestSettings
from botops.playbook.library import PlaybookLibrary, load_library
from botops.store.db import session
from botops.store.groups import add_group_tags, upsert_group
from botops.store.models import LedgerEntry
from botops.webhook.ingest import HEADER, PATH, ingest_routes, signature
from tests.helpers import SHANGHAI, write_tree
from tests.webhook.test_app import running

SECRET = "s3cr3t-ingest"
CHAT = "wrCheckin1"
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
PLAYBOOK = """\
id: daily
name: Daily check-in
anchor: 2026-03-01
audience: {tags: {any: [打卡]}}
checkin:
  keywords: [打卡]
  points: 10
steps:
  - id: evening
    schedule: {days: {from: 1, to: 30}, time: '20:00'}
    text: "今天已有 {{ checkin.today_count }} 人打卡"
"""


def make_library(root: Path) -> PlaybookLibrary:
    write_tree(root, {"daily.yaml": PLAYBOOK})
    library, problems = load_library([root / "sops"], root / "templates")
    assert not [p for p in problems if p.severity == "error"], problems
    return library


def store_group(
    engine: Engine, members: list[str], *, chat_id: str = CHAT, tags: tuple[str, ...] = ("打卡",)
) -> None:
    chat: Any = {
        "chat_id": chat_id,
        "name": "打卡群",
        "owner": "zhangsan",
        "create_time": int(datetime(2026, 2, 1, tzinfo=SHANGHAI).timestamp()),
        "member_list": [{"userid": "zhangsan", "type": 1, "join_time": 1}]
        + [{"userid": m, "type": 2, "join_time": 2, "name": m} for m in members],
        "admin_list": [],
        "member_version": "v1",
    }
    with session(engine) as s:
        upsert_group(s, chat, NOW)
        add_group_tags(s, chat_id, list(tags))


def record(msgid: str, sender: str, text: str = "打卡", **extra: Any) -> dict[str, Any]:
    return {
        "msgid": msgid,
        "chat_id": CHAT,
        "sender_id": sender,
        "sender_name": sender,
        "text": text,
        "sent_at": "2026-03-02T08:30:00+08:00",
        **extra,
    }


def ledger_rows(engine: Engine) -> int:
    with session(engine) as s:
        return s.exec(select(func.count()).select_from(LedgerEntry)).one()


@pytest.fixture
def library(tmp_path: Path) -> PlaybookLibrary:
    return make_library(tmp_path / "ops")


@pytest.fixture
def url(engine: Engine, library: PlaybookLibrary) -> Iterator[str]:
    store_group(engine, ["wm-a", "wm-b", "wm-c"])
    settings = IngestSettings(secret=SecretStr(SECRET), max_body_bytes=4096)
    routes = ingest_routes(settings, engine, FrozenClock(NOW), lambda: library, "Asia/Shanghai")
    with running(Starlette(routes=routes)) as base:
        yield f"{base}{PATH}"


def send(url: str, body: bytes, sig: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    headers[HEADER] = signature(SECRET, body) if sig is None else sig
    return httpx.post(url, content=body, headers=headers)


def batch(*records: dict[str, Any]) -> bytes:
    return json.dumps({"messages": list(records)}, ensure_ascii=False).encode()


def test_a_signed_batch_scores_and_a_redelivery_scores_nothing_new(
    url: str, engine: Engine
) -> None:
    body = batch(record("m1", "wm-a"), record("m2", "wm-b"), record("m3", "wm-a", "hello"))
    answer = send(url, body)
    assert answer.status_code == 200
    assert answer.json() == {"accepted": 3, "checkins": 2, "not_scored": {"not_checkin": 1}}
    assert ledger_rows(engine) == 2
    again = send(url, body)
    assert again.json() == {
        "accepted": 3,
        "checkins": 0,
        "not_scored": {"duplicate": 2, "not_checkin": 1},
    }
    assert ledger_rows(engine) == 2


def test_one_msgid_for_two_members_scores_once_and_is_no_error(url: str, engine: Engine) -> None:
    """Bad input from a forwarder (found by fuzzing): the second use of a msgid, by someone
    else, is a duplicate, not a server error."""
    answer = send(url, batch(record("same", "wm-a"), record("same", "wm-b")))
    assert answer.status_code == 200
    assert answer.json() == {"accepted": 2, "checkins": 1, "not_scored": {"duplicate": 1}}
    assert ledger_rows(engine) == 1


def test_a_message_for_an_unknown_group_scores_nothing(url: str, engine: Engine) -> None:
    answer = send(url, batch(record("m1", "wm-a", chat_id="wrNobody")))
    assert answer.json() == {"accepted": 1, "checkins": 0, "not_scored": {"unknown_group": 1}}
    assert ledger_rows(engine) == 0


def test_a_message_in_a_group_no_check_in_playbook_selects_says_so(
    url: str, engine: Engine
) -> None:
    store_group(engine, ["wm-c"], chat_id="wrUntagged", tags=())
    answer = send(url, batch(record("m1", "wm-c", chat_id="wrUntagged")))
    assert answer.json() == {
        "accepted": 1,
        "checkins": 0,
        "not_scored": {"no_checkin_playbook": 1},
    }
    assert ledger_rows(engine) == 0


def test_staff_and_future_messages_are_counted_apart(url: str, engine: Engine) -> None:
    answer = send(
        url,
        batch(
            record("m1", "zhangsan", "晚上好～还没打卡的伙伴记得打卡"),  # staff
            record("m2", "wm-a", sent_at="2026-03-05T08:00:00+08:00"),  # three days ahead
            record("m3", "wm-a"),
        ),
    )
    assert answer.json() == {
        "accepted": 3,
        "checkins": 1,
        "not_scored": {"staff": 1, "sent_in_future": 1},
    }
    assert ledger_rows(engine) == 1


@pytest.mark.parametrize("sig", ["", "sha256=" + "0" * 64, "sha1=abc"])
def test_a_bad_signature_is_401_and_stores_nothing(url: str, engine: Engine, sig: str) -> None:
    answer = send(url, batch(record("m1", "wm-a")), sig)
    assert answer.status_code == 401
    assert ledger_rows(engine) == 0


def test_a_malformed_record_is_400_naming_it_and_nothing_is_scored(
    url: str, engine: Engine
) -> None:
    bad = record("m2", "wm-b")
    del bad["sent_at"]
    answer = send(url, batch(record("m1", "wm-a"), bad))
    assert answer.status_code == 400
    assert "messages[1]" in answer.json()["error"]
    assert "sent_at" in answer.json()["error"]
    naive = send(url, batch(record("m1", "wm-a", sent_at="2026-03-02T08:30:00")))
    assert naive.status_code == 400
    assert send(url, b"{not json").status_code == 400
    assert ledger_rows(engine) == 0


def test_an_oversized_body_is_413(url: str, engine: Engine) -> None:
    body = batch(*(record(f"m{n}", "wm-a") for n in range(100)))
    assert len(body) > 4096
    assert send(url, body).status_code == 413
    assert ledger_rows(engine) == 0


def test_without_a_secret_the_route_is_503(engine: Engine, library: PlaybookLibrary) -> None:
    routes = ingest_routes(
        IngestSettings(), engine, FrozenClock(NOW), lambda: library, "Asia/Shanghai"
    )
    with running(Starlette(routes=routes)) as base:
        assert send(f"{base}{PATH}", batch(record("m1", "wm-a"))).status_code == 503
