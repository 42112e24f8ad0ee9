"""Live playbook changes: valid edits apply, invalid ones keep the last good library."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from botops.daemon import reload
from botops.daemon.reload import PlaybookSource, ReloadStatus, format_alert
from botops.errors import PlaybookError, Problem
from botops.playbook.checks import PolicyDefaults
from botops.playbook.library import PlaybookLibrary, load_library
from botops.wecom import limits
from tests.helpers import write_tree

PLAYBOOK = """\
id: {id}
name: 演示
audience:
  tags: {{any: [打卡]}}
steps:
  - id: hello
    schedule: {{day: 1, time: "09:00"}}
    {message}
"""


def playbook(pid: str, message: str = 'text: "你好 {{ group.name }}"') -> str:
    return PLAYBOOK.format(id=pid, message=message)


class Harness:
    """A sops/ + templates/ tree, a PlaybookSource over it, and what it did."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.alerts: list[Sequence[Problem]] = []
        self.loads = 0
        write_tree(
            root,
            {"a.yaml": playbook("a"), "b.yaml": playbook("b", "template: shared.j2")},
            {"shared.j2": "早上好 {{ group.name }}"},
        )
        self.source = PlaybookSource(
            root / "sops", root / "templates", None, self.alerts.append, load=self._load
        )

    def _load(
        self, paths: Iterable[Path], templates: Path, defaults: PolicyDefaults | None
    ) -> tuple[PlaybookLibrary, list[Problem]]:
        self.loads += 1
        return load_library(paths, templates, defaults)

    def write(self, relative: str, text: str) -> None:
        (self.root / relative).write_text(textwrap.dedent(text), encoding="utf-8")

    def digest(self, pid: str) -> str:
        return self.source.current().digest(pid)

    def text(self, pid: str) -> str:
        return (
            self.source.current()
            .message(pid, "hello", "default")
            .template.render(group={"name": "G"})
        )


