"""Resident size of a real `botops run` daemon with 10,000 groups and 50 playbooks, and the cost
of its per-minute planning round at that size.

The project: 50 playbooks generated from the three shipped ones (sops/), each variant with its
own id and audience tags, templates and assets copied from the repository. 10,000 groups
(60% check-in cohorts enrolled over the last 60 days, 25% lecture groups, 15% flash-sale
groups created over the last 5 days; 5 members each), each selected by one variant, are
seeded into the WeCom simulator and written to a temporary SQLite database by the real
`sync_groups` (reading the simulator's handlers in-process), then tagged and enrolled through
the store.
The daemon (`python -m botops run --now <today 21:00 Asia/Shanghai>`, a rehearsal: its clock
starts at that hour whenever the benchmark runs, so the load is the same) talks to that
simulator over loopback. Its start job syncs all 10,000 groups again, then plans a day
ahead and dispatches what is due; BOTOPS_DAEMON__PLAN_EVERY is shortened to PLAN_EVERY so
that several planning rounds pass in seconds (only the timer changes). VmRSS and VmHWM are
read from /proc/<pid>/status at each phase the daemon logs (started, synced, each planning
round).

Baseline, in the same run: the RSS of a bare Python process that imports botops'
dependencies (the libraries in pyproject.toml, nothing of botops) and does nothing — the
floor any Python daemon on this stack starts from. Target: the daemon <= 150 MB.

Then, in this process on a copy of the daemon's database: `Cycle.plan()` (the daemon's
per-minute round: read 10,000 targets, plan [late-but-fresh, now + 1 day), enqueue —
insert-or-ignore of keys already planned) timed against the planner call alone on the same
targets, and a first round into an empty outbox for comparison.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
TZ = ZoneInfo("Asia/Shanghai")
REHEARSED_AT = clock_time(21, 0)
"""The daemon runs as if it were this time today (`botops run --now`, a rehearsal): the
number of sends in its window [now - 6 h, now + 1 day) depends on the hour, and 21:00 is
the heaviest we measured (20,303), so every run plans the same load at any hour."""
GROUPS = 10_000
PLAYBOOKS = 50
MEMBERS = 5
PLAN_EVERY = "3s"
PLAN_ROUNDS = 3  # planning rounds to wait for after the start job's
TARGET_MB = 150
ROUNDS = 2

# The base playbooks and the audience tag each variant renames.
BASES = (
    ("checkin-100days", "打卡挑战"),
    ("lecture-series", "讲座"),
    ("flash-sale", "快闪群"),
)

# botops' runtime dependencies (pyproject.toml), as imported: the baseline process.
DEPENDENCIES = (
    "alembic",
    "apscheduler.schedulers.asyncio",
    "httpx",
    "jinja2",
    "ruamel.yaml",
    "sqlmodel",
    "sqlalchemy",
    "pydantic",
    "tenacity",
    "structlog",
    "tzdata",
    "zoneinfo",
    "starlette.applications",
    "uvicorn",
    "cryptography.hazmat.primitives.ciphers",
    "defusedxml.ElementTree",
    "prometheus_client",
)


# --- the project ---------------------------------------------------------------------------------


def variant_ids() -> list[tuple[str, str, str]]:
    """(variant id, base id, audience tag) for each of the PLAYBOOKS variants."""
    out = []
    for n in range(PLAYBOOKS):
        base, tag = BASES[n % len(BASES)]
        out.append((f"{base}-{n:02d}", base, f"{tag}{n:02d}"))
    return out


def write_project(root: Path) -> None:
    """sops/ with the variants, templates/ and assets/ copied from the repository."""
    shutil.copytree(REPO / "templates", root / "templates")
    shutil.copytree(REPO / "assets", root / "assets")
    (root / "sops").mkdir()
    for variant, base, tag in variant_ids():
        text = (REPO / "sops" / f"{base}.yaml").read_text(encoding="utf-8")
        text = re.sub(rf"^id: {base}$", f"id: {variant}", text, count=1, flags=re.MULTILINE)
        text = re.sub(r"^(name: .*)$", rf"\1 #{variant[-2:]}", text, count=1, flags=re.MULTILINE)
        old_tag = dict(BASES)[base]
        text, found = re.subn(rf"any: \[{old_tag}\]", f"any: [{tag}]", text, count=1)
        assert found == 1, f"no audience tag in {base}"
        (root / "sops" / f"{variant}.yaml").write_text(text, encoding="utf-8")


@dataclass
class Seed:
    groups: list[dict[str, Any]] = field(default_factory=list)  # simulator group specs
    tags: dict[str, list[str]] = field(default_factory=dict)  # chat id -> botops tags
    enrolled: dict[str, tuple[str, date]] = field(default_factory=dict)  # chat id -> (pb, day 1)


def make_seed(today: date, seed: int = 7) -> Seed:
    """The group mix of bench/planning.py, spread over the variants, dated around `today`."""
    rng = random.Random(seed)
    by_base: dict[str, list[tuple[str, str]]] = {}
    for variant, base, tag in variant_ids():
        by_base.setdefault(base, []).append((variant, tag))
    out = Seed()
    for n in range(GROUPS):
        chat_id = f"wrMem{n:08d}AAAAAAAAAAAAAAAA"
        created = datetime.combine(today, datetime.min.time(), TZ) + timedelta(
            hours=10 - 24 * rng.randrange(5, 100)
        )
        kind = rng.random()
        if kind < 0.6:
            variant, tag = rng.choice(by_base["checkin-100days"])
            tags = [tag, rng.choice(["宝妈群", "白领群", "学生群"])]
            out.enrolled[chat_id] = (variant, today - timedelta(days=rng.randrange(60)))
            name = f"百日打卡{n}群"
        elif kind < 0.85:
            variant, tag = rng.choice(by_base["lecture-series"])
            tags = [tag, *(["老学员"] if rng.random() < 0.3 else [])]
            name = f"育儿直播课{n}群"
        else:
            variant, tag = rng.choice(by_base["flash-sale"])
            tags = [tag]
            created = datetime.combine(
                today - timedelta(days=rng.randrange(5)), datetime.min.time(), TZ
            ) + timedelta(hours=9)
            name = f"好物快闪{n}群"
        out.groups.append(
            {
                "chat_id": chat_id,
                "name": name,
                "owner": f"staff{rng.randrange(40):02d}",
                "tags": tags,
                "created_at": created.isoformat(),
                "member_count": MEMBERS,
            }
        )
        out.tags[chat_id] = tags
    return out


class _SimulatorSource:
    """The simulator's API handlers called in-process (no HTTP): a `sync_groups` source."""

    def __init__(self, sim: Any) -> None:
        self._sim = sim
        config = sim.config
        answer = sim.call("gettoken", {"corpid": config.corp_id, "corpsecret": config.secret})
        self._token = str(answer["access_token"])

    def _call(self, api: str, body: dict[str, Any]) -> dict[str, Any]:
        raw = json.dumps(body).encode()
        answer: dict[str, Any] = self._sim.call(
            api, {"access_token": self._token}, raw, "application/json"
        )
        if answer["errcode"] != 0:
            raise RuntimeError(f"{api}: {answer}")
        return answer

    async def list_group_chats(self, status_filter: int = 0) -> list[Any]:
        chats: list[Any] = []
        cursor = ""
        while True:
            body = {"status_filter": status_filter, "limit": 1000, "cursor": cursor}
            answer = self._call("externalcontact/groupchat/list", body)
            chats.extend(answer["group_chat_list"])
            cursor = str(answer.get("next_cursor") or "")
            if not cursor:
                return chats

    async def get_group_chat(self, chat_id: str) -> Any:
        body = {"chat_id": chat_id, "need_name": 1}
        return self._call("externalcontact/groupchat/get", body)["group_chat"]

    async def get_corp_tags(self) -> list[Any]:
        return list(self._call("externalcontact/get_corp_tag_list", {}).get("tag_group") or [])


