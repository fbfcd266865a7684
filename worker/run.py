"""``python -m worker.run``: one Celery worker for the settings in the environment.

``preflight worker`` runs this under a small supervisor that starts it again if it dies.
"""

from __future__ import annotations

import argparse
import sys

from preflight.runtime import prepare_compiled_code, prepare_job_process
from preflight.settings import Settings
from worker.celery_app import make_celery


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker.run")
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--loglevel", default="INFO")
    args = parser.parse_args(argv)
    # Before any job thread starts; the pool's forked children inherit it.
    prepare_job_process()
    prepare_compiled_code()
    settings = Settings()
    app = make_celery(settings)
    # No mingle or gossip: the workers share nothing but the broker and the records, and
    # starting without them saves seconds.
    worker_argv = [
        "worker",
        f"--loglevel={args.loglevel}",
        "-Q",
        settings.queue_name,
        "--pool=prefork",
        "--without-mingle",
        "--without-gossip",
    ]
    if args.concurrency:
        worker_argv.append(f"--concurrency={args.concurrency}")
    app.worker_main(worker_argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
