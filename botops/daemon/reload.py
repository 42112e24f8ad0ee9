"""Live playbook changes: ops edit sops/ and templates/ while the daemon runs.

`PlaybookSource.refresh()` is called every few seconds, so its no-change path only stats
files: it compares (size, mtime_ns, ctime_ns, inode) of every file under both folders with the
last look, and reads nothing. When a file's stat changes, only that file is hashed; when the
hashed content differs from what is running, the whole library is reloaded with
`load_library` — a playbook and the templates it uses are one version (`library.digest`).

A change is all or nothing: with any error, the running library stays exactly as it was
(`load_library` would otherwise hand back the valid rest, and a playbook with a typo would
look "removed"). The rejection is reported once per distinct bad content — not every cycle —
through `on_rejected`; fixing the files (or reverting them) clears it.

Stat before read: a write that lands during a reload changes the stat again, so the next
refresh sees it (`FolderWatch` says how writes within one timestamp tick are caught).
Files editors leave behind (swap files, backups) are ignored, or typing in vim would cause a
reload, and an alert, on every save of its swap file. `settle=True` loads only once the
files stood still for one refresh, so a `git pull` caught half-way is neither applied nor
alerted as a mixed version.
"""

from __future__ import annotations

import enum
import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from botops.errors import PlaybookError, Problem
from botops.playbook.checks import PolicyDefaults
from botops.playbook.library import PlaybookLibrary, load_library
from botops.wecom import limits

Loader = Callable[
    [Iterable[Path], Path, PolicyDefaults | None], tuple[PlaybookLibrary, list[Problem]]
]
OnRejected = Callable[[Sequence[Problem]], None]
StatKey = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode
EDITOR_LITTER = ("~", ".swp", ".swo", ".swx", ".tmp")


class ReloadStatus(enum.Enum):
    UNCHANGED = "unchanged"  # nothing new to apply or report (or files still moving, settle)
    APPLIED = "applied"  # a valid change replaced the running library
    REJECTED = "rejected"  # a new invalid change: kept the running library, on_rejected called


@dataclass(frozen=True, slots=True)
class ReloadResult:
    status: ReloadStatus
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()  # REJECTED: all of them; APPLIED: its warnings


class PlaybookSource:
    """The running playbook library, reloaded from disk when the files change."""

    def __init__(
        self,
        sops_dir: Path,
        templates_dir: Path,
        defaults: PolicyDefaults | None,
        on_rejected: OnRejected,
        *,
        settle: bool = False,
        load: Loader = load_library,
    ) -> None:
        """Load once; raises PlaybookError if the playbooks at start do not validate."""
        self._dirs = (sops_dir, templates_dir)
        self._defaults = defaults
        self._on_rejected = on_rejected
        self._load = load
        self._watch = FolderWatch(self._dirs, settle=settle)
        self._good = self._watch.fingerprint()  # before reading: a write now shows next time
        library, problems = load([sops_dir], templates_dir, defaults)
        if _errors(problems):
            raise PlaybookError(problems)
        self._library = library
        self._rejected: str | None = None
        self.rejected_problems: tuple[Problem, ...] = ()  # of the files on disk, while rejected

    def current(self) -> PlaybookLibrary:
        return self._library

    def refresh(self) -> ReloadResult:
        """Look at the files; apply a valid change, reject an invalid one (see module doc)."""
        fingerprint = self._watch.poll()
        if fingerprint is None or fingerprint == self._rejected:
            return ReloadResult(ReloadStatus.UNCHANGED)
        if fingerprint == self._good:  # touched, or put back as it was
            self._rejected, self.rejected_problems = None, ()
            return ReloadResult(ReloadStatus.UNCHANGED)
        library, problems = self._load([self._dirs[0]], self._dirs[1], self._defaults)
        if _errors(problems):
            self._rejected, self.rejected_problems = fingerprint, tuple(problems)
            self._on_rejected(problems)
            return ReloadResult(ReloadStatus.REJECTED, problems=tuple(problems))
        result = _difference(self._library, library, problems)
        self._library, self._good = library, fingerprint
        self._rejected, self.rejected_problems = None, ()
        return result


