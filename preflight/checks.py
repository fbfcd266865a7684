"""The preflight checks: pure functions registered in one explicit table.

A check has the signature ``check(artwork, template, placement, cfg) -> Iterable[Finding]``
and is listed in :data:`CHECKS` with a stable id, a one-line summary, the rationale (why a
printer cares) and its default severity. Nothing registers itself on import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from preflight.findings import Finding, Region, Severity
from preflight.geometry import Box, ResolvedPlacement, mm_to_px, px_to_mm
from preflight.loading import ArtworkFacts
from preflight.templates import Template

__all__ = ["CHECKS", "Check", "CheckConfig", "PlacedArtwork", "run_checks"]


@dataclass(frozen=True)
class CheckConfig:
    """Thresholds the checks compare against (callers take them from settings/templates)."""

    # None: use each template's own minimum artwork size.
    min_artwork_px: tuple[int, int] | None = None
    # Effective resolution at the placed size: below warn_ppi a warning, below error_ppi an error.
    warn_ppi: float = 300.0
    error_ppi: float = 150.0
    # Shortfalls smaller than this fraction are fit rounding, invisible in print: a 2400×3000
    # artwork covers the iPad 10 canvas (2219×3035 px) at 296 ppi.
    ppi_tolerance: float = 0.02
    # Uncovered bleed narrower than this is resampling round-off, not a gap.
    bleed_tolerance_mm: float = 0.1
    # Semi-transparent print area (alpha strictly between the bounds) worth a warning.
    transparency_min_share: float = 0.002
    # Total area coverage limit, in percent (sum of C, M, Y, K), and the share that may exceed it.
    ink_limit_percent: float = 300.0
    ink_limit_min_share: float = 0.0005
    # Aspect ratio (long/short) beyond which an artwork clearly is landscape or portrait.
    orientation_min_aspect: float = 1.15


@dataclass(frozen=True)
class PlacedArtwork:
    """What a check may look at: the file's facts, the upright artwork, its placed form, and
    the CMYK separation it will print as (all canvases follow :mod:`preflight.geometry`)."""

    facts: ArtworkFacts
    image: Image.Image
    canvas: Image.Image
    coverage: Image.Image
    cmyk: Image.Image


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
            f"Low resolution: the artwork is {width}×{height} px; the {template.device_name} "
            "case needs at least "
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


def _region(box: Box, template: Template) -> Region:
    return Region(box=box, dpi=template.print_dpi)


def _visible_artwork_box(placement: ResolvedPlacement) -> Box:
    """The placed artwork's bounding box clipped to the canvas."""
    box = placement.bounding_box
    width, height = placement.canvas_size
    x0, y0 = max(box.x, 0.0), max(box.y, 0.0)
    x1, y1 = min(box.right, float(width)), min(box.bottom, float(height))
    return Box(x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0))


def _mask_box(mask: np.ndarray) -> Box:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return Box(
        float(cols[0]), float(rows[0]), float(cols[-1] - cols[0] + 1), float(rows[-1] - rows[0] + 1)
    )


def check_low_effective_ppi(
    artwork: PlacedArtwork, template: Template, placement: ResolvedPlacement, cfg: CheckConfig
) -> Iterable[Finding]:
    ppi = placement.effective_ppi
    if ppi >= cfg.warn_ppi * (1 - cfg.ppi_tolerance):
        return
    severity = Severity.ERROR if ppi < cfg.error_ppi * (1 - cfg.ppi_tolerance) else Severity.WARNING
    limit = cfg.error_ppi if severity is Severity.ERROR else cfg.warn_ppi
    enlarge = cfg.warn_ppi / ppi  # how many times more pixels per side the artwork needs
    yield Finding(
        code="low-effective-ppi",
        severity=severity,
        message=(
            f"At the size it is placed, the artwork has {ppi:.0f} ppi; the print needs at least "
            f"{cfg.warn_ppi:.0f} ppi (below {cfg.error_ppi:.0f} ppi it prints visibly blurred). "
            f"Use an image about {enlarge:.1f}× larger, or reduce the scale."
        ),
        measured={
            "effective_ppi": round(ppi, 1),
            "scale": round(placement.placement.scale, 3),
            "enlarge_by": round(enlarge, 2),
        },
        threshold={
            "warn_below_ppi": cfg.warn_ppi,
            "error_below_ppi": cfg.error_ppi,
            "limit_ppi": limit,
            "tolerance": cfg.ppi_tolerance,
        },
        region=_region(_visible_artwork_box(placement), template),
    )


