"""`botops sync`, `botops groups` and `botops preview` (stored groups) through `main()`.

No credentials are configured, so `botops sync` runs against the built-in simulator seeded
from examples/groups.yaml in the working directory — what a new user sees first.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from botops.cli import main, sync_cmd
from botops.errors import WeComRejectedError
from botops.planning.targets import load_targets
from tests.helpers import REPO

EXAMPLE = load_targets(REPO / "examples" / "groups.yaml")
FLASH = "wrOgQhDgAAMYQiS5ol9G7gK9JVEEEE"  # 宝藏好物快闪群①, created 2026-11-23


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "examples").mkdir()
    shutil.copy(REPO / "examples" / "groups.yaml", tmp_path / "examples" / "groups.yaml")
    (tmp_path / "config.yaml").write_text(
        f"database:\n  url: sqlite:///{tmp_path / 'state' / 'botops.db'}\n"
        f"sops_dir: {REPO / 'sops'}\ntemplates_dir: {REPO / 'templates'}\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("BOTOPS_")]:
        monkeypatch.delenv(name)
    return tmp_path


def run_json(capsys, *argv: str):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_sync_then_list_and_preview_use_the_stored_groups(project, capsys):
    assert main(["sync"]) == 0
    out, err = capsys.readouterr()
    assert "built-in simulator seeded from examples/groups.yaml" in err
    assert len(err.strip().splitlines()) == 1  # that one line; no log noise, no bar (no TTY)
    assert "groups: 6 listed, 6 fetched — 6 new, 0 changed, 0 unchanged, 0 dismissed" in out
    assert out.rstrip().endswith("ok")
    assert (project / "state" / "botops.db").is_file()

    code, listed, _ = run_json(capsys, "groups", "list", "--format", "json")
    assert code == 0
    by_id = {g["chat_id"]: g for g in listed}
    assert set(by_id) == {t.id for t in EXAMPLE}
    for target in EXAMPLE:
        group = by_id[target.id]
        assert (group["name"], group["owner"], group["status"]) == (
            target.name,
            target.owner,
            "active",
        )
        assert group["member_count"] == target.member_count + 1  # the owner is a member too
        assert target.created_at is not None
        assert group["created_at"] == target.created_at.isoformat()
        assert group["tags"] == []  # botops tags are ours to set; WeCom does not tag groups

    preview = ["preview", "--format", "json", "--start", "2026-11-23", "--days", "3"]
    code, sends, _ = run_json(capsys, *preview)
    assert (code, sends) == (0, [])  # every shipped playbook selects groups by tag

    assert main(["groups", "tag", FLASH, "快闪群"]) == 0
    assert "added 快闪群" in capsys.readouterr().out
    code, sends, _ = run_json(capsys, *preview)
    assert code == 0
    assert {(s["chat_id"], s["playbook"]) for s in sends} == {(FLASH, "flash-sale")}
    assert [s["step"] for s in sends] == ["warm-up", "countdown", "open"]
    assert sends[0]["target_name"] == "宝藏好物快闪群①"


def test_second_sync_reports_no_changes_as_json(project, capsys):
    assert main(["sync"]) == 0
    capsys.readouterr()
    code, report, _ = run_json(capsys, "sync", "--format", "json")
    assert code == 0
    assert report["ok"] is True
    assert report["groups"]["unchanged"] == 6
    assert report["groups"]["new"] == report["groups"]["changed"] == []
    assert report["members"] == {"joined": 0, "left": 0, "in_new_groups": 0}
    assert report["corp_tags"] == {"added": [], "removed": [], "renamed": []}


def test_groups_tag_untag_round_trip(project, capsys):
    assert main(["sync"]) == 0
    assert main(["groups", "tag", FLASH, " 快闪群 ", "新品"]) == 0
    assert main(["groups", "tag", "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", "新品"]) == 0
    capsys.readouterr()
    code, tagged, _ = run_json(capsys, "groups", "list", "--tag", "新品", "--format", "json")
    assert code == 0
    assert sorted(g["chat_id"] for g in tagged) == sorted([FLASH, "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"])
    assert next(g for g in tagged if g["chat_id"] == FLASH)["tags"] == ["快闪群", "新品"]

    assert main(["groups", "untag", FLASH, "新品", "没有的标签"]) == 0
    assert "removed 新品; tags now: 快闪群" in capsys.readouterr().out
    code, tagged, _ = run_json(capsys, "groups", "list", "--tag", "新品", "--format", "json")
    assert [g["chat_id"] for g in tagged] == ["wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"]

    assert main(["groups", "list"]) == 0
    table = capsys.readouterr().out
    assert "宝藏好物快闪群①" in table
    assert "6 group(s); member counts include staff" in table


def test_unknown_chat_id_and_empty_tag_exit_1(project, capsys):
    assert main(["sync"]) == 0
    capsys.readouterr()
    assert main(["groups", "tag", "wrNoSuchGroup", "打卡"]) == 1
    assert "no group 'wrNoSuchGroup' in the store" in capsys.readouterr().err
    assert main(["groups", "untag", "wrNoSuchGroup", "打卡"]) == 1
    assert "wrNoSuchGroup" in capsys.readouterr().err
    assert main(["groups", "tag", FLASH, "  "]) == 1
    assert "a tag must not be empty" in capsys.readouterr().err


def test_preview_without_synced_groups_says_what_to_do(project, capsys):
    assert main(["preview", "--format", "json"]) == 1
    err = capsys.readouterr().err
    assert "run `botops sync` first, or pass --groups FILE" in err
    assert not (project / "state" / "botops.db").exists()  # a preview creates nothing


def test_preview_group_filter_names_the_store(project, capsys):
    assert main(["sync"]) == 0
    capsys.readouterr()
    assert main(["preview", "--group", "wrNope"]) == 1
    assert "not in the store: wrNope" in capsys.readouterr().err


def test_config_option_after_the_command(project, capsys):
    other = project / "other.yaml"
    other.write_text(f"database:\n  url: sqlite:///{project / 'other.db'}\n", encoding="utf-8")
    (project / "config.yaml").unlink()
    assert main(["sync", "--config", str(other)]) == 0
    assert main(["--config", str(other), "groups", "list"]) == 0
    assert "6 group(s)" in capsys.readouterr().out
    assert (project / "other.db").is_file()


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(project, capsys, monkeypatch):
    terminal = FakeTTY()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(["sync"]) == 0
    drawn = terminal.getvalue()
    assert "\rsyncing groups [" in drawn
    assert "] 0/6" in drawn
    assert f"[{'#' * 30}] 6/6\n" in drawn


def test_ctrl_c_stops_cleanly_reports_and_exits_130(project, capsys, monkeypatch):
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is handled by someone else here")
    real = sync_cmd.sync_groups

    async def interrupted(client, engine, clock, *, progress, concurrency, report):
        def press_ctrl_c_after_two(done: int, total: int) -> None:
            if done == 2:
                signal.raise_signal(signal.SIGINT)

        return await real(
            client, engine, clock, progress=press_ctrl_c_after_two, concurrency=1, report=report
        )

    monkeypatch.setattr(sync_cmd, "sync_groups", interrupted)
    code, report, _ = run_json(capsys, "sync", "--format", "json")
    assert code == 130
    assert report["interrupted"] is True
    assert report["ok"] is False
    assert len(report["groups"]["new"]) == 2
    assert report["groups"]["dismissed"] == []

    monkeypatch.setattr(sync_cmd, "sync_groups", real)
    code, rerun, _ = run_json(capsys, "sync", "--format", "json")
    assert code == 0
    assert (len(rerun["groups"]["new"]), rerun["groups"]["unchanged"]) == (4, 2)


class OneGroupFails:
    """The real client, except that WeCom rejects groupchat/get for one group."""

    def __init__(self, client, chat_id: str) -> None:
        self._client = client
        self._chat_id = chat_id

    async def list_group_chats(self, status_filter: int = 0):
        return await self._client.list_group_chats(status_filter)

    async def get_corp_tags(self):
        return await self._client.get_corp_tags()

    async def get_group_chat(self, chat_id: str):
        if chat_id == self._chat_id:
            raise WeComRejectedError("externalcontact/groupchat/get", 60011, "no privilege")
        return await self._client.get_group_chat(chat_id)


def test_a_failing_group_is_reported_and_exits_1(project, capsys, monkeypatch):
    real = sync_cmd.sync_groups

    async def with_failure(client, engine, clock, **options):
        return await real(OneGroupFails(client, FLASH), engine, clock, **options)

    monkeypatch.setattr(sync_cmd, "sync_groups", with_failure)
    assert main(["sync"]) == 1
    out = capsys.readouterr().out
    assert "6 listed, 5 fetched — 5 new" in out
    assert (
        f"error    {FLASH}: WeCom externalcontact/groupchat/get: errcode 60011 no privilege" in out
    )
    assert "no group was marked dismissed" in out


def test_a_bad_database_url_is_a_config_error(project, capsys, monkeypatch):
    monkeypatch.setenv("BOTOPS_DATABASE__URL", "not a url")
    assert main(["preview"]) == 1
    assert "config database.url: not a database URL" in capsys.readouterr().err


def test_groups_import_tags_from_a_file_all_or_nothing(project, capsys):
    assert main(["sync"]) == 0
    capsys.readouterr()
    extra = project / "more.yaml"
    extra.write_text(
        "- {chat_id: wrNotSyncedAAAAAAAAAAAAAAAAAA, name: x, owner: y, tags: [打卡挑战]}\n"
        + (project / "examples" / "groups.yaml").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    assert main(["groups", "import", "more.yaml"]) == 1
    assert "wrNotSyncedAAAAAAAAAAAAAAAAAA" in capsys.readouterr().err
    _, listed, _ = run_json(capsys, "groups", "list", "--format", "json")
    assert all(g["tags"] == [] for g in listed)  # nothing changed

    assert main(["groups", "import", "more.yaml", "--skip-unknown"]) == 0
    assert (
        "6 group(s) tagged, 0 already had their tags, 1 unknown skipped" in capsys.readouterr().out
    )
    _, listed, _ = run_json(capsys, "groups", "list", "--format", "json")
    assert {g["chat_id"]: g["tags"] for g in listed} == {t.id: sorted(t.tags) for t in EXAMPLE}

    # The shipped playbooks now plan for the synced groups.
    code, sends, _ = run_json(
        capsys, "preview", "--start", "2026-12-08", "--days", "1", "--format", "json"
    )
    assert code == 0
    assert {s["playbook"] for s in sends} == {"checkin-100days", "lecture-series"}
