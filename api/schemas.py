"""Request and response bodies: the OpenAPI document's schemas (a client generator's input)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

__all__ = [
    "ArtworkOut",
    "DecisionIn",
    "ErrorBody",
    "ErrorOut",
    "JobIn",
    "JobList",
    "JobOptions",
    "JobOut",
    "MeOut",
    "PlacementIn",
    "QuickFacts",
    "TemplateOut",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    code: str = Field(description="stable kebab-case code, e.g. 'unsupported-format'")
    message: str = Field(description="one sentence for people: what is wrong, what to do")
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorOut(BaseModel):
    error: ErrorBody


class QuickFacts(BaseModel):
    template_id: str
    min_artwork_px: dict[str, int]
    meets_minimum: bool
    message: str


class ArtworkOut(BaseModel):
    id: str
    partner: str
    sha256: str
    file_name: str
    bytes: int
    format: str
    width_px: int
    height_px: int
    mode: str
    summary: dict[str, Any]
    created_at: dt.datetime
    quick_facts: QuickFacts | None = None


class PlacementIn(_Strict):
    fit: Literal["cover", "contain"] = "cover"
    rotate_deg: float = Field(0.0, ge=-3600, le=3600, description="clockwise, degrees")
    scale: float = Field(1.0, gt=0.05, le=20.0, description="1 = the fit's own size")
    center: tuple[float, float] = Field(
        (0.5, 0.5), description="artwork centre on the canvas, 0–1 of width and height"
    )


class JobOptions(_Strict):
    output_profile: str | None = Field(None, max_length=100, description="profile name")
    intent: Literal["perceptual", "relative", "saturation", "absolute"] | None = None
    black_point_compensation: bool | None = None


class JobIn(_Strict):
    artwork_id: str = Field(max_length=64)
    template_id: str | None = Field(None, max_length=80, description="or give sku")
    sku: str | None = Field(None, max_length=80, description="or give template_id")
    placement: PlacementIn = Field(default_factory=PlacementIn)
    options: JobOptions = Field(default_factory=JobOptions)
    callback_url: HttpUrl | None = Field(
        None, description="POSTed the result when the job finishes (signed, retried)"
    )
    partner: str | None = Field(
        None, max_length=64, description="for order-service keys: the partner it is for"
    )


class JobOut(BaseModel):
    id: str
    partner: str
    artwork_id: str
    template_id: str
    sku: str | None
    status: Literal["queued", "running", "done", "failed"]
    verdict: Literal["pass", "warn", "fail"] | None
    error: ErrorBody | None
    attempts: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    partner_signed_off_at: dt.datetime | None
    production_status: Literal["approved", "rejected"] | None
    production_decided_at: dt.datetime | None
    decision_reason: str | None
    findings: list[dict[str, Any]] = Field(
        default_factory=list, description="the report's findings (codes, severities, regions)"
    )
    links: dict[str, str]
    history: list[dict[str, Any]] | None = None


class JobList(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class DecisionIn(_Strict):
    reason: str | None = Field(None, max_length=2000)


class MeOut(BaseModel):
    key_id: str
    role: Literal["partner", "order-service", "production", "admin"]
    partner: str | None


class TemplateOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    name: str
