"""The README tour on the built-in simulator (`sync`, `groups import`, `run --once`,
`import-messages`, `points`, `report`, `send-test`), and what it must say: an unknown
`--playbook`/`--group` is an error with a near match, a check-in before the group's Day 1 is
told apart from one in a group no check-in playbook selects, a re-import reads naturally, a
send-test outside the playbook's audience warns, and a check-in rate that is not nothing
never reads 0%."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from botops.cli import main
from botops.simulator import Simulator
from botops.store.db import open_database, session
from botops.store.models import GroupMember, LedgerEntry, LedgerReason
from tests.cli.support import GROUPS, PARENTS, READING
from tests.helpers import SHANGHAI

LECTURE = "wrOgQhDgAAMYQiS5ol9G7gK9JVCCCC"  # 科学育儿直播课·家长交流1群, tagged 讲座 only
# A pretended planning round in the past (the check-ins are dated after it, before now):
# checkin-100days gives the 打卡挑战 groups their Day 1 on that day.
DAY_ONE = (datetime.now(SHANGHAI) - timedelta(days=2)).replace(
    hour=6, minute=0, second=0, microsecond=0
)


@pytest.fixture
def toured(env: Path, builtin: list[Simulator], capsys: pytest.CaptureFixture[str]) -> Path:
    """`botops sync && botops groups import examples/groups.yaml` in a copy of the checkout
    (the built-in simulator seeds itself from ./examples/groups.yaml): no Day 1 yet."""
    (env / "examples").mkdir()
    shutil.copy(GROUPS, env / "examples" / "groups.yaml")
    assert main(["sync"]) == 0
    assert main(["groups", "import", "examples/groups.yaml"]) == 0
    capsys.readouterr()
    return env


@pytest.fixture
def started(toured: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """...then the daemon's first planning round (`botops run --once`): Day 1 for both."""
    assert main(["run", "--once", "--now", DAY_ONE.isoformat()]) == 0
    capsys.readouterr()
    return toured


def checkin_file(folder: Path, *records: tuple[str, str, str]) -> Path:
    """(msgid, chat_id, sender_id) check-ins, sent two hours after Day 1 began."""
    sent_at = (DAY_ONE + timedelta(hours=2)).isoformat()
    lines = [
        json.dumps(
            {
                "msgid": msgid,
                "chat_id": chat,
                "sender_id": sender,
                "sender_name": "小雨",
                "text": "打卡",
                "sent_at": sent_at,
            },
            ensure_ascii=False,
        )
        for msgid, chat, sender in records
    ]
    path = folder / f"checkin-{records[0][0]}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def import_lines(path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["import-messages", str(path)]) == 0
    return capsys.readouterr().out.splitlines()


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 1  # a domain error, as `botops withdraw` refuses an unknown id
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, err
    return err


# --- 1. points: unknown ids ----------------------------------------------------------------


