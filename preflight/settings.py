"""Settings: the one place that reads the environment (prefix ``PREFLIGHT_``).

The library never reads the environment; the edges (CLI, API, worker) build a
:class:`Settings` and pass the values into library calls.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from preflight.color import DEFAULT_OUTPUT_PROFILE, RenderingIntent
from preflight.loading import PILLOW_HARD_PIXEL_LIMIT

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PREFLIGHT_", extra="ignore")

    max_file_bytes: int = Field(
        150 * 1024 * 1024,
        gt=0,
        le=2 * 1024**3,
        description="largest artwork file accepted, in bytes (checked before decoding)",
    )
    max_pixels: int = Field(
        120_000_000,
        gt=0,
        le=PILLOW_HARD_PIXEL_LIMIT,
        description="largest artwork accepted, in pixels (width × height, read from the header)",
    )
    templates_dir: Path | None = Field(
        None, description="folder of device template TOML files (default: the shipped catalog)"
    )
    profiles_dir: Path | None = Field(
        None,
        description="extra folder of CMYK output profiles (.icc), added to the shipped ones",
    )
    output_profile: str = Field(
        DEFAULT_OUTPUT_PROFILE, description="default output profile name (file stem)"
    )
    intent: RenderingIntent = Field(
        RenderingIntent.RELATIVE, description="default ICC rendering intent"
    )
    job_deadline_s: float = Field(
        120.0, gt=0, le=3600, description="a job that runs longer than this fails, in seconds"
    )
    job_threads: int = Field(
        2,
        ge=1,
        le=16,
        description="threads per job: steps that do not read each other's results run side "
        "by side (1: one after another)",
    )
    conversion_tables: bool = Field(
        True,
        description="convert into the press space through exact lookup tables (the same "
        "bytes as LittleCMS, 3-6x faster; 64 MiB a table, one file shared by every process)",
    )
    tables_dir: Path | None = Field(
        None,
        description="folder of the conversion tables (default: $XDG_CACHE_HOME/case-preflight/"
        "tables, or ~/.cache/...)",
    )

    # --- the service (api/, worker/) ----------------------------------------------------------
    data_dir: Path = Field(
        Path("data"),
        description="the embedded default's one data folder: SQLite records and stored files",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the job records (default: SQLite in the data folder; "
        "production: postgresql+psycopg://user@host/db)",
    )
    broker_url: str | None = Field(
        None,
        description="Celery broker (redis://host:6379/0 or amqp://...); unset: the embedded "
        "queue, where workers take queued jobs straight from the records",
    )
    storage_dir: Path | None = Field(
        None, description="root of stored artworks and job outputs (default: DATA_DIR/storage)"
    )
    max_wait_s: float = Field(
        60.0, gt=0, le=300, description="longest long-poll (GET /v1/jobs/{id}?wait=) in seconds"
    )
    webhook_retry_delays_s: Annotated[tuple[float, ...], NoDecode] = Field(
        (10.0, 60.0, 300.0, 1800.0, 7200.0),
        description="waits before each webhook retry, in seconds (comma-separated in the "
        "environment); a delivery is given up after the last one",
    )
    webhook_timeout_s: float = Field(10.0, gt=0, le=120, description="webhook request timeout")
    embedded_workers: int = Field(
        1, ge=0, le=64, description="worker processes `preflight serve` starts beside the API"
    )
    queue_name: str = Field(
        "preflight",
        pattern=r"^[A-Za-z0-9_.\-]{1,100}$",
        description="the broker queue the API sends jobs to and `preflight worker` consumes",
    )
    lease_s: float = Field(
        30.0,
        ge=3,
        le=600,
        description="a running job's lease; its worker renews it every third of this, and a "
        "job whose lease ran out (its worker vanished) is taken over",
    )
    worker_max_memory_mb: int = Field(
        2048,
        ge=256,
        description="a worker child that grew past this is replaced after its current job",
    )
    queue_redelivery: bool = Field(
        True,
        description="late acknowledgement, re-delivery when a worker dies, and requeueing of "
        "abandoned jobs. Off only to show (in the tests) what is lost without them",
    )
    fault_crash_sha256: str | None = Field(
        None,
        description="testing only: a worker that starts on an artwork with this SHA-256 dies "
        "at once (os._exit), to prove that crashing files end failed after 3 attempts",
    )

    @field_validator("webhook_retry_delays_s", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(float(part) for part in value.split(",") if part.strip())
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("use a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @field_validator("broker_url")
    @classmethod
    def _known_broker(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "amqp://")):
            raise ValueError("use a redis:// or amqp:// URL (unset for the embedded queue)")
        return value

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'preflight.db').resolve()}"

    @property
    def effective_tables_dir(self) -> Path:
        if self.tables_dir is not None:
            return self.tables_dir.resolve()
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(cache) / "case-preflight" / "tables"

    @property
    def effective_storage_dir(self) -> Path:
        return (self.storage_dir or self.data_dir / "storage").resolve()

    @field_validator("templates_dir", "profiles_dir")
    @classmethod
    def _existing_folder(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a folder")
        return value
