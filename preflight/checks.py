"""The preflight checks: pure functions registered in one explicit table.

A check has the signature ``check(artwork, template, placement, cfg) -> Iterable[Finding]``
and is listed in :data:`CHECKS` with a stable id, a one-line summary, the rationale (why a
printer cares) and its default severity. Nothing registers itself on import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from PIL import Image

from preflight.findings import Finding, Severity
from preflight.geometry import ResolvedPlacement
from preflight.loading import ArtworkFacts
from preflight.templates import Template

__all__ = ["CHECKS", "Check", "CheckConfig", "PlacedArtwork", "run_checks"]


@dataclass(frozen=True)
class CheckConfig:
    """Thresholds the checks compare against (callers take them from settings/templates)."""

    # None: use each template's own minimum artwork size.
    min_artwork_px: tuple[int, int] | None = None


@dataclass(frozen=True)
class PlacedArtwork:
    """What a check may look at: the file's facts, the upright artwork, and its placed form."""

    facts: ArtworkFacts
    image: Image.Image
    canvas: Image.Image
    coverage: Image.Image


CheckFunction = Callable[
    [PlacedArtwork, Template, ResolvedPlacement, CheckConfig], Iterable[Finding]
]


@dataclass(frozen=True)
class Check:
    id: str
    summary: str
    rationale: str
    severity: Severity
    function: CheckFunction


def check_low_resolution(
    artwork: PlacedArtwork, template: Template, placement: ResolvedPlacement, cfg: CheckConfig
) -> Iterable[Finding]:
    minimum = cfg.min_artwork_px or (
        template.min_artwork_px.width,
        template.min_artwork_px.height,
    )
    # Compare in the template's orientation: a landscape file for a portrait case has the
    # pixels it needs if its short and long sides do (its rotation is another check's matter).
    short_side, long_side = sorted((artwork.facts.width_px, artwork.facts.height_px))
    need_short, need_long = sorted(minimum)
    if short_side >= need_short and long_side >= need_long:
        return
    width, height = (short_side, long_side) if template.is_portrait else (long_side, short_side)
    need_w, need_h = (need_short, need_long) if template.is_portrait else (need_long, need_short)
    yield Finding(
        code="low-resolution",
        severity=Severity.WARNING,
        message=(
            f"Low resolution: the artwork is {width}×{height} px; a {template.device_name} case "
            f"needs at least "
            f"{need_w}×{need_h} px for a sharp print. Upload a larger original "
            "(not an enlarged copy)."
        ),
        measured={"width_px": width, "height_px": height},
        threshold={"min_width_px": need_w, "min_height_px": need_h},
    )


def check_no_color_profile(
    artwork: PlacedArtwork, template: Template, placement: ResolvedPlacement, cfg: CheckConfig
) -> Iterable[Finding]:
    source = artwork.facts.profile_source
    if source == "assumed-srgb":
        yield Finding(
            code="no-color-profile",
            severity=Severity.INFO,
            message=(
                "No colour profile is embedded; the colours were read as sRGB. Embed the "
                "profile you designed in if it is not sRGB."
            ),
            measured={"profile": None},
            threshold={"assumed": "sRGB"},
        )
    elif source == "assumed-output":
        yield Finding(
            code="no-color-profile",
            severity=Severity.INFO,
            message=(
                "This CMYK file has no colour profile; its values were printed as they are, "
                "in the printer's CMYK space."
            ),
            measured={"profile": None},
            threshold={"assumed": "output profile"},
        )
    elif source == "invalid-embedded":
        yield Finding(
            code="invalid-color-profile",
            severity=Severity.WARNING,
            message=(
                f"The embedded colour profile cannot be used ({artwork.facts.profile_description});"
                " the colours were read as sRGB and may print differently. Re-export with a "
                "valid profile."
            ),
            measured={"profile": artwork.facts.profile_description},
            threshold={"required": "a readable profile matching the image's colour mode"},
        )


def check_exif_orientation(
    artwork: PlacedArtwork, template: Template, placement: ResolvedPlacement, cfg: CheckConfig
) -> Iterable[Finding]:
    if artwork.facts.exif_orientation_applied:
        yield Finding(
            code="exif-orientation-applied",
            severity=Severity.INFO,
            message=(
                f"The file asks to be shown rotated or mirrored (EXIF orientation "
                f"{artwork.facts.exif_orientation}); we applied it, so the print is upright "
                "as the photo appears on a phone."
            ),
            measured={"exif_orientation": artwork.facts.exif_orientation},
            threshold={"upright": 1},
        )


CHECKS: tuple[Check, ...] = (
    Check(
        id="low-resolution",
        summary="Artwork smaller than the template's recommended minimum size in pixels",
        rationale=(
            "Below about 300 ppi at the case's size, prints look soft or pixelated; partners "
            "pay for the reprint, so they must know before ordering."
        ),
        severity=Severity.WARNING,
        function=check_low_resolution,
    ),
    Check(
        id="no-color-profile",
        summary="No (usable) embedded colour profile; a default was assumed",
        rationale=(
            "Colours are only defined relative to a profile; an assumed one is usually right "
            "for web artwork but not for wide-gamut or CMYK exports."
        ),
        severity=Severity.INFO,
        function=check_no_color_profile,
    ),
    Check(
        id="exif-orientation-applied",
        summary="The file's EXIF orientation was applied",
        rationale=(
            "Phone photos are often stored sideways with an orientation tag; printing the raw "
            "pixels would print them rotated."
        ),
        severity=Severity.INFO,
        function=check_exif_orientation,
    ),
)


def run_checks(
    artwork: PlacedArtwork, template: Template, placement: ResolvedPlacement, cfg: CheckConfig
) -> list[Finding]:
    """Run every check in table order; findings sorted most severe first (stable)."""
    findings = [f for check in CHECKS for f in check.function(artwork, template, placement, cfg)]
    return sorted(findings, key=lambda f: -f.severity.rank)
