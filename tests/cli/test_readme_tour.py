"""The README's five-minute tour works on a fresh clone and leaves no untracked files behind:
every file it writes into the checkout is git-ignored, and a file written into a folder the
clone does not have is preceded by the `mkdir -p` that makes it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.helpers import REPO


def tour() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## A five-minute tour", 1)[1]
    [block] = re.findall(r"```sh\n(.*?)```", section, flags=re.S)[:1]
    return [line.split("  #", 1)[0] for line in block.splitlines()]


def written(line: str) -> list[str]:
    """The files a tour line writes: `> FILE` and `--output FILE`."""
    return re.findall(r"(?:>|--output)\s+([^\s;&|]+)", line)


def test_every_file_the_tour_writes_is_ignored_by_git():
    outputs = [path for line in tour() for path in written(line)]
    assert {"checkin.jsonl", ".vscode/botops.schema.json"} <= set(outputs), outputs
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin", "-z"],
        input="\0".join(outputs) + "\0",
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.split("\0")[:-1]
    assert sorted(ignored) == sorted(outputs), "add these to .gitignore"


def in_a_fresh_clone(folder: Path) -> bool:
    tracked = subprocess.run(
        ["git", "ls-files", "--", str(folder)], cwd=REPO, capture_output=True, text=True
    )
    return folder == Path(".") or bool(tracked.stdout.strip())


def test_a_file_written_into_a_new_folder_makes_the_folder_first():
    for line in tour():
        for path in written(line):
            folder = Path(path).parent
            if not in_a_fresh_clone(folder):
                assert f"mkdir -p {folder} &&" in line, line