def test_points_refuses_a_playbook_or_group_nothing_knows_naming_a_near_match(
    toured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(["points", "--playbook", "checkin-100day"], capsys)
    assert err == "botops: unknown playbook 'checkin-100day' (did you mean 'checkin-100days'?)"
    err = refused(["points", "--playbook", "nope", "--format", "json"], capsys)
    assert err == (
        "botops: unknown playbook 'nope' (known: checkin-100days, flash-sale, lecture-series)"
    )
    err = refused(["points", "--group", "wrNOPE"], capsys)
    assert err.startswith("botops: unknown group 'wrNOPE': not in the local store or the ledger")
    assert "did you mean" not in err
    typo = READING[:-1] + "X"
    err = refused(["points", "--group", typo], capsys)
    assert err.endswith(f"(did you mean {READING!r}?)")
    err = refused(["points", "--group", "百日读书打卡1群"], capsys)  # its name, not its id
    assert f"did you mean {READING!r}" in err


def test_points_knows_a_playbook_and_group_only_the_ledger_has(
    toured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A campaign removed from sops/ since, in a group no longer stored: its points still show.
    engine = open_database(f"sqlite:///{toured / 'data' / 'botops.db'}")
    try:
        with session(engine) as s:
            s.add(
                LedgerEntry(
                    member_id="wm-old",
                    member_name="老朋友",
                    chat_id="wrGoneGroup",
                    playbook="retired-campaign",
                    local_day=DAY_ONE.date(),
                    points=5,
                    reason=LedgerReason.ADJUSTMENT,
                    created_at=datetime.now(UTC),
                    note="kept",
                )
            )
    finally:
        engine.dispose()
    for scope in (["--playbook", "retired-campaign"], ["--group", "wrGoneGroup"]):
        assert main(["points", *scope]) == 0
        assert "wm-old" in capsys.readouterr().out


def test_points_of_a_known_playbook_or_group_with_no_points_yet_say_so(
    toured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["points", "--playbook", "lecture-series"]) == 0
    assert capsys.readouterr().out == "no points yet (playbook lecture-series)\n"
    assert main(["points", "--group", LECTURE]) == 0
    assert capsys.readouterr().out == f"no points yet (group {LECTURE})\n"
    assert main(["points", "--playbook", "checkin-100days", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("[]\n", "no points yet (playbook checkin-100days)\n")


# --- 2. import-messages before Day 1 -------------------------------------------------------


def test_a_check_in_before_the_groups_day_one_is_told_apart_from_an_unselected_group(
    toured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    early = checkin_file(toured, ("tour-1", READING, "wmTour01"))
    assert import_lines(early, capsys) == [
        "1 message(s) read, 0 check-in(s) scored",
        "  not scored: 1 in a group not started yet (no Day 1: run botops run, or botops run "
        f"--once, first) (e.g. group {READING} under checkin-100days)",
    ]
    elsewhere = checkin_file(toured, ("tour-2", LECTURE, "wmTour01"))
    assert import_lines(elsewhere, capsys) == [
        "1 message(s) read, 0 check-in(s) scored",
        "  not scored: 1 in a group no check-in playbook selects",
    ]
    # Once the daemon's first round gave the group its Day 1, the same message scores.
    assert main(["run", "--once", "--now", DAY_ONE.isoformat()]) == 0
    capsys.readouterr()
    assert import_lines(early, capsys) == ["1 message(s) read, 1 check-in(s) scored"]


# --- 3. import-messages again ----------------------------------------------------------------


def test_importing_the_same_file_again_says_already_scored(
    started: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = checkin_file(started, ("tour-1", READING, "wmTour01"))
    assert import_lines(path, capsys) == ["1 message(s) read, 1 check-in(s) scored"]
    assert import_lines(path, capsys) == [
        "1 message(s) read, 0 check-in(s) scored",
        "  not scored: 1 already scored (the same message imported or received before)",
    ]


# --- 4. send-test outside the audience -----------------------------------------------------


def test_send_test_to_a_group_outside_the_audience_warns_and_still_sends(
    toured: Path, builtin: list[Simulator], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["send-test", "checkin-100days", "morning-task", "--group", LECTURE]
    assert main(argv) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: group {LECTURE} (科学育儿直播课·家长交流1群) is not in the audience of "
        "checkin-100days (its tags: 讲座): the campaign never sends this step to it; sending "
        "the test anyway"
    ]
    assert "created mass-send task msg" in captured.out
    assert [t.target_id for t in builtin[-1].tasks()[0].targets] == [LECTURE]

    assert main([*argv[:4], READING]) == 0  # in the audience: no warning
    assert "warning:" not in capsys.readouterr().err


# --- 5. report: a rate that is not nothing ------------------------------------------------


def test_one_member_checking_in_among_hundreds_is_no_zero_percent(
    started: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = open_database(f"sqlite:///{started / 'data' / 'botops.db'}")
    try:
        with session(engine) as s:
            query = select(GroupMember.userid).where(
                GroupMember.chat_id == READING, GroupMember.member_type == 2
            )
            member = s.exec(query.order_by(GroupMember.userid)).first()
            customers = s.exec(
                select(GroupMember.userid).where(
                    GroupMember.chat_id.in_([READING, PARENTS]),  # type: ignore[attr-defined]
                    GroupMember.member_type == 2,
                )
            ).all()
    finally:
        engine.dispose()
    assert member is not None
    assert len(customers) > 100  # one of them is well under 1 %
    path = checkin_file(tmp_path, ("tour-1", READING, member))
    assert import_lines(path, capsys) == ["1 message(s) read, 1 check-in(s) scored"]
    now = ["--now", (DAY_ONE + timedelta(hours=14)).isoformat()]
    share = f"{100 / len(customers):.1f}%"

    assert main(["report", *now]) == 0
    table = capsys.readouterr().out
    assert re.search(rf"^day 1\s+1\s+{len(customers)}\s+{re.escape(share)}\s+2$", table, re.M)

    assert main(["report", *now, "--format", "html", "--output", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert f"1/{len(customers)}（{share}）" in page
    assert "（0%）" not in page

    assert main(["report", *now, "--format", "json"]) == 0
    (rates,) = json.loads(capsys.readouterr().out)["checkin_rates"]
    assert rates["days"][0]["rate"] == round(1 / len(customers), 4)
