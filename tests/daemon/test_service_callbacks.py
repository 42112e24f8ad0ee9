"""Stored WeCom callbacks in a running `botops run`: handled by the leader only, one run at
a time, each callback once — however many arrive together, and at whichever replica."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from botops.simulator import Fault
from botops.store.db import open_database, session
from botops.store.models import CallbackEvent
from botops.webhook.crypto import CallbackCrypto
from tests.daemon.service_support import Daemon, Project, playbook, project_on, seed, wait_until
from tests.faults.callbacks import KEY, TOKEN, chat_update, xml_callback
from tests.helpers import postgres_url, reset_postgres

pytestmark = pytest.mark.slow

GET_GROUP = "externalcontact/groupchat/get"
REFRESHED = '"event": "webhook.group_refreshed"'


def prepare(project: Project) -> None:
    project.env |= {"BOTOPS_WECOM__CALLBACK_TOKEN": TOKEN, "BOTOPS_WECOM__CALLBACK_AES_KEY": KEY}
    later = datetime.now(UTC) + timedelta(days=30)
    project.write("sops/quiet.yaml", playbook("quiet", "无", [("later", later, 'text: "x"')]))


def synced(daemon: Daemon) -> None:
    """Its first sync is done: every groupchat/get from now on is for a callback."""
    wait_until(lambda: '"event": "daemon.synced"' in daemon.log(), 30, f"{daemon.name} synced")


def post_updates(daemon: Daemon, project: Project, chat_ids: list[str]) -> list[int]:
    """A name change of each group, all posted at once, one thread each."""
    corp_id = project.sim.config.corp_id
    crypto = CallbackCrypto(TOKEN, KEY, corp_id)
    start = threading.Barrier(len(chat_ids))

    def one(chat_id: str) -> int:
        now = datetime.now(UTC)
        query, body = xml_callback(crypto, chat_update(corp_id, chat_id, now, "v2"), now)
        start.wait()
        url = f"http://127.0.0.1:{daemon.port}/wecom/callback"
        return httpx.post(url, params=query, content=body, timeout=10).status_code

    with ThreadPoolExecutor(len(chat_ids)) as pool:
        return list(pool.map(one, chat_ids))


def all_handled(project: Project, count: int) -> bool:
    engine = open_database(project.database_url)
    try:
        with session(engine) as s:
            rows = s.exec(select(CallbackEvent)).all()
    finally:
        engine.dispose()
    return len(rows) == count and all(r.processed_at is not None and not r.error for r in rows)


def test_a_burst_of_callbacks_is_handled_one_run_at_a_time_each_once(
    tmp_path: Path,
) -> None:
    """Every groupchat/get takes 0.2 s: callbacks pouring in meanwhile each wake the handling,
    but one run at a time does it, and each group is fetched once — not once per overlapping
    run (a burst of 40 used to make 684 calls)."""
    groups = seed(16, "Cb", 2)
    chat_ids = [g["chat_id"] for g in groups]
    with project_on(tmp_path, groups, f"sqlite:///{tmp_path / 'state' / 'botops.db'}") as project:
        prepare(project)
        daemon = project.daemon("d")
        daemon.wait_ready()
        synced(daemon)
        fetched = project.sim.count(GET_GROUP)
        project.sim.faults.add(Fault("latency", api=GET_GROUP, seconds=0.2, times=10_000))
        assert post_updates(daemon, project, chat_ids) == [200] * len(chat_ids)
        wait_until(lambda: all_handled(project, len(chat_ids)), 60, "every callback handled")
        assert project.sim.count(GET_GROUP) - fetched == len(chat_ids), daemon.log()[-3000:]
        assert daemon.log().count(REFRESHED) == len(chat_ids)


@pytest.mark.postgres
def test_a_standby_stores_callbacks_and_leaves_their_handling_to_the_leader(
    tmp_path: Path,
) -> None:
    url = postgres_url()
    reset_postgres(url)
    groups = seed(6, "Sb", 2)
    chat_ids = [g["chat_id"] for g in groups]
    with project_on(tmp_path, groups, url) as project:
        prepare(project)
        leader = project.daemon("leader")
        wait_until(lambda: leader.leader() is True, 30, "the first replica leads")
        standby = project.daemon("standby")
        standby.wait_ready()
        synced(leader)
        fetched = project.sim.count(GET_GROUP)
        assert post_updates(standby, project, chat_ids) == [200] * len(chat_ids)
        wait_until(lambda: all_handled(project, len(chat_ids)), 30, "every callback handled")
        assert standby.leader() is False
        assert REFRESHED not in standby.log()
        assert leader.log().count(REFRESHED) == len(chat_ids)
        assert project.sim.count(GET_GROUP) - fetched == len(chat_ids)