class FolderWatch:
    """Change detection for folders of small files that costs one `stat` per file.

    A file is read (hashed) only when its stat changed — and once more at the next look,
    because a second write within the file system's timestamp tick (a few ms) leaves the
    same size and mtime: git's "racily clean" problem, solved here without reading a clock.
    """

    def __init__(self, roots: Sequence[Path], *, settle: bool = False) -> None:
        self._roots = tuple(roots)
        self._settle = settle
        self._seen: dict[Path, StatKey] = {}
        self._unsettled: dict[Path, StatKey] | None = None
        self._hashes: dict[Path, tuple[StatKey, str]] = {}
        self._unconfirmed: set[Path] = set()

    def fingerprint(self) -> str:
        """Every file's path and content, as one hash."""
        self._seen = self._stat_all()
        return self._hash(self._seen)

    def poll(self) -> str | None:
        """The fingerprint when the files may have changed since the last look, else None
        (also None while they are still changing, with `settle`)."""
        snapshot = self._stat_all()
        if snapshot == self._seen:
            if not self._unconfirmed:
                return None
        elif self._settle and snapshot != self._unsettled:
            self._unsettled = snapshot
            return None
        self._unsettled, self._seen = None, snapshot
        return self._hash(snapshot)

    def _stat_all(self) -> dict[Path, StatKey]:
        snapshot: dict[Path, StatKey] = {}
        for root in self._roots:
            for path in sorted(root.rglob("*")) if root.is_dir() else ():
                if path.name.endswith(EDITOR_LITTER) or path.name.startswith(("#", ".#")):
                    continue
                try:
                    st = path.stat()
                except OSError:  # removed since listed, or a dangling link
                    continue
                if stat.S_ISREG(st.st_mode):
                    snapshot[path] = _stat_key(st)
        return snapshot

    def _hash(self, snapshot: dict[Path, StatKey]) -> str:
        hashes: dict[Path, tuple[StatKey, str]] = {}
        unconfirmed: set[Path] = set()
        total = hashlib.sha256()
        for path, key in snapshot.items():
            cached = self._hashes.get(path)
            if cached is None or cached[0] != key or path in self._unconfirmed:
                fresh = (key, _content_hash(path))
                if fresh != cached:
                    unconfirmed.add(path)  # changed since the last look: read it again next time
                cached = fresh
            hashes[path] = cached
            total.update(f"{path}\0{cached[1]}\0".encode())
        self._hashes, self._unconfirmed = hashes, unconfirmed
        return total.hexdigest()


def _stat_key(st: os.stat_result) -> StatKey:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _content_hash(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:  # removed since the stat: the next look will see it gone
        return ""


def _errors(problems: Sequence[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def _difference(
    old: PlaybookLibrary, new: PlaybookLibrary, warnings: Sequence[Problem]
) -> ReloadResult:
    before = {p.id: old.digest(p.id) for p in old.playbooks}
    after = {p.id: new.digest(p.id) for p in new.playbooks}
    return ReloadResult(
        ReloadStatus.APPLIED,
        added=tuple(sorted(after.keys() - before.keys())),
        changed=tuple(sorted(k for k in after.keys() & before.keys() if after[k] != before[k])),
        removed=tuple(sorted(before.keys() - after.keys())),
        problems=tuple(warnings),
    )


def format_alert(problems: Sequence[Problem], limit: int = limits.ROBOT_MARKDOWN_MAX_BYTES) -> str:
    """Markdown for the ops robot: what is wrong, errors first, within WeCom's byte limit."""
    errors = _errors(problems)
    warnings = len(problems) - len(errors)
    header = (
        "**botops: playbook change rejected**\n"
        "Still running the last valid playbooks; fix these and save again"
        " (`botops validate` shows the same).\n"
        f"> {len(errors)} error(s), {warnings} warning(s)\n"
    )
    lines = [_line(p) for p in sorted(problems, key=lambda p: (p.severity != "error", p))]
    text = header
    for index, line in enumerate(lines):
        rest = len(lines) - index - 1
        reserve = limits.utf8_len(f"…and {len(lines)} more") if rest else 0
        if limits.utf8_len(text + line) + reserve > limit:
            return text + f"…and {len(lines) - index} more"
        text += line
    return text.rstrip("\n")


def _line(problem: Problem, max_bytes: int = 600) -> str:
    prefix = "" if problem.severity == "error" else "warning: "
    message = prefix + problem.message.replace("`", "'")
    if limits.utf8_len(message) > max_bytes:
        message = message.encode()[: max_bytes - 3].decode(errors="ignore") + "…"
    return f"- `{problem.path}:{problem.line}:{problem.col}` {message}\n"
