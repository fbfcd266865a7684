"""Settings: the one place that reads the environment (prefix ``PREFLIGHT_``).

The library never reads the environment; the edges (CLI, API, worker) build a
:class:`Settings` and pass the values into library calls.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    @field_validator("templates_dir", "profiles_dir")
    @classmethod
    def _existing_folder(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a folder")
        return value
