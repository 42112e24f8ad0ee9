"""Schema migrations (botops.store.migrate), on SQLite and PostgreSQL: what open_database
does to an empty, a current, a legacy (create_all) and a foreign database."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text
from sqlmodel import SQLModel, select

from botops.errors import ConfigError
from botops.store.db import open_database, session
from botops.store.migrate import (
    INITIAL_REVISION,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)
from botops.store.models import CorpTagRecord
from botops.store.schema_revision import SCHEMA_REVISION
from tests.helpers import BACKENDS, postgres_url


def drop_everything(url: str) -> None:
    """The tables, PostgreSQL's enum types and alembic_version: a server is shared."""
    engine = create_engine(url)
    SQLModel.metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'botops.db'}"
        return
    url = postgres_url()
    drop_everything(url)
    yield url
    drop_everything(url)


@pytest.fixture
def opened(url: str) -> Iterator[Engine]:
    engine = open_database(url)
    yield engine
    engine.dispose()


def table_names(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(inspect(connection).get_table_names())


def add_tag(engine: Engine, tag_id: str = "et1") -> None:
    with session(engine) as s:
        s.add(CorpTagRecord(tag_id=tag_id, name="VIP"))


def tag_ids(engine: Engine) -> list[str]:
    with session(engine) as s:
        return [t.tag_id for t in s.exec(select(CorpTagRecord))]


def create_all_database(url: str) -> Engine:
    """A database as botops made it before migrations: the schema of revision 0001 (what its
    create_all built), no alembic_version."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), INITIAL_REVISION)
        connection.execute(text("DROP TABLE alembic_version"))
    add_tag(engine)
    return engine


def test_upgrade_from_empty_creates_every_table_and_stamps_head(opened: Engine):
    assert table_names(opened) == {*SQLModel.metadata.tables, "alembic_version"}
    assert current_revision(opened) == head_revision()


def test_upgrading_again_is_a_no_op(opened: Engine):
    add_tag(opened)
    upgrade(opened)
    reopened = open_database(opened.url.render_as_string(hide_password=False))
    assert current_revision(reopened) == head_revision()
    assert tag_ids(reopened) == ["et1"]
    reopened.dispose()


def test_migrated_schema_equals_the_models(opened: Engine):
    """The head revision builds exactly the tables the models describe.

    This is the test that makes every change to botops/store/models.py come with a
    migration: change a model without one and this fails, listing what differs. Generate the
    revision with Alembic's autogenerate (docs/operations.md), review it, and commit both.
    """
    with opened.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_a_create_all_database_is_stamped_and_keeps_its_rows(url: str):
    create_all_database(url).dispose()
    engine = open_database(url)
    assert current_revision(engine) == head_revision()
    assert tag_ids(engine) == ["et1"]
    engine.dispose()


def test_a_create_all_database_with_another_schema_is_refused_and_left_alone(url: str):
    legacy = create_all_database(url)
    with legacy.begin() as connection:
        connection.execute(text("DROP INDEX ix_outbox_state"))
    with pytest.raises(ConfigError, match="no alembic_version table") as caught:
        open_database(url).dispose()
    assert caught.value.key == "database.url"
    assert "ix_outbox_state" in str(caught.value)
    assert "alembic_version" not in table_names(legacy)
    assert tag_ids(legacy) == ["et1"]
    legacy.dispose()


def test_a_database_migrated_by_a_newer_botops_is_refused(opened: Engine):
    with opened.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(ConfigError, match="revision 9999"):
        upgrade(opened)


def test_a_database_migrated_by_a_newer_botops_is_refused_on_open(opened: Engine):
    with opened.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(ConfigError, match="revision 9999"):
        open_database(opened.url.render_as_string(hide_password=False)).dispose()


def test_a_database_at_an_older_revision_is_upgraded_on_open(opened: Engine):
    add_tag(opened)
    with opened.begin() as connection:
        command.downgrade(alembic_config(connection), "0004")
    assert current_revision(opened) == "0004"
    reopened = open_database(opened.url.render_as_string(hide_password=False))
    assert current_revision(reopened) == head_revision()
    assert tag_ids(reopened) == ["et1"]
    reopened.dispose()


def test_the_revision_checked_without_alembic_is_alembics_head():
    """Add a migration and this fails until schema_revision.SCHEMA_REVISION names it: a stale
    constant would make open_database skip the new migration."""
    assert head_revision() == SCHEMA_REVISION


def modules_loaded_by_open_database(url: str) -> list[str]:
    """In a fresh interpreter: open the database, list the Alembic modules then loaded."""
    script = (
        "import json, sys; from botops.store.db import open_database; "
        f"open_database({url!r}).dispose(); "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    return list(json.loads(done.stdout))


def test_only_a_database_that_needs_migrating_loads_alembic(url: str):
    """The daemon opens a current database at every start: it should not carry Alembic."""
    assert "alembic.command" in modules_loaded_by_open_database(url)  # empty: migrated
    assert modules_loaded_by_open_database(url) == []  # now current: one SELECT


def open_at_once(url: str, barrier: Any) -> None:
    """In a child process: wait for the other one, then open the database."""
    barrier.wait(timeout=60)
    open_database(url).dispose()


@pytest.mark.slow
def test_replicas_starting_together_both_open_a_fresh_database(url: str):
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(2)
    children = [spawn.Process(target=open_at_once, args=(url, barrier)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
    assert [child.exitcode for child in children] == [0, 0]
    engine = open_database(url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_the_sqlite_file_is_in_wal_mode_with_foreign_keys_on(tmp_path: Path):
    engine = open_database(f"sqlite:///{tmp_path / 'botops.db'}")
    with engine.connect() as connection:  # the pooled connection the migration used
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        # a small page cache per pooled connection (negative: KiB, not pages)
        assert connection.exec_driver_sql("PRAGMA cache_size").scalar_one() == -512
    engine.dispose()


def test_times_survive_the_migrated_schema(opened: Engine):
    """UtcDateTime columns created by the migration still round-trip aware UTC."""
    from botops.store.models import MediaUpload

    at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    with session(opened) as s:
        s.add(
            MediaUpload(namespace="n", media_type="image", sha256="h", media_id="m", uploaded_at=at)
        )
    with session(opened) as s:
        assert s.exec(select(MediaUpload)).one().uploaded_at == at
