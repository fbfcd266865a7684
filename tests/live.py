"""A real service for the tests: the app under uvicorn on a loopback port, embedded workers,
and a fresh database on SQLite or on the machine's PostgreSQL server.

Tests that need PostgreSQL (or, later, Redis) skip with the reason when the server is not
running, except under ``CI=true``, where such a skip is a failure: CI must exercise the
production configuration.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.auth import create_key
from api.db import Database, migrate
from api.records import Partner
from preflight.settings import Settings
from worker.embedded import run_worker_loop

POSTGRES_URL = os.environ.get(
    "PREFLIGHT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ("sqlite", "postgresql")


def service_unavailable(what: str) -> None:
    """Skip, or fail under CI=true, when a real service the test needs is not running."""
    message = f"{what} is not reachable on this machine"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; under CI=true the production configuration must be tested")
    pytest.skip(message)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def database_url(backend: str, tmp: Path) -> Iterator[str]:
    """A URL to an empty database: a new SQLite file, or a new PostgreSQL schema."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'records.db'}"
        return
    if not _port_open("127.0.0.1", 5432):
        service_unavailable("PostgreSQL (127.0.0.1:5432)")
    import psycopg

    schema = f"pf_test_{secrets.token_hex(6)}"
    plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveService:
    """A running service and ways to get keys for it."""

    base_url: str
    settings: Settings
    db: Database
    keys: dict[str, str] = field(default_factory=dict)
    clients: list[httpx.Client] = field(default_factory=list)

    def key(self, role: str, partner: str | None = None) -> str:
        name = f"{role}:{partner}"
        if name not in self.keys:
            with self.db.session() as session:
                _, self.keys[name] = create_key(session, role, partner)
        return self.keys[name]

    def client(self, role: str | None = None, partner: str | None = None) -> httpx.Client:
        """An HTTP client with the role's key (none without a role), closed at the end."""
        headers = {"Authorization": f"Bearer {self.key(role, partner)}"} if role else {}
        client = httpx.Client(base_url=self.base_url, headers=headers, timeout=60)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def webhook_secret(self, partner: str) -> str:
        with self.db.session() as session:
            record = session.get(Partner, partner)
            assert record is not None
            return record.webhook_secret


@contextmanager
def live_service(
    backend: str, tmp: Path, workers: int = 1, **overrides: Any
) -> Iterator[LiveService]:
    """Start the app on a free loopback port. Without ``broker_url`` in ``overrides``,
    ``workers`` embedded worker threads run the jobs; with it, the app sends jobs to Celery
    and the test starts worker processes itself (:class:`WorkerProcess`)."""
    with database_url(backend, tmp) as url:
        settings = Settings(
            **{
                "data_dir": tmp,
                "database_url": url,
                "webhook_retry_delays_s": (0.5, 0.5, 0.5),
                **overrides,
            }
        )
        db = Database(url)
        migrate(db)
        dispatcher = None
        if settings.broker_url is not None:
            from worker.celery_app import CeleryDispatcher, make_celery
            from worker.tasks import WorkerContext

            context = WorkerContext(settings)
            dispatcher = CeleryDispatcher(make_celery(settings), settings, context)
            workers = 0
        app = create_app(settings, dispatcher)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        server_thread = threading.Thread(target=server.run, daemon=True)
        server_thread.start()
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=run_worker_loop, args=(settings, stop, f"test-{i}"), daemon=True
            )
            for i in range(workers)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        try:
            live = LiveService(f"http://127.0.0.1:{port}", settings, db)
            yield live
        finally:
            live.close()
            stop.set()
            server.should_exit = True
            server_thread.join(timeout=10)
            for thread in threads:
                thread.join(timeout=30)
            if dispatcher is not None:
                dispatcher.context.close()
            db.dispose()


REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def require_redis() -> None:
    if not _port_open(REDIS_HOST, REDIS_PORT):
        service_unavailable(f"Redis ({REDIS_HOST}:{REDIS_PORT})")


def settings_environment(settings: Settings) -> dict[str, str]:
    """The environment that gives a worker process the same settings as ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFLIGHT_")}
    for name, value in settings.model_dump(exclude_none=True).items():
        if isinstance(value, tuple):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[f"PREFLIGHT_{name.upper()}"] = str(value)
    return env


class WorkerProcess:
    """``preflight worker`` as a real process group (main process and its children)."""

    def __init__(self, settings: Settings, log: Path, concurrency: int = 2) -> None:
        self.settings = settings
        self.log_path = log
        self.concurrency = concurrency
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "api.cli",
                "worker",
                f"--concurrency={self.concurrency}",
                "--loglevel=INFO",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=settings_environment(self.settings),
            start_new_session=True,  # its own process group, to kill it whole
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def children(self) -> list[int]:
        """Every descendant process: the supervisor's Celery worker and its pool children."""
        found: list[int] = []
        parents = [self.pid]
        while parents:
            listed = subprocess.run(
                ["pgrep", "-P", ",".join(map(str, parents))], capture_output=True, text=True
            )
            parents = [int(line) for line in listed.stdout.split()]
            found += parents
        return found

    def kill_all(self) -> None:
        """kill -9 the whole worker: main process and children at once."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill_all()
