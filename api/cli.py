"""The ``preflight`` command with the service's subcommands added to the library's:

preflight serve [--host H] [--port P] [--workers N]   API + embedded workers
preflight keys create --role ROLE [--partner NAME]     prints a new API key once
preflight keys list | preflight keys revoke KEY_ID
preflight migrate                                      bring the records' schema up to date
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from sqlalchemy import select

from api.auth import ROLES, create_key
from api.db import Database, migrate
from api.errors import ApiError
from api.records import ApiKey, Partner, utcnow
from preflight.cli import EXIT_OK, EXIT_UNUSABLE, Command
from preflight.cli import main as library_main
from preflight.settings import Settings

__all__ = ["main"]


def _database(settings: Settings) -> Database:
    database = Database(settings.effective_database_url)
    migrate(database)
    return database


# --- serve ------------------------------------------------------------------------------


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="embedded worker processes (default: PREFLIGHT_EMBEDDED_WORKERS, 1)",
    )


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app
    from worker.embedded import start_worker_processes

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    database = _database(settings)
    with database.session() as session:
        has_keys = session.scalar(select(ApiKey.id).limit(1)) is not None
    database.dispose()
    workers = settings.embedded_workers if args.workers is None else args.workers
    processes = []
    dispatcher = None
    if settings.broker_url is None:
        processes = start_worker_processes(settings, workers)
        queue = f"embedded, {workers} worker process{'es' if workers != 1 else ''}"
    else:
        from worker.celery_app import CeleryDispatcher, make_celery
        from worker.tasks import WorkerContext

        dispatcher = CeleryDispatcher(make_celery(settings), settings, WorkerContext(settings))
        queue = (
            f"Celery on {settings.broker_url}, queue {settings.queue_name!r}: start workers "
            "with `preflight worker`"
        )
    base = f"http://{args.host}:{args.port}"
    print(f"preflight: API on {base} (OpenAPI: {base}/docs, readiness: {base}/readyz)")
    print(f"  records: {settings.effective_database_url}")
    print(f"  files:   {settings.effective_storage_dir}")
    print(f"  queue:   {queue}")
    if not has_keys:
        print("  no API keys yet; create one (shown once) in another terminal:")
        print("    ./dev preflight keys create --role partner --partner acme")
    sys.stdout.flush()
    try:
        app = create_app(settings, dispatcher)
        uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=10)
    return EXIT_OK


# --- keys -------------------------------------------------------------------------------


def _keys_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create an API key and print it once")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--partner", help="the partner (tenant) of a partner key")
    create.add_argument("--label", help="a note to recognise the key by")
    actions.add_parser("list", help="list keys (never the keys themselves)")
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")


def _keys(args: argparse.Namespace, settings: Settings) -> int:
    database = _database(settings)
    try:
        if args.keys_action == "create":
            with database.session() as session:
                record, key = create_key(session, args.role, args.partner, args.label)
                secret = None
                if record.partner:
                    partner = session.get(Partner, record.partner)
                    secret = partner.webhook_secret if partner else None
            print(key)
            print(
                f"# {record.role} key {record.id}"
                + (f" for partner {record.partner}" if record.partner else "")
                + ": shown once, store it now. Send it as 'Authorization: Bearer <key>'.",
                file=sys.stderr,
            )
            if secret:
                print(f"# webhook signing secret of {record.partner}: {secret}", file=sys.stderr)
        elif args.keys_action == "list":
            with database.session() as session:
                keys = session.scalars(select(ApiKey).order_by(ApiKey.created_at)).all()
            for k in keys:
                state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
                print(f"{k.id}  {k.role:<14} {k.partner or '-':<20} {state}  {k.label or ''}")
        else:
            with database.session() as session:
                found = session.get(ApiKey, args.key_id)
                if found is None:
                    print(f"preflight: error: no key {args.key_id!r}", file=sys.stderr)
                    return EXIT_UNUSABLE
                found.revoked_at = found.revoked_at or utcnow()
            print(f"revoked {args.key_id}")
    except ApiError as exc:
        print(f"preflight: error [{exc.code}]: {exc.message}", file=sys.stderr)
        return EXIT_UNUSABLE
    finally:
        database.dispose()
    return EXIT_OK


# --- worker ---------------------------------------------------------------------------


def _worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency", type=int, default=None, help="worker child processes (default: cores)"
    )
    parser.add_argument("--loglevel", default="INFO")


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    if settings.broker_url is None:
        print(
            "preflight: error: PREFLIGHT_BROKER_URL is not set; without a broker, "
            "`preflight serve` runs the workers itself",
            file=sys.stderr,
        )
        return EXIT_UNUSABLE
    from worker.celery_app import ReliabilityError, make_celery

    database = Database(settings.effective_database_url)
    try:
        if not database.is_current():
            print(
                "preflight: error: the records' schema is not current; run `preflight "
                "migrate` first",
                file=sys.stderr,
            )
            return EXIT_UNUSABLE
    finally:
        database.dispose()
    try:
        make_celery(settings)  # refuse unsafe settings here, before supervising anything
    except ReliabilityError as exc:
        print(f"preflight: error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    command = [sys.executable, "-m", "worker.run", f"--loglevel={args.loglevel}"]
    if args.concurrency:
        command.append(f"--concurrency={args.concurrency}")
    return _supervise(command)


_RESTART_PAUSE_S = 2.0


def _supervise(command: list[str]) -> int:
    """Run the Celery worker and start it again whenever it dies on its own.

    Celery's consumer can stop with "Unrecoverable error" when the broker connection drops at
    the wrong moment (seen here: kombu's Redis transport fails while acknowledging on a closed
    connection); a worker that stays down strands every queued job. A process manager
    (systemd, Kubernetes) should still watch ``preflight worker``: this covers the worker's
    own crashes, not the machine's.
    """
    import signal
    import subprocess
    import time

    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        child = subprocess.Popen(command)
        code = child.wait()
        if stopping or code == 0:
            return EXIT_OK
        print(
            f"preflight worker: the Celery worker exited with code {code}; starting it again "
            f"in {_RESTART_PAUSE_S:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        time.sleep(_RESTART_PAUSE_S)
        if stopping:
            return EXIT_OK


# --- migrate ----------------------------------------------------------------------------


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    _database(settings).dispose()
    print(f"schema up to date: {settings.effective_database_url}")
    return EXIT_OK


SERVICE_COMMANDS = (
    Command("serve", "run the HTTP API (and embedded workers)", _serve_arguments, _serve),
    Command("keys", "create, list or revoke API keys", _keys_arguments, _keys),
    Command(
        "worker", "run a Celery worker (needs PREFLIGHT_BROKER_URL)", _worker_arguments, _worker
    ),
    Command("migrate", "create or upgrade the job records' schema", lambda p: None, _migrate),
)


def main(argv: Sequence[str] | None = None) -> int:
    return library_main(argv, extra=SERVICE_COMMANDS)


if __name__ == "__main__":
    sys.exit(main())