def seed_database(database_url: str, sim: Any, seed: Seed) -> None:
    """`botops sync` (the real `sync_groups`, reading the simulator in-process), then the
    botops-side tags and the check-in enrolments, through the store."""
    from botops.clock import SystemClock
    from botops.store.db import open_database, session
    from botops.store.groups import add_group_tags
    from botops.store.models import Enrolment
    from botops.sync.groups import sync_groups

    engine = open_database(database_url)
    try:
        report = asyncio.run(sync_groups(_SimulatorSource(sim), engine, SystemClock()))
        if not report.ok or report.fetched != GROUPS:
            raise RuntimeError(f"seeding sync: {report}")
        now = datetime.now(UTC)
        with session(engine) as s:
            for chat_id, tags in seed.tags.items():
                add_group_tags(s, chat_id, tags)
            for chat_id, (playbook, day_one) in seed.enrolled.items():
                s.add(
                    Enrolment(
                        target_id=chat_id, playbook_id=playbook, day_one=day_one, enrolled_at=now
                    )
                )
    finally:
        engine.dispose()


# --- measuring processes -------------------------------------------------------------------------


def status_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process, MB (10^6 bytes)."""
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out[name] = int(value.split()[0]) * 1024 / 1e6
    return out


def baseline_mb() -> dict[str, float]:
    """A bare Python process that imports botops' dependencies and does nothing."""
    code = (
        "import importlib, sys\n"
        f"for name in {DEPENDENCIES!r}: importlib.import_module(name)\n"
        "print(open('/proc/self/status').read())\n"
    )
    text = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return {
        m.group(1): int(m.group(2)) * 1024 / 1e6
        for m in re.finditer(r"^(VmRSS|VmHWM):\s+(\d+) kB", text, re.MULTILINE)
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DaemonRun:
    phases: list[tuple[str, float, dict[str, float]]]  # (phase, seconds since start, memory)
    peak: float  # VmHWM at the end, MB


def _events(log: Path) -> list[str]:
    events = []
    with contextlib.suppress(FileNotFoundError), log.open(encoding="utf-8") as f:
        for line in f:
            with contextlib.suppress(ValueError):
                events.append(str(json.loads(line).get("event", "")))
    return events


def run_daemon(root: Path, api_base: str, sim: Any, database_url: str, now: datetime) -> DaemonRun:
    """Start `botops run`, note its memory at each phase it logs, stop it with SIGTERM."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOTOPS_")}
    env |= {
        "BOTOPS_DATABASE__URL": database_url,
        "BOTOPS_DATA_DIR": str(root / "data"),
        "BOTOPS_SOPS_DIR": str(root / "sops"),
        "BOTOPS_TEMPLATES_DIR": str(root / "templates"),
        "BOTOPS_WECOM__API_BASE": api_base,
        "BOTOPS_WECOM__CORP_ID": sim.config.corp_id,
        "BOTOPS_WECOM__SECRET": sim.config.secret,
        "BOTOPS_SERVER__HOST": "127.0.0.1",
        "BOTOPS_SERVER__PORT": str(free_port()),
        "BOTOPS_DAEMON__PLAN_EVERY": PLAN_EVERY,
    }
    log = root / "daemon.log"
    wanted = [("started", "daemon.started"), ("synced", "daemon.synced")] + [
        (f"planning round {n + 1}", "cycle.planned") for n in range(PLAN_ROUNDS + 1)
    ]
    phases: list[tuple[str, float, dict[str, float]]] = []
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "botops", "run", "--now", now.isoformat()],
            env=env,
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    started = time.monotonic()
    try:
        while len(phases) < len(wanted):
            if proc.poll() is not None:
                raise RuntimeError(f"the daemon exited:\n{log.read_text()[-3000:]}")
            if time.monotonic() - started > 300:
                raise RuntimeError(f"the daemon took too long:\n{log.read_text()[-3000:]}")
            events = _events(log)
            name, event = wanted[len(phases)]
            seen = events.count(event)
            needed = sum(1 for _, e in wanted[: len(phases) + 1] if e == event)
            if seen >= needed:
                phases.append((name, time.monotonic() - started, status_mb(proc.pid)))
            else:
                time.sleep(0.05)
        peak = status_mb(proc.pid)["VmHWM"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if "daemon.job_failed" in _events(log):
        raise RuntimeError(f"a daemon job failed:\n{log.read_text()[-3000:]}")
    return DaemonRun(phases, peak)


# --- the planning round, in process --------------------------------------------------------------


def best_of(rounds: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


@dataclass
class PlanningCost:
    sends: int
    first: float  # Cycle.plan() into an empty outbox
    steady: float  # Cycle.plan() again: the same window, every key planned already
    planner: float  # plan() alone on the same targets and window
    read: float  # reading the 10,000 targets from the database


@contextlib.contextmanager
def _cycle(root: Path, database_url: str, now: datetime) -> Iterator[Any]:
    from botops.clock import FrozenClock
    from botops.config import load_settings
    from botops.daemon.runtime import runtime
    from botops.playbook.library import load_library

    settings = load_settings(
        None,
        {
            "BOTOPS_DATABASE__URL": database_url,
            "BOTOPS_SOPS_DIR": str(root / "sops"),
            "BOTOPS_TEMPLATES_DIR": str(root / "templates"),
            # Configured credentials, so no simulator starts; planning calls no WeCom API.
            "BOTOPS_WECOM__API_BASE": "http://127.0.0.1:9",
            "BOTOPS_WECOM__CORP_ID": "bench",
            "BOTOPS_WECOM__SECRET": "bench",
        },
    )
    library, problems = load_library([settings.sops_dir], settings.templates_dir, settings.policy)
    assert not [p for p in problems if p.severity == "error"], problems
    clock = FrozenClock(now)

    async def enter() -> Any:
        stack = contextlib.AsyncExitStack()
        rt = await stack.enter_async_context(runtime(settings, clock, lambda: library))
        return stack, rt

    loop = asyncio.new_event_loop()
    try:
        stack, rt = loop.run_until_complete(enter())
        try:
            yield rt, library, settings
        finally:
            loop.run_until_complete(stack.aclose())
    finally:
        loop.close()


def planning_cost(root: Path, database_url: str, rounds: int, now: datetime) -> PlanningCost:
    from zoneinfo import ZoneInfo as Zone

    from botops.planning.planner import Window, plan
    from botops.store.db import session
    from botops.store.groups import targets

    with _cycle(root, database_url, now) as (rt, library, settings):
        first_start = time.perf_counter()
        report = rt.cycle.plan()
        first = time.perf_counter() - first_start
        steady = best_of(rounds, rt.cycle.plan)
        with session(rt.engine) as s:
            read = best_of(rounds, lambda: targets(s))
            stored = targets(s)
        policy = settings.send_policy
        window = Window(now - timedelta(hours=6), now + settings.daemon.plan_ahead)
        enrol = now.astimezone(Zone(policy.timezone))

        def planner() -> Any:
            return plan(library, stored, window, policy, enrol_at=enrol, checkins_at_send=True)

        sends = len(planner().sends)
        alone = best_of(rounds, planner)
    assert report.inserted > 0, report
    return PlanningCost(sends, first, steady, alone, read)


# --- the report ----------------------------------------------------------------------------------


def main(rounds: int = ROUNDS) -> None:
    from bench.quiet import logging_to
    from botops.simulator import Simulator
    from botops.simulator.server import running_simulator

    base = baseline_mb()
    today = datetime.now(TZ).date()
    now = datetime.combine(today, REHEARSED_AT, TZ)
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        root = Path(tmp)
        write_project(root)
        seed = make_seed(today)
        database = root / "data" / "botops.db"
        database_url = f"sqlite:///{database}"
        started = time.perf_counter()
        sim = Simulator.from_groups(seed.groups)
        with logging_to(root / "seed.log"):
            seed_database(database_url, sim, seed)
        print(
            f"memory: {GROUPS:,} groups ({MEMBERS} members each) and {PLAYBOOKS} playbooks; "
            f"seeded in {time.perf_counter() - started:.0f} s; best of {rounds} daemon runs"
        )
        pristine = root / "seeded.db"
        shutil.copy(database, pristine)
        runs = []
        with running_simulator(sim) as api_base:
            for n in range(rounds):
                shutil.copy(pristine, database)
                for suffix in ("-wal", "-shm"):
                    Path(f"{database}{suffix}").unlink(missing_ok=True)
                daemon = run_daemon(root, api_base, sim, database_url, now)
                runs.append(daemon)
                steps = ", ".join(
                    f"{name} {mem['VmRSS']:.0f} MB @{at:.0f}s" for name, at, mem in daemon.phases
                )
                print(f"  run {n + 1}: {steps}; peak (VmHWM) {daemon.peak:.0f} MB")
        best = min(runs, key=lambda r: r.peak)
        after = best.phases[-1][2]["VmRSS"]
        print(f"  baseline: python importing botops' dependencies {base['VmRSS']:.0f} MB (VmRSS)")
        print(
            f"  daemon after {PLAN_ROUNDS + 1} planning rounds {after:.0f} MB = "
            f"{after / base['VmRSS']:.1f}x baseline (+{after - base['VmRSS']:.0f} MB); peak "
            f"{best.peak:.0f} MB (runs {min(r.peak for r in runs):.0f}-"
            f"{max(r.peak for r in runs):.0f}); target <= {TARGET_MB} MB: "
            f"{'pass' if best.peak <= TARGET_MB else 'MISSED'}"
        )
        with logging_to(root / "cycle.log"):
            cost = planning_cost(root, f"sqlite:///{pristine}", rounds, now)
        print(
            f"  planning round at this size ({cost.sends:,} sends in the window): "
            f"Cycle.plan() {cost.steady:.2f} s every minute ({cost.steady / 60:.1%} of a core) "
            f"= {cost.steady / cost.planner:.2f}x the planner alone ({cost.planner:.2f} s; "
            f"reading the targets {cost.read:.2f} s); first round into an empty outbox "
            f"{cost.first:.2f} s"
        )


if __name__ == "__main__":
    main()
