"""What preview says beside the plan: sends the daemon does not make, sample figures, and
playbooks or segments no target matches (a typo in a tag)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from botops.cli import main
from botops.preview import render_html, render_json, render_table
from botops.preview.notes import CUSTOMERS_NOT_SENT, SAMPLE_FIGURES
from tests.helpers import write_tree
from tests.preview.factories import SHANGHAI, sample_plan

CAMP = """\
id: camp
name: 打卡营
anchor: 2026-12-01
audience: {tags: {any: [打卡]}}
segments:
  - name: 宝妈
    when: {any: [宝妈群]}
steps:
  - id: evening
    schedule: {day: 1, time: "20:00"}
    text: "今天已有 {{ checkin.today_count }} 位伙伴完成打卡"
  - id: morning
    schedule: {day: 1, time: "09:00"}
    text: "早安"
"""
VIP = """\
id: vip
name: VIP 关怀
anchor: 2026-12-01
audience: {chat_type: single, tag_filter: [[VIP]]}
steps:
  - id: hello
    schedule: {day: 1, time: "10:00"}
    text: "您好"
"""
TARGETS = """\
groups:
  - chat_id: wrA
    name: 打卡A群
    owner: zhangsan
    tags: [打卡, 宝妈群]
  - chat_id: wrB
    name: 闲聊群
    owner: lisi
    tags: []
customers:
  - external_userid: wmC
    name: 王女士
    owner: lisi
    tags: [VIP]
"""
PREVIEW = ["preview", "--groups", "targets.yaml", "--start", "2026-12-01", "--days", "1"]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_tree(tmp_path, {"camp.yaml": CAMP, "vip.yaml": VIP})
    (tmp_path / "targets.yaml").write_text(TARGETS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("BOTOPS_")]:
        monkeypatch.delenv(name)
    return tmp_path


def preview_json(capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[list[dict], str]:
    assert main([*PREVIEW, "--format", "json", *flags]) == 0
    out, err = capsys.readouterr()
    return json.loads(out), err


def notes_by_step(sends: list[dict]) -> dict[str, list[str]]:
    return {s["step"]: s["notes"] for s in sends}


# --- sends the daemon does not make, and texts with sample figures ---------------------------


def test_customer_sends_are_marked_not_sent_by_the_daemon(project, capsys):
    sends, _ = preview_json(capsys)
    assert notes_by_step(sends) == {"evening": [], "morning": [], "hello": [CUSTOMERS_NOT_SENT]}
    assert main(PREVIEW) == 0
    table = capsys.readouterr().out
    [row] = [line for line in table.splitlines() if "vip/hello" in line]
    assert "planned [1]" in row
    assert f"  [1] {CUSTOMERS_NOT_SENT}" in table.splitlines()
    assert main([*PREVIEW, "--format", "html", "--output", "cal.html"]) == 0
    page = (project / "cal.html").read_text(encoding="utf-8")
    assert page.count("not sent by botops run") == 1


def test_sample_figures_are_marked_in_every_format(project, capsys):
    sends, _ = preview_json(capsys, "--sample-checkins")
    evening = next(s for s in sends if s["step"] == "evening")
    assert evening["text"] == "今天已有 86 位伙伴完成打卡"
    assert evening["notes"] == [SAMPLE_FIGURES]
    assert notes_by_step(sends)["morning"] == []  # reads no check-in figures
    # Without the flag the text waits for real figures: the planner's reason says so.
    sends, _ = preview_json(capsys)
    assert notes_by_step(sends)["evening"] == []
    assert main([*PREVIEW, "--sample-checkins"]) == 0
    lines = capsys.readouterr().out.splitlines()
    [row] = [line for line in lines if "camp/evening" in line]
    assert "planned [2]" in row  # footnotes are numbered in order: [1] is the 10:00 customer
    assert f"  [2] {SAMPLE_FIGURES}" in lines
    html = ["--format", "html", "--output", "cal.html", "--sample-checkins"]
    assert main([*PREVIEW, *html]) == 0
    assert SAMPLE_FIGURES in (project / "cal.html").read_text(encoding="utf-8")


def test_views_mark_customer_sends_without_being_told():
    plan = sample_plan()  # holds one customer send
    customer = next(s for s in plan.sends if s.target_kind == "customer")
    table = render_table(plan, SHANGHAI, color=False)
    assert f"[1] {CUSTOMERS_NOT_SENT}" in table
    objects = json.loads(render_json(plan, SHANGHAI))
    assert [o["notes"] for o in objects if o["key"] == customer.key] == [[CUSTOMERS_NOT_SENT]]
    assert CUSTOMERS_NOT_SENT in render_html(plan, SHANGHAI, title="t")


# --- playbooks and segments no target matches ------------------------------------------------


def test_no_warning_when_every_playbook_and_segment_has_targets(project, capsys):
    _, err = preview_json(capsys)
    assert err == ""


def test_a_typo_in_an_audience_tag_warns(project, capsys):
    write_tree(project, {"camp.yaml": CAMP.replace("[打卡]", "[打咔]")})
    sends, err = preview_json(capsys)
    assert {s["playbook"] for s in sends} == {"vip"}  # standard output is still the list
    assert "warning: playbook 'camp' matches none of the 3 targets in targets.yaml" in err
    assert main(PREVIEW) == 0
    assert "playbook 'camp' matches none" in capsys.readouterr().err
    assert main([*PREVIEW, "--format", "html", "--output", "cal.html"]) == 0
    page = (project / "cal.html").read_text(encoding="utf-8")
    assert "playbook &#x27;camp&#x27; matches none of the 3 targets" in page


def test_a_typo_in_a_segment_tag_warns(project, capsys):
    write_tree(project, {"camp.yaml": CAMP.replace("[宝妈群]", "[宝妈羣]")})
    sends, err = preview_json(capsys)
    assert {s["segment"] for s in sends if s["playbook"] == "camp"} == {"default"}
    assert err == "warning: playbook 'camp' segment '宝妈' matches none of its 1 targets\n"


def test_a_group_filter_does_not_make_other_playbooks_look_unused(project, capsys):
    _, err = preview_json(capsys, "--group", "wrB")
    assert err == ""


def test_a_disabled_playbook_is_not_warned_about(project, capsys):
    write_tree(project, {"camp.yaml": CAMP.replace("[打卡]", "[打咔]") + "enabled: false\n"})
    _, err = preview_json(capsys)
    assert err == ""
