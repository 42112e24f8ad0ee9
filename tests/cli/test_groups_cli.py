"""`botops groups list|tag|untag|import` on a store already synced: what the operator reads
when a filter matches nothing, an untag names a tag the group lacks, or an import file names
groups botops has not synced."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from botops.cli import main
from botops.store.db import open_database, session
from botops.store.groups import add_group_tags, upsert_group

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store holding three synced groups (one tagged 早起 club), no WeCom needed."""
    for name in [n for n in os.environ if n.startswith("BOTOPS_")]:
        monkeypatch.delenv(name)
    db = tmp_path / "botops.db"
    (tmp_path / "config.yaml").write_text(f"database:\n  url: sqlite:///{db}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    engine = open_database(f"sqlite:///{db}")
    try:
        with session(engine) as s:
            for i in range(3):
                chat = {
                    "chat_id": f"wrG{i}",
                    "name": f"打卡{i}群",
                    "owner": "zhangsan",
                    "create_time": 1_790_000_000 + i,
                    "member_version": "v1",
                    "member_list": [{"userid": "zhangsan", "type": 1, "join_time": 1_790_000_000}],
                }
                upsert_group(s, chat, NOW)  # type: ignore[arg-type]
            add_group_tags(s, "wrG0", ["早起 club", "讲座"])
    finally:
        engine.dispose()
    return tmp_path


def test_a_filter_matching_nothing_does_not_ask_for_a_sync(project, capsys):
    assert main(["groups", "list", "--tag", "早起club"]) == 0
    out = capsys.readouterr().out
    assert "botops sync" not in out
    assert "no active group tagged '早起club' (3 groups stored)" in out

    assert main(["groups", "list", "--status", "dismissed"]) == 0
    out = capsys.readouterr().out
    assert "botops sync" not in out
    assert "no dismissed group (3 groups stored)" in out


def test_an_empty_store_still_says_to_sync(project, capsys):
    empty = project / "empty.db"
    open_database(f"sqlite:///{empty}").dispose()
    (project / "config.yaml").write_text(f"database:\n  url: sqlite:///{empty}\n")
    assert main(["groups", "list", "--status", "all", "--tag", "讲座"]) == 0
    assert "no groups (run `botops sync` to fetch them from WeCom)" in capsys.readouterr().out


def test_untag_says_which_tags_the_group_did_not_have(project, capsys):
    assert main(["groups", "untag", "wrG0", "讲座", "早起"]) == 0
    out = capsys.readouterr().out
    assert "wrG0 打卡0群: removed 讲座; tags now: 早起 club; it did not have 早起\n" in out

    assert main(["groups", "untag", "wrG1", "讲座"]) == 0
    out = capsys.readouterr().out
    assert "wrG1 打卡1群: removed nothing; tags now: (none); it did not have 讲座\n" in out


def test_import_names_the_unknown_groups_and_the_way_past_them(project, capsys):
    (project / "more.yaml").write_text(
        "- {chat_id: wrG1, name: a, owner: b, tags: [讲座]}\n"
        "- {chat_id: wrNotSyncedA, name: a, owner: b, tags: [讲座]}\n"
        "- {chat_id: wrNotSyncedB, name: a, owner: b, tags: [讲座]}\n",
        encoding="utf-8",
    )
    assert main(["groups", "import", "more.yaml"]) == 1
    err = capsys.readouterr().err
    assert "more.yaml: 2 groups not in the store: wrNotSyncedA, wrNotSyncedB" in err
    assert "nothing imported" in err
    assert "--skip-unknown" in err
