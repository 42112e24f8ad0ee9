"""Schema migrations: `alembic upgrade head`, run from code when a database is opened that is
not at the current revision (botops.store.schema_revision checks that without Alembic).

The scripts live in botops/store/migrations (shipped in the package); the Alembic Config is
built here, so no alembic.ini is needed at runtime. Replicas may start together, so the whole
check-and-upgrade runs in one transaction under one lock:

    PostgreSQL  pg_advisory_xact_lock(MIGRATION_LOCK), released at commit or rollback
    SQLite      BEGIN IMMEDIATE: the database's single write lock

A database made by `create_all` before migrations existed (botops tables, no alembic_version)
is adopted: stamped at the initial revision, upgraded, and kept only if its schema then
equals the models; otherwise nothing is changed and opening fails with a ConfigError.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text
from sqlmodel import SQLModel

import botops.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from botops.errors import ConfigError
from botops.store.schema_revision import VERSION_TABLE

MIGRATIONS = Path(__file__).resolve().with_name("migrations")
INITIAL_REVISION = "0001"
# An arbitrary constant that is botops' own: the ASCII bytes of "botops" as a bigint.
MIGRATION_LOCK = int.from_bytes(b"botops", "big")


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's Config, built in code. With `connection`, env.py migrates through it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "botops/store/migrations/versions holds no revision"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None when it has never been migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the database to the head revision; a no-op when it is there already."""
    with _migration_lock(engine) as connection:
        config = alembic_config(connection)
        names = set(inspect(connection).get_table_names())
        if VERSION_TABLE not in names and names & set(SQLModel.metadata.tables):
            _adopt_legacy(config, connection)
        else:
            _refuse_unknown_revision(connection)
            command.upgrade(config, "head")


def _adopt_legacy(config: Config, connection: Connection) -> None:
    """A create_all database: stamp it at the initial revision, upgrade, check the result.
    Any error rolls the whole transaction back, leaving the database as it was."""
    explain = (
        "the database has botops tables but no alembic_version table: it was made before "
        "botops used migrations, and its schema is not the one botops created then"
    )
    try:
        command.stamp(config, INITIAL_REVISION)
        command.upgrade(config, "head")
    except Exception as exc:
        raise ConfigError("database.url", f"{explain} (upgrading it failed: {exc})") from exc
    differences = schema_differences(connection)
    if differences:
        shown = "; ".join(str(d) for d in differences[:5])
        more = f" and {len(differences) - 5} more" if len(differences) > 5 else ""
        raise ConfigError(
            "database.url",
            f"{explain} ({shown}{more}). Nothing was changed. Back it up, then migrate it by "
            "hand or point database.url at a new database",
        )


def schema_differences(connection: Connection) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match the models
    (tables that are not botops' are ignored)."""

    def ours(name: str | None, type_: str, _parent: Any) -> bool:
        return type_ != "table" or name in SQLModel.metadata.tables

    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": ours}
    )
    return list(compare_metadata(context, SQLModel.metadata))


def _refuse_unknown_revision(connection: Connection) -> None:
    current = MigrationContext.configure(connection).get_current_revision()
    if current is None:
        return
    known = {script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}
    if current not in known:
        raise ConfigError(
            "database.url",
            f"the database is at schema revision {current}, which this botops does not know: "
            "a newer botops migrated it. Run that version, or restore a backup",
        )


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that holds the migration lock; commits on success."""
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            with _sqlite_write_lock(connection):
                yield connection
            return
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                )
            yield connection


@contextmanager
def _sqlite_write_lock(connection: Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE around the upgrade, with foreign keys off.

    The sqlite3 module would begin transactions lazily and commit before DDL, so it is put
    in autocommit mode and the transaction is begun by hand. Foreign keys are off because a
    batch migration rebuilds a table by dropping it, and a DROP with foreign keys on would
    cascade-delete the rows that reference it (SQLite's documented ALTER procedure); they
    are checked before commit instead, and switched back on after.
    """
    dbapi_connection: Any = connection.connection.dbapi_connection
    saved_isolation = dbapi_connection.isolation_level
    connection.commit()
    dbapi_connection.isolation_level = None
    foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one()
    try:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration left rows with broken foreign keys: {broken[:5]}")
        except BaseException:
            connection.rollback()
            raise
        connection.commit()
    finally:
        connection.exec_driver_sql(f"PRAGMA foreign_keys={int(foreign_keys)}")
        connection.commit()
        dbapi_connection.isolation_level = saved_isolation