def check_bleed_not_covered(
    artwork: PlacedArtwork, template: Template, placement: ResolvedPlacement, cfg: CheckConfig
) -> Iterable[Finding]:
    if template.substrate != "opaque":
        return  # on a clear case, uncovered area is meant to stay clear
    covered = np.asarray(artwork.coverage) >= 128
    tolerance_px = max(1, round(mm_to_px(cfg.bleed_tolerance_mm, template.print_dpi)))
    uncovered = ~covered
    if not uncovered.any():
        return
    height, width = uncovered.shape
    # Side gaps are measured along the middle half of each side, so a tilted artwork's corner
    # wedges (which reach far along the edge) are reported as corners, not as a side "80 mm"
    # deep; a partner fixes the two differently (move/enlarge vs. straighten/enlarge).
    middle_rows = uncovered[height // 4 : height - height // 4]
    middle_cols = uncovered[:, width // 4 : width - width // 4]
    depth_px = {
        "left": _gap_depth(middle_rows),
        "right": _gap_depth(middle_rows[:, ::-1]),
        "top": _gap_depth(middle_cols.T),
        "bottom": _gap_depth(middle_cols.T[:, ::-1]),
    }
    sides = {side: d for side, d in depth_px.items() if d > tolerance_px}
    corner_h, corner_w = height // 4, width // 4
    corner_boxes = {
        "top-left": uncovered[:corner_h, :corner_w],
        "top-right": uncovered[:corner_h, width - corner_w :],
        "bottom-left": uncovered[height - corner_h :, :corner_w],
        "bottom-right": uncovered[height - corner_h :, width - corner_w :],
    }
    corners = [name for name, box in corner_boxes.items() if box.sum() > tolerance_px**2]
    if not sides and not corners and uncovered.sum() <= tolerance_px**2:
        return
    dpi = template.print_dpi
    sides_mm = {side: round(px_to_mm(d, dpi), 1) for side, d in sides.items()}
    where = (
        ", ".join(
            [f"{side} {mm} mm" for side, mm in sides_mm.items()]
            + ([f"corners {', '.join(corners)}"] if corners else [])
        )
        or "holes inside the artwork"
    )
    share = float(uncovered.mean())
    yield Finding(
        code="bleed-not-covered",
        severity=Severity.ERROR,
        message=(
            f"The artwork does not reach the edge of the bleed ({where}): "
            f"{share * 100:.1f}% of the print area would stay blank or show the case. Enlarge "
            f"the artwork or move it so it covers the whole template, {template.bleed_mm} mm "
            "past the cut line on every side."
        ),
        measured={
            "uncovered_sides_mm": sides_mm,
            "uncovered_corners": corners,
            "uncovered_share": round(share, 4),
        },
        threshold={"bleed_mm": template.bleed_mm, "tolerance_mm": cfg.bleed_tolerance_mm},
        region=_region(_mask_box(uncovered), template),
    )


def _gap_depth(uncovered: np.ndarray) -> int:
    """How far a gap reaches in from column 0: the largest number of uncovered pixels before
    the first covered one, over the rows that hold any artwork (rows with none belong to the
    gap of a perpendicular side). With no artwork at all, the gap is the whole width."""
    covered = ~uncovered
    rows_with_art = covered.any(axis=1)
    if not rows_with_art.any():
        return int(uncovered.shape[1])
    return int(covered[rows_with_art].argmax(axis=1).max())


def check_transparency_in_print(
    artwork: PlacedArtwork, template: Template, placement: ResolvedPlacement, cfg: CheckConfig
) -> Iterable[Finding]:
    if template.substrate != "opaque" or not artwork.facts.has_alpha:
        return
    alpha = np.asarray(artwork.coverage)
    trim = template.trim_box
    inside = alpha[round(trim.y) : round(trim.bottom), round(trim.x) : round(trim.right)]
    partial = (inside > 12) & (inside < 243)  # 5–95 % opacity
    share = float(partial.mean())
    if share < cfg.transparency_min_share:
        return
    box = _mask_box(partial)
    box = Box(box.x + round(trim.x), box.y + round(trim.y), box.width, box.height)
    yield Finding(
        code="transparency-in-print",
        severity=Severity.WARNING,
        message=(
            f"{share * 100:.1f}% of the print area is semi-transparent; on an opaque case it "
            "prints blended with white, paler than on screen. Flatten the artwork onto the "
            "background you want."
        ),
        measured={"semi_transparent_share": round(share, 4)},
        threshold={"max_share": cfg.transparency_min_share, "opacity_range": [0.05, 0.95]},
        region=_region(box, template),
    )


def check_ink_limit(
    artwork: PlacedArtwork, template: Template, placement: ResolvedPlacement, cfg: CheckConfig
) -> Iterable[Finding]:
    ink_units = _total_ink_units(np.asarray(artwork.cmyk))
    limit_units = int(cfg.ink_limit_percent * 255 / 100)
    over = ink_units > limit_units
    over_count = int(np.count_nonzero(over))
    share = over_count / over.size
    if over_count == 0 or share < cfg.ink_limit_min_share:
        return
    max_percent = int(ink_units.max()) * 100.0 / 255.0
    yield Finding(
        code="ink-limit-exceeded",
        severity=Severity.WARNING,
        message=(
            f"Up to {max_percent:.0f}% total ink on {share * 100:.1f}% of the print; the limit is "
            f"{cfg.ink_limit_percent:.0f}%. Too much ink smears and cures badly. Lighten the "
            "darkest areas, or supply RGB artwork so the profile sets the black."
        ),
        measured={"max_ink_percent": round(max_percent, 1), "share_over_limit": round(share, 4)},
        threshold={"ink_limit_percent": cfg.ink_limit_percent},
        region=_region(_mask_box(over), template),
    )


def _total_ink_units(separations: np.ndarray) -> np.ndarray:
    """C+M+Y+K per pixel in 8-bit units (255 = 100 %), from an H×W×4 uint8 array.

    Each pixel's four bytes are read as one uint32 and summed with masks: NumPy's reduction
    over a length-4 last axis is several times slower, and on a tablet canvas it would cost
    more than the colour conversion that made the separations.
    """
    packed = np.ascontiguousarray(separations).view(np.uint32)[..., 0]
    pairs = (packed & 0x00FF00FF) + ((packed >> 8) & 0x00FF00FF)  # two 16-bit lanes, ≤ 510
    return (pairs & 0xFFFF) + (pairs >> 16)


def check_orientation(
    artwork: PlacedArtwork, template: Template, placement: ResolvedPlacement, cfg: CheckConfig
) -> Iterable[Finding]:
    box = placement.bounding_box
    placed_long, placed_short = max(box.width, box.height), min(box.width, box.height)
    if placed_short <= 0 or placed_long / placed_short < cfg.orientation_min_aspect:
        return  # square-ish artwork fits either way
    placed_portrait = box.height > box.width
    if placed_portrait == template.is_portrait:
        return
    fix = (placement.rotate_deg + 90) % 360
    shape = "portrait" if template.is_portrait else "landscape"
    yield Finding(
        code="orientation-mismatch",
        severity=Severity.WARNING,
        message=(
            f"The artwork is placed {'portrait' if placed_portrait else 'landscape'} on a "
            f"{shape} case, so most of it is cropped away. Rotate it by 90° (rotation "
            f"{fix:g}°) or supply {shape} artwork."
        ),
        measured={
            "placed_aspect": round(placed_long / placed_short, 3),
            "rotate_deg": placement.rotate_deg,
        },
        threshold={"min_aspect": cfg.orientation_min_aspect, "suggested_rotate_deg": fix},
        region=_region(_visible_artwork_box(placement), template),
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
    Check(
        id="low-effective-ppi",
        summary="Resolution at the placed size, after fit, scale and crop",
        rationale=(
            "What prints is the artwork at its placed size: a large file scaled up, or cropped "
            "to a detail, can still be too coarse. Desktop preflight judges resolution there."
        ),
        severity=Severity.WARNING,
        function=check_low_effective_ppi,
    ),
    Check(
        id="bleed-not-covered",
        summary="Part of the bleed box is not covered by opaque artwork",
        rationale=(
            "Cutters wander up to ~2 mm: artwork must run past the cut line, or a white sliver "
            "shows at the case's edge. An uncovered opaque case cannot be sold."
        ),
        severity=Severity.ERROR,
        function=check_bleed_not_covered,
    ),
    Check(
        id="transparency-in-print",
        summary="Semi-transparent pixels in the print area of an opaque product",
        rationale=(
            "UV ink on an opaque case has no see-through: semi-transparent pixels print as "
            "paler colour, not as the screen's blend."
        ),
        severity=Severity.WARNING,
        function=check_transparency_in_print,
    ),
    Check(
        id="ink-limit-exceeded",
        summary="Total ink coverage above the limit",
        rationale=(
            "Above the printer's total ink limit, ink pools, smears and cures badly; profiles "
            "keep RGB artwork below it, but CMYK files pass through as supplied."
        ),
        severity=Severity.WARNING,
        function=check_ink_limit,
    ),
    Check(
        id="orientation-mismatch",
        summary="Landscape artwork placed on a portrait case, or the reverse",
        rationale=(
            "A landscape photo covering a portrait case loses most of its picture to the crop; "
            "it is usually a forgotten rotation."
        ),
        severity=Severity.WARNING,
        function=check_orientation,
    ),
)


def run_checks(
    artwork: PlacedArtwork, template: Template, placement: ResolvedPlacement, cfg: CheckConfig
) -> list[Finding]:
    """Run every check in table order; findings sorted most severe first (stable)."""
    findings = [f for check in CHECKS for f in check.function(artwork, template, placement, cfg)]
    return sorted(findings, key=lambda f: -f.severity.rank)
