"""Revision 0010 on a ledger written before it, SQLite and PostgreSQL: bonus rows already paid
(several lengths in one row, or paid twice by the race 0010 closes) stay as they are, and new
bonuses are paid once per length; downgrading keeps every member's total."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import CreateIndex

from botops.checkins import engine as checkin_engine
from botops.checkins.message import Message
from botops.checkins.rules import Decision, Outcome
from botops.playbook.model import CheckinRule
from botops.store.db import open_database, session
from botops.store.migrate import alembic_config, current_revision, head_revision
from botops.store.models import LedgerEntry, LedgerReason
from tests.helpers import BACKENDS, SHANGHAI, postgres_url, reset_postgres

NOW = datetime(2026, 3, 20, 4, 0, tzinfo=UTC)
RULE = CheckinRule.model_validate({"keywords": ["打卡"], "streak_bonus": {2: 5, 7: 30, 21: 100}})
INSERT = text(
    "INSERT INTO ledger (member_id, member_name, chat_id, playbook, local_day, points, reason,"
    " source_msgid, created_at, note) VALUES (:member, '', 'wr1', 'camp', :day, :points,"
    " :reason, :msgid, :at, '')"
)
# What 0009 allowed: one bonus row paying 7 and 21 at once, and the race's double payment.
LEGACY = [
    ("wm-a", date(2026, 3, 1), 10, "CHECKIN", "a1"),
    ("wm-a", date(2026, 3, 1), 130, "STREAK_BONUS", "a1"),
    ("wm-b", date(2026, 3, 19), 10, "CHECKIN", "b1"),
    ("wm-b", date(2026, 3, 19), 30, "STREAK_BONUS", "b1"),
    ("wm-b", date(2026, 3, 12), 5, "MAKEUP", "b2"),
    ("wm-b", date(2026, 3, 19), 30, "STREAK_BONUS", "b2"),
]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'botops.db'}"
        return
    url = postgres_url()
    reset_postgres(url)
    yield url
    reset_postgres(url)


def at_0009_with_legacy_rows(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0009")
        for member, day, points, reason, msgid in LEGACY:
            connection.execute(
                INSERT,
                {
                    "member": member,
                    "day": day,
                    "points": points,
                    "reason": reason,
                    "msgid": msgid,
                    "at": NOW,
                },
            )
    engine.dispose()


def totals(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        query = text("SELECT member_id, SUM(points) FROM ledger GROUP BY member_id")
        return {member: int(points) for member, points in connection.execute(query)}


def bonus_rows(engine: Engine, columns: str = "member_id, points, source_msgid, milestone"):
    with engine.connect() as connection:
        query = f"SELECT {columns} FROM ledger WHERE reason = 'STREAK_BONUS' ORDER BY id"
        return [tuple(row) for row in connection.execute(text(query))]


def check_in(engine: Engine, member: str, msgid: str, day: int) -> Decision:
    message = Message(
        msgid, "wr1", member, "", "打卡", datetime(2026, 3, day, 9, 0, tzinfo=SHANGHAI), "test"
    )
    with session(engine) as s:
        return checkin_engine.apply(s, "camp", RULE, SHANGHAI, message, NOW)


def test_rows_paid_before_0010_stay_and_new_bonuses_are_paid_once(url: str):
    at_0009_with_legacy_rows(url)
    engine = open_database(url)
    try:
        assert current_revision(engine) == head_revision()
        assert totals(engine) == {"wm-a": 140, "wm-b": 75}
        assert [milestone for *_, milestone in bonus_rows(engine)] == [None, None, None]
        # wm-a's 2 March makes a 2-day run, a length never paid: paid, with its milestone.
        assert check_in(engine, "wm-a", "a2", 2).bonuses == ((2, 5),)
        assert bonus_rows(engine)[-1] == ("wm-a", 5, "a2", 2)
        # The database refuses a second row for length 2 (a racing message's)...
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO ledger (member_id, member_name, chat_id, playbook, local_day,"
                    " points, reason, source_msgid, created_at, note, milestone) VALUES"
                    " ('wm-a', '', 'wr1', 'camp', :day, 5, 'STREAK_BONUS', 'a3', :at, '', 2)"
                ),
                {"day": date(2026, 3, 2), "at": NOW},
            )
        # ...and a check-in is still one per message (ux_ledger_source, narrowed by 0010).
        assert check_in(engine, "wm-a", "a2", 2).outcome is Outcome.DUPLICATE
        assert totals(engine) == {"wm-a": 140 + 10 + 5, "wm-b": 75}
    finally:
        engine.dispose()


def test_downgrading_folds_a_messages_bonus_rows_and_keeps_every_total(url: str):
    engine = open_database(url)
    try:
        for day in range(1, 8):  # the 2nd pays length 2, the 7th length 7
            check_in(engine, "wm-a", f"a{day}", day)
        with session(engine) as s:
            # One message paying two lengths, as 0010 writes it.
            for milestone, points in ((21, 100), (50, 300)):
                s.add(
                    LedgerEntry(
                        member_id="wm-b",
                        chat_id="wr1",
                        playbook="camp",
                        local_day=date(2026, 3, 21),
                        points=points,
                        reason=LedgerReason.STREAK_BONUS,
                        source_msgid="b21",
                        created_at=NOW,
                        milestone=milestone,
                    )
                )
        before = totals(engine)
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0009")
        assert totals(engine) == before
        assert bonus_rows(engine, "member_id, points, source_msgid") == [
            ("wm-a", 5, "a2"),
            ("wm-a", 30, "a7"),
            ("wm-b", 400, "b21"),
        ]
    finally:
        engine.dispose()
    reopened = open_database(url)  # and up again
    try:
        assert current_revision(reopened) == head_revision()
        assert totals(reopened) == before
    finally:
        reopened.dispose()


def test_the_migrated_ledger_indexes_are_the_models(tmp_path: Path):
    """The bonus index is there, and every ledger index reads as the model's: autogenerate
    (test_migrations) does not compare a partial index's condition."""
    engine = open_database(f"sqlite:///{tmp_path / 'botops.db'}")
    try:
        with engine.connect() as connection:
            migrated = set(
                connection.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ledger'"
                ).scalars()
            )
        models = {
            str(CreateIndex(index).compile(dialect=engine.dialect)).strip()
            for index in LedgerEntry.__table__.indexes  # type: ignore[attr-defined]
        }
    finally:
        engine.dispose()
    assert migrated == models
    assert any("ux_ledger_bonus" in sql for sql in migrated)