@pytest.fixture
def tree(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def test_a_valid_edit_applies_and_names_the_playbook(tree: Harness) -> None:
    before = tree.digest("a")
    tree.write("sops/a.yaml", playbook("a", 'text: "晚上好 {{ group.name }}"'))

    result = tree.source.refresh()

    assert result.status is ReloadStatus.APPLIED
    assert (result.added, result.changed, result.removed) == ((), ("a",), ())
    assert tree.digest("a") != before
    assert tree.text("a") == "晚上好 G"


def test_an_invalid_edit_keeps_the_old_library_and_alerts_once(tree: Harness) -> None:
    running = tree.source.current()
    tree.write("sops/a.yaml", playbook("a").replace("audience:", "audiance:"))

    first, second = tree.source.refresh(), tree.source.refresh()

    assert first.status is ReloadStatus.REJECTED
    assert second.status is ReloadStatus.UNCHANGED
    assert tree.source.current() is running
    assert len(tree.alerts) == 1
    where = tree.root / "sops" / "a.yaml"
    assert [str(p) for p in tree.alerts[0]] == [
        f"{where}:1:1: missing required key 'audience'",
        f"{where}:3:1: unknown key 'audiance' (did you mean 'audience'?)",
    ]
    assert tree.source.rejected_problems == tuple(tree.alerts[0])
    assert tree.loads == 2  # the start, and the bad content once: not reparsed every cycle


def test_fixing_a_rejected_edit_applies_it(tree: Harness) -> None:
    tree.write("sops/a.yaml", playbook("a").replace("audience:", "audiance:"))
    assert tree.source.refresh().status is ReloadStatus.REJECTED

    tree.write("sops/a.yaml", playbook("a", 'text: "修好了 {{ group.name }}"'))
    result = tree.source.refresh()

    assert result.status is ReloadStatus.APPLIED
    assert result.changed == ("a",)
    assert tree.text("a") == "修好了 G"
    assert tree.source.rejected_problems == ()
    assert len(tree.alerts) == 1


def test_a_different_mistake_alerts_again_and_reverting_clears_the_rejection(
    tree: Harness,
) -> None:
    good = (tree.root / "sops" / "a.yaml").read_text(encoding="utf-8")
    tree.write("sops/a.yaml", good.replace("audience:", "audiance:"))
    tree.source.refresh()
    tree.write("sops/a.yaml", good.replace("day: 1,", "day: one,"))
    assert tree.source.refresh().status is ReloadStatus.REJECTED
    assert len(tree.alerts) == 2

    tree.write("sops/a.yaml", good)

    assert tree.source.refresh().status is ReloadStatus.UNCHANGED  # the running version
    assert tree.source.rejected_problems == ()
    tree.write("sops/a.yaml", good.replace("day: 1,", "day: one,"))
    tree.source.refresh()
    assert len(tree.alerts) == 3  # broken again after a fix: a new event


def test_removing_and_adding_playbook_files(tree: Harness) -> None:
    (tree.root / "sops" / "a.yaml").unlink()
    tree.write("sops/c.yaml", playbook("c"))

    result = tree.source.refresh()

    assert (result.added, result.changed, result.removed) == (("c",), (), ("a",))
    assert sorted(p.id for p in tree.source.current().playbooks) == ["b", "c"]


def test_a_template_edit_changes_the_playbooks_that_use_it(tree: Harness) -> None:
    before = {pid: tree.digest(pid) for pid in ("a", "b")}
    tree.write("templates/shared.j2", "午安 {{ group.name }}")

    result = tree.source.refresh()

    assert result.changed == ("b",)
    assert tree.digest("b") != before["b"]
    assert tree.digest("a") == before["a"]
    assert tree.text("b") == "午安 G"


def test_a_broken_template_is_rejected_too(tree: Harness) -> None:
    tree.write("templates/shared.j2", "早上好 {{ group.name ")

    assert tree.source.refresh().status is ReloadStatus.REJECTED
    assert tree.text("b") == "早上好 G"
    assert "template syntax" in str(tree.alerts[0][0])


def test_no_change_does_not_reparse(tree: Harness) -> None:
    results = [tree.source.refresh() for _ in range(3)]

    assert {r.status for r in results} == {ReloadStatus.UNCHANGED}
    assert all(r.changed == () for r in results)
    assert tree.loads == 1
    assert tree.alerts == []


def test_a_touch_or_editor_litter_does_not_reparse(tree: Harness) -> None:
    path = tree.root / "sops" / "a.yaml"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    tree.write("sops/.a.yaml.swp", "vim was here")
    tree.write("sops/a.yaml~", "audiance: backup")

    assert tree.source.refresh().status is ReloadStatus.UNCHANGED
    assert tree.loads == 1


def test_steady_state_reads_no_file(tree: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    reads = count_reads(monkeypatch)
    tree.source.refresh()  # the files read at start are confirmed once more
    reads.clear()

    tree.source.refresh()

    assert reads == []


def test_a_same_size_rewrite_within_one_timestamp_tick_is_still_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file system whose timestamps do not move between the first look and the write.
    monkeypatch.setattr(reload, "_stat_key", lambda st: (st.st_size, 0, 0, 0))
    tree = Harness(tmp_path)
    tree.write("sops/a.yaml", playbook("a", 'text: "再见 {{ group.name }}"'))  # same size
    reads = count_reads(monkeypatch)

    assert tree.source.refresh().changed == ("a",)  # everything read at start is read again
    assert tree.source.refresh().status is ReloadStatus.UNCHANGED  # a.yaml read once more
    assert tree.source.refresh().status is ReloadStatus.UNCHANGED  # nothing read
    assert [p.name for p in reads] == ["a.yaml", "b.yaml", "shared.j2", "a.yaml"]


def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    reads: list[Path] = []
    real = reload._content_hash

    def counting(path: Path) -> str:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(reload, "_content_hash", counting)
    return reads


def test_settle_waits_for_the_files_to_stand_still(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.yaml": playbook("a")})
    source = PlaybookSource(tmp_path / "sops", tmp_path / "templates", None, print, settle=True)
    (tmp_path / "sops" / "a.yaml").write_text(playbook("a", 'text: "一"'), encoding="utf-8")

    assert source.refresh().status is ReloadStatus.UNCHANGED  # moving: wait one look
    assert source.refresh().changed == ("a",)


def test_the_first_load_must_be_valid(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.yaml": playbook("a").replace("audience:", "audiance:")})

    with pytest.raises(PlaybookError, match="unknown key 'audiance'"):
        PlaybookSource(tmp_path / "sops", tmp_path / "templates", None, print)


# --- the ops robot's alert ---------------------------------------------------------------------


def test_alert_lists_errors_before_warnings() -> None:
    problems = [
        Problem("sops/a.yaml", 9, 1, "quiet hours overlap", "warning"),
        Problem("sops/a.yaml", 3, 1, "unknown key `audiance`"),
    ]

    text = format_alert(problems)

    assert text.startswith("**botops: playbook change rejected**")
    assert "> 1 error(s), 1 warning(s)" in text
    lines = text.splitlines()
    assert lines[-2:] == [
        "- `sops/a.yaml:3:1` unknown key 'audiance'",
        "- `sops/a.yaml:9:1` warning: quiet hours overlap",
    ]


def test_alert_fits_the_robot_markdown_limit() -> None:
    problems = [Problem(f"sops/活动{i}.yaml", i, 1, "模板变量未定义 " * 10) for i in range(200)]

    text = format_alert(problems)

    assert limits.utf8_len(text) <= limits.ROBOT_MARKDOWN_MAX_BYTES
    shown = sum(1 for line in text.splitlines() if line.startswith("- "))
    assert text.endswith(f"…and {200 - shown} more")
    assert 0 < shown < 200


def test_one_huge_message_is_cut_not_dropped() -> None:
    text = format_alert([Problem("sops/a.yaml", 1, 1, "长" * 5000)])

    assert limits.utf8_len(text) <= limits.ROBOT_MARKDOWN_MAX_BYTES
    assert "`sops/a.yaml:1:1` 长" in text
    assert "more" not in text
