"""The job records: migrations and models agree, on SQLite and PostgreSQL; keys and storage."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from api.auth import authenticate, create_key
from api.db import Database, migrate
from api.errors import BadRequest, Unauthorized
from api.records import Base, utcnow
from api.storage import Storage, StorageKeyError
from preflight.settings import Settings
from tests.live import BACKENDS, database_url
from worker import tasks


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_build_exactly_the_models(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        database = Database(url)
        try:
            migrate(database)
            migrate(database)  # idempotent
            assert database.is_current()
            with database.engine.connect() as connection:
                differences = compare_metadata(
                    MigrationContext.configure(connection), Base.metadata
                )
            assert differences == [], differences
        finally:
            database.dispose()


def _backend_pid(database: Database) -> int:
    with database.session() as session:
        return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_forked_child_never_shares_its_parents_database_connection(tmp_path: Path) -> None:
    """Celery forks replacement children from a main process whose pool holds connections;
    a child must open its own, and the parent's must keep working."""
    with database_url("postgresql", tmp_path) as url:
        database = Database(url)
        try:
            parent_backend = _backend_pid(database)  # now pooled in the parent
            reading, writing = os.pipe()
            child = os.fork()
            if child == 0:  # the child: report its backend, never return into pytest
                code = 1
                try:
                    os.write(writing, str(_backend_pid(database)).encode())
                    code = 0
                finally:
                    os._exit(code)
            os.close(writing)
            _, status = os.waitpid(child, 0)
            child_backend = int(os.read(reading, 64) or b"0")
            os.close(reading)
            assert os.waitstatus_to_exitcode(status) == 0
            assert child_backend not in (0, parent_backend)
            assert _backend_pid(database) == parent_backend  # the parent's socket is intact
        finally:
            database.dispose()


def test_a_child_forked_while_a_thread_opens_the_database_opens_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Celery forks a replacement child at any moment, also while the worker's maintenance
    thread is half-way through opening the database. The child must open its own, not wait
    forever on what the parent's thread held at the fork (it did, with cached_property)."""
    opening = threading.Event()
    release = threading.Event()
    real_database = Database

    def slow_in_the_parents_thread(url: str) -> Database:
        if threading.current_thread().name == "slow-opener":
            opening.set()
            release.wait(30)
        return real_database(url)

    monkeypatch.setattr(tasks, "Database", slow_in_the_parents_thread)
    context = tasks.WorkerContext(Settings(data_dir=tmp_path))
    opener = threading.Thread(target=lambda: context.db, name="slow-opener")
    opener.start()
    try:
        assert opening.wait(10)
        child = os.fork()
        if child == 0:  # the child: open the database, never return into pytest
            code = 1
            try:
                with context.db.session() as session:
                    code = 0 if session.execute(text("SELECT 1")).scalar_one() == 1 else 1
            finally:
                os._exit(code)
        deadline = time.monotonic() + 20
        status = None
        while status is None and time.monotonic() < deadline:
            finished, raw = os.waitpid(child, os.WNOHANG)
            status = raw if finished else None
            time.sleep(0.05)
        if status is None:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
        assert status is not None, "the forked child hung opening the database"
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        release.set()
        opener.join()
    assert isinstance(context.db, Database)  # the parent's thread opened its own


def test_keys_are_stored_hashed_and_checked(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'keys.db'}")
    migrate(database)
    with database.session() as session:
        record, key = create_key(session, "partner", "acme", "shop front")
        assert key not in (record.key_sha256, record.id) and record.key_sha256 != key
        principal = authenticate(session, f"Bearer {key}")
        assert (principal.role, principal.partner) == ("partner", "acme")
        with pytest.raises(Unauthorized):
            authenticate(session, f"Bearer {key[:-1]}x")
        record.revoked_at = utcnow()
        session.flush()
        with pytest.raises(Unauthorized):
            authenticate(session, f"Bearer {key}")
        for role, partner in (("partner", None), ("production", "acme"), ("root", None)):
            with pytest.raises(BadRequest):
                create_key(session, role, partner)
    database.dispose()


def test_storage_keys_stay_under_the_root(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    storage.put("jobs/job_1/print.tif", b"abc")
    assert storage.read("jobs/job_1/print.tif") == b"abc"
    assert not list((tmp_path / "jobs" / "job_1").glob(".*tmp"))  # no temporary left behind
    for key in ("../etc/passwd", "/etc/passwd", "jobs/../../x", "", "jobs//x"):
        with pytest.raises(StorageKeyError):
            storage.path(key)
