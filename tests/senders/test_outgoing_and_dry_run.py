"""From a real plan to Outgoings (one per batch), and the dry-run sender that records them."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from botops.planning.planner import Window, plan
from botops.planning.policy import SendPolicy
from botops.planning.targets import Target
from botops.senders.base import Receipt, outgoing_from_plan
from botops.senders.dry_run import DryRunSender
from tests.helpers import SHANGHAI, local

PLAYBOOK = """\
id: camp
name: camp
timezone: Asia/Shanghai
anchor: 2026-03-02
audience: {tags: {any: [打卡]}}
steps:
  - id: morning
    schedule: {day: 1, time: "09:00"}
    text: "第{{ day }}天，开始打卡"
    attachments:
      - image: {file: poster.png}
    expires_after: 2h
  - id: late
    schedule: {day: 1, time: "23:00"}
    text: "太晚了"
"""


def group(chat_id: str, owner: str) -> Target:
    return Target(chat_id, f"群{chat_id}", owner, frozenset({"打卡"}), None, 10)


@pytest.fixture
def planned(build, tmp_path):
    (tmp_path / "sops").mkdir(exist_ok=True)
    (tmp_path / "sops" / "poster.png").write_bytes(b"png")
    library, problems = build({"camp.yaml": PLAYBOOK})
    assert [p for p in problems if p.severity == "error"] == []
    targets = [group("wr1", "zhangsan"), group("wr2", "lisi"), group("wr3", "zhangsan")]
    policy = SendPolicy.model_validate(
        {"quiet_hours": {"start": "22:00", "end": "07:00", "action": "skip"}}
    )
    start = local("2026-03-02 00:00")
    result = plan(library, targets, Window(start, start + timedelta(days=1)), policy)
    return library, result, tmp_path


def test_sendable_sends_grouped_by_batch(planned):
    library, result, tmp_path = planned
    assert {s.step for s in result.sends if not s.sendable} == {"late"}  # quiet hours: skipped
    outgoing = outgoing_from_plan(result.sends, library)
    by_sender = {o.sender: o for o in outgoing}
    assert sorted(by_sender) == ["lisi", "zhangsan"]
    zhang = by_sender["zhangsan"]
    assert zhang.target_ids == ["wr1", "wr3"]
    assert [key for _, key in zhang.targets] == [
        s.key for s in result.sends if s.sender == "zhangsan" and s.sendable
    ]
    assert (zhang.playbook, zhang.step, zhang.chat_type, zhang.text) == (
        "camp",
        "morning",
        "group",
        "第1天，开始打卡",
    )
    assert zhang.attachments[0].image.file == "poster.png"
    assert zhang.base_dir == tmp_path / "sops"
    assert zhang.expires_at == datetime(2026, 3, 2, 11, 0, tzinfo=SHANGHAI)
    assert zhang.batch != by_sender["lisi"].batch


@pytest.mark.anyio
async def test_dry_run_records_what_would_be_sent(planned):
    library, result, _ = planned
    dry = DryRunSender()
    receipts = [await dry.send(o) for o in outgoing_from_plan(result.sends, library)]
    # batches in the order they first appear in the plan (sorted by time, then target)
    assert [o.target_ids for o in dry.outgoing] == [["wr1", "wr3"], ["wr2"]]
    assert sorted(t for r in receipts for t in r.sent) == ["wr1", "wr2", "wr3"]
    assert all(r == Receipt("dry_run", sent=r.sent) for r in receipts)
