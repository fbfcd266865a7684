"""Database engine, sessions and migrations for SQLite (embedded) and PostgreSQL (production).

SQLite is opened in WAL mode with a busy timeout: the API's threads and the embedded worker
processes write to the same file, and WAL lets readers go on while one of them writes.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Database", "migrate"]

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_SQLITE_BUSY_TIMEOUT_MS = 30_000


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


class Database:
    """One engine and session factory per process, from a SQLAlchemy URL."""

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split(":///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine_options.setdefault("connect_args", {"check_same_thread": False})
        else:
            engine_options.setdefault("pool_pre_ping", True)
            engine_options.setdefault("pool_size", 10)
            engine_options.setdefault("max_overflow", 20)
        self.engine: Engine = create_engine(url, **engine_options)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        _forget_pooled_connections_in_forked_children(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self.sessions.begin() as session:
            yield session

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def is_current(self) -> bool:
        """Whether the schema is at the newest migration."""
        with self.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        return current == ScriptDirectory.from_config(_alembic_config()).get_current_head()

    def dispose(self) -> None:
        self.engine.dispose()


def _forget_pooled_connections_in_forked_children(engine: Engine) -> None:
    """A forked child starts with an empty pool.

    Celery's pool forks a replacement child from the worker's main process whenever a child
    dies or is recycled, and by then the main process's maintenance thread has connections
    in this engine's pool. A child that took one would talk over the parent's socket at the
    same time as the parent: the two conversations interleave and both can hang (a job stuck
    "running" was seen that way). ``dispose(close=False)`` drops the pool in the child without
    closing the sockets, which still belong to the parent (psycopg does not end a
    connection from a process other than the one that opened it).
    """
    engine_ref = weakref.ref(engine)

    def after_fork_in_child() -> None:
        inherited = engine_ref()
        if inherited is not None:
            inherited.dispose(close=False)

    os.register_at_fork(after_in_child=after_fork_in_child)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL keeps it safe
    cursor.close()


def migrate(database: Database) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    config = _alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
