"""Findings: coded data about the artwork ("the artwork is bad"), never exceptions.

A finding carries a stable kebab-case ``code``, an ordered ``severity``, a sentence for people,
the measured values and the threshold they were compared with, and, when it has a place on the
artwork, a region on the canvas in px and mm. Tests assert codes and numbers, not messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from preflight.geometry import Box

__all__ = ["Finding", "Region", "Severity", "verdict"]


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]


@dataclass(frozen=True)
class Region:
    """Where on the canvas a finding applies (canvas px; mm derived with the print dpi)."""

    box: Box
    dpi: float

    def to_dict(self) -> dict[str, list[float]]:
        return {"px": self.box.to_px_list(), "mm": self.box.to_mm_list(self.dpi)}


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    message: str
    measured: dict[str, Any] = field(default_factory=dict)
    threshold: dict[str, Any] = field(default_factory=dict)
    region: Region | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "measured": self.measured,
            "threshold": self.threshold,
            "region": self.region.to_dict() if self.region else None,
        }


def verdict(findings: list[Finding]) -> str:
    """``fail`` with any error, ``warn`` with any warning, else ``pass`` (info never counts)."""
    worst = max((f.severity.rank for f in findings), default=0)
    return {0: "pass", 1: "warn", 2: "fail"}[worst]
