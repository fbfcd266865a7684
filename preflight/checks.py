"""The preflight checks: pure functions registered in one explicit table.

A check has the signature ``check(artwork, template, placement, cfg) -> Iterable[Finding]``
and is listed in :data:`CHECKS` with a stable id, a one-line summary, the rationale (why a
printer cares) and its default severity. Nothing registers itself on import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from preflight.color import ColorSettings, OutputProfile, total_ink_units
from preflight.colorshift import ColorShift, measure_color_shift
from preflight.content import ContentAnalysis, ContentObject
from preflight.findings import Finding, Region, Severity
from preflight.geometry import Box, ResolvedPlacement, mm_to_px, px_to_mm
from preflight.guide_marks import GuideEvidence, guide_evidence
from preflight.loading import ArtworkFacts
from preflight.templates import Template
from preflight.zones import content_safe_box, cutout_zone_masks

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
    # Share of an important object (or of the zone, if the object is larger) inside a camera
    # cutout's keep-out zone, and outside the content-safe box, that is worth a warning.
    cutout_min_overlap: float = 0.10
    edge_min_overlap: float = 0.10
    # ...or that reaches this far past the safe line.
    edge_min_intrusion_mm: float = 1.5
    # A guide path "shows" when this share of its samples is a thin line; guides are present
    # when two paths show, or one shows very clearly.
    guide_path_support: float = 0.5
    guide_single_path_support: float = 0.8
    # wrong-device: the artwork's proportions (short/long side) match another template within
    # this tolerance while they miss ours by more than the second one.
    device_aspect_match: float = 0.01
    device_aspect_mismatch: float = 0.08
    # out-of-gamut: colours predicted to print more than gamut_delta_e (CIEDE2000) away from
    # the artwork, on more than gamut_max_share of the printed area.
    gamut_delta_e: float = 5.0
    gamut_max_share: float = 0.25  # real photos reach 12–22 % (orange, cyan): no cry-wolf
    # The rest of the catalog, for wrong-device; empty means "do not compare".
    other_templates: tuple[Template, ...] = ()


@dataclass(frozen=True)
class PlacedArtwork:
    """What a check may look at: the file's facts, the artwork placed on the canvas, and the
    CMYK separation it will print as (all canvases follow :mod:`preflight.geometry`)."""

    facts: ArtworkFacts
    coverage: Image.Image  # the artwork's opacity on each canvas pixel (L, 0-255)
    flat: Image.Image  # the canvas on paper white (RGB, L or CMYK)
    cmyk: Image.Image
    dpi: float
    content: ContentAnalysis  # faces, text and distinct objects, found once for all checks
    source_icc: bytes | None = None  # the artwork's own profile (None: sRGB / output space)
    output: OutputProfile | None = None  # the press profile the CMYK is in
    color: ColorSettings = field(default_factory=ColorSettings)  # how the CMYK was made
    # The colour shift, when the caller has measured it already (a job measures it while the
    # content is analysed); otherwise measured on first use.
    measured_color_shift: ColorShift | None = None
    # The most ink (C+M+Y+K in 8-bit units) any colour takes through the conversion that made
    # ``cmyk``, when known (:func:`preflight.color.conversion_ink_bound`).
    ink_bound: int | None = None
    # Per-job scratch space for analyses two checks share (guide evidence, colour shift).
    _memo: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    def color_shift(self) -> ColorShift | None:
        """The artwork-to-print colour comparison, measured once per job (None: no output
        profile, or untagged CMYK printed as supplied)."""
        if "color_shift" not in self._memo:
            self._memo["color_shift"] = (
                self.measured_color_shift
                if self.measured_color_shift is not None or self.output is None
                else measure_color_shift(
                    self.flat, self.cmyk, self.coverage, self.source_icc, self.output, self.color
                )
            )
        return self._memo["color_shift"]  # type: ignore[return-value]

    def coverage_array(self) -> np.ndarray:
        """The coverage as a (read-only) array, read once for the checks that need it."""
        if "coverage" not in self._memo:
            self._memo["coverage"] = np.asarray(self.coverage)
        return self._memo["coverage"]  # type: ignore[return-value]


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
    return _rows_cols_box(np.any(mask, axis=1), np.any(mask, axis=0))


def _rows_cols_box(any_in_row: np.ndarray, any_in_col: np.ndarray) -> Box:
    """The box spanning the rows and columns flagged true (at least one of each)."""
    rows, cols = np.flatnonzero(any_in_row), np.flatnonzero(any_in_col)
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
    coverage = artwork.coverage_array()
    if coverage.min() >= 128:
        return  # the usual case, told by one pass over the 8-bit plane
    covered = coverage >= 128
    tolerance_px = max(1, round(mm_to_px(cfg.bleed_tolerance_mm, template.print_dpi)))
    height, width = covered.shape
    # Side gaps are measured along the middle half of each side, so a tilted artwork's corner
    # wedges (which reach far along the edge) are reported as corners, not as a side "80 mm"
    # deep; a partner fixes the two differently (move/enlarge vs. straighten/enlarge).
    middle_rows = covered[height // 4 : height - height // 4]
    middle_cols = covered[:, width // 4 : width - width // 4]
    depth_px = {
        "left": _gap_depth(middle_rows.T),
        "right": _gap_depth(middle_rows.T[::-1]),
        "top": _gap_depth(middle_cols),
        "bottom": _gap_depth(middle_cols[::-1]),
    }
    sides = {side: d for side, d in depth_px.items() if d > tolerance_px}
    corner_h, corner_w = height // 4, width // 4
    corner_boxes = {
        "top-left": covered[:corner_h, :corner_w],
        "top-right": covered[:corner_h, width - corner_w :],
        "bottom-left": covered[height - corner_h :, :corner_w],
        "bottom-right": covered[height - corner_h :, width - corner_w :],
    }
    corners = [
        name
        for name, box in corner_boxes.items()
        if box.size - np.count_nonzero(box) > tolerance_px**2
    ]
    uncovered_px = covered.size - np.count_nonzero(covered)
    if not sides and not corners and uncovered_px <= tolerance_px**2:
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
    share = uncovered_px / covered.size
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
        region=_region(
            _rows_cols_box(~np.all(covered, axis=1), ~np.all(covered, axis=0)), template
        ),
    )


_GAP_BLOCK_ROWS = 32


def _gap_depth(covered: np.ndarray) -> int:
    """How far a gap reaches in from row 0: the largest number of uncovered pixels above the
    first covered one, over the columns that hold any artwork (columns with none belong to
    the gap of a perpendicular side). With no artwork at all, the gap is the whole height.

    Scanned a block of rows at a time and stopped once every such column has met artwork: a
    gap is a few rows deep, and this also works on transposed and reversed views (left,
    right, bottom) without copying them.
    """
    missing = covered.any(axis=0)  # columns with artwork that no scanned row has reached
    if not missing.any():
        return int(covered.shape[0])
    for start in range(0, covered.shape[0], _GAP_BLOCK_ROWS):
        block = covered[start : start + _GAP_BLOCK_ROWS]
        reached = block.any(axis=0) & missing
        missing &= ~reached
        if not missing.any():
            # The deepest gap ends in this block, in a column first reached here.
            return start + int(block[:, reached].argmax(axis=0).max())
    raise AssertionError("unreachable: every column with artwork has a covered pixel")


def check_transparency_in_print(
    artwork: PlacedArtwork, template: Template, placement: ResolvedPlacement, cfg: CheckConfig
) -> Iterable[Finding]:
    if template.substrate != "opaque" or not artwork.facts.has_alpha:
        return
    alpha = artwork.coverage_array()
    trim = template.trim_box
    inside = alpha[round(trim.y) : round(trim.bottom), round(trim.x) : round(trim.right)]
    # 5–95 % opacity (13 ≤ alpha ≤ 242) in one comparison: subtracting 13 in uint8 wraps
    # alpha below 13 round to 243–255, so exactly the wanted values land below 230.
    partial = np.subtract(inside, 13, dtype=np.uint8) < 230
    share = np.count_nonzero(partial) / partial.size
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


_INK_STRIP_ROWS = 64  # the sum is taken strip by strip: bounded memory, in cache on any canvas


def check_ink_limit(
    artwork: PlacedArtwork, template: Template, placement: ResolvedPlacement, cfg: CheckConfig
) -> Iterable[Finding]:
    cmyk = artwork.cmyk
    limit_units = int(cfg.ink_limit_percent * 255 / 100)
    if artwork.ink_bound is not None and artwork.ink_bound <= limit_units:
        return  # no colour the conversion can make exceeds the limit: no pixel to look at
    width, height = cmyk.size
    over_count, max_units = 0, 0
    over_rows = np.zeros(height, dtype=bool)
    over_cols = np.zeros(width, dtype=bool)
    ink_units = np.empty(_INK_STRIP_ROWS * width, dtype=np.uint32)
    scratch = np.empty(_INK_STRIP_ROWS * width, dtype=np.uint32)
    for top in range(0, height, _INK_STRIP_ROWS):
        # Each strip's pixels are read from the image as they are needed (four bytes, one
        # uint32, per pixel): copying the whole canvas out first would cost more than the sum.
        bottom = min(height, top + _INK_STRIP_ROWS)
        packed = np.frombuffer(cmyk.crop((0, top, width, bottom)).tobytes(), dtype=np.uint32)
        total = total_ink_units(packed, ink_units[: len(packed)], scratch[: len(packed)])
        strip_max = int(total.max())
        max_units = max(max_units, strip_max)
        if strip_max <= limit_units:
            continue  # most strips: nothing over the limit, no need to look further
        over = total.reshape(bottom - top, width) > limit_units
        over_count += int(np.count_nonzero(over))
        over_rows[top:bottom] = over.any(axis=1)
        over_cols |= over.any(axis=0)
    share = over_count / (height * width)
    if over_count == 0 or share < cfg.ink_limit_min_share:
        return
    max_percent = max_units * 100.0 / 255.0
    region = _rows_cols_box(over_rows, over_cols)
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
        region=_region(region, template),
    )


def check_orientation(
    artwork: PlacedArtwork, template: Template, placement: ResolvedPlacement, cfg: CheckConfig
) -> Iterable[Finding]:
    box = placement.bounding_box
    placed_long, placed_short = max(box.width, box.height), min(box.width, box.height)
    placed_portrait = box.height > box.width
    shape = "portrait" if template.is_portrait else "landscape"
    if (
        placed_short > 0
        and placed_long / placed_short >= cfg.orientation_min_aspect
        and placed_portrait != template.is_portrait
    ):
        fix = (placement.rotate_deg + 90) % 360
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
        return
    # The shape fits; is the content upright? Faces are found only when turned upright.
    content = artwork.content
    if content.upright_faces or not any(content.rotated_faces.values()):
        return
    turn = max(content.rotated_faces, key=lambda t: content.rotated_faces[t])
    fix = (placement.rotate_deg + turn) % 360
    yield Finding(
        code="orientation-mismatch",
        severity=Severity.WARNING,
        message=(
            f"The picture looks rotated: faces appear only when it is turned {turn}° "
            f"clockwise. Set the rotation to {fix:g}° (or rotate the file) if that is how it "
            "should print."
        ),
        measured={
            "faces_upright": 0,
            "faces_when_turned": content.rotated_faces[turn],
            "rotate_deg": placement.rotate_deg,
        },
        threshold={"suggested_rotate_deg": fix},
        region=_region(_visible_artwork_box(placement), template),
    )


_KIND_WORDS = {
    "face": "A face",
    "text": "A line of text",
    "object": "A distinct object (logo or subject)",
}


def _box_slices(box: Box, shape: tuple[int, ...]) -> tuple[slice, slice]:
    y0, x0 = max(0, int(box.y)), max(0, int(box.x))
    y1 = min(shape[0], int(np.ceil(box.bottom)))
    x1 = min(shape[1], int(np.ceil(box.right)))
    return slice(y0, max(y0, y1)), slice(x0, max(x0, x1))


@dataclass(frozen=True)
class _ContentHit:
    obj: ContentObject
    share: float  # overlap share (cutout) or share outside the safe line (edge)
    region: Box


def _grouped(hits: list[_ContentHit]) -> list[list[_ContentHit]]:
    """One group per kind, strongest first; a distinct object is dropped when a face or text
    line already explains that place (a face is a more useful thing to tell than 'object')."""
    specific = [h.obj.box for h in hits if h.obj.kind != "object"]
    kept = [
        h
        for h in hits
        if h.obj.kind != "object" or not any(_boxes_touch(h.obj.box, b) for b in specific)
    ]
    groups: dict[str, list[_ContentHit]] = {}
    for hit in sorted(kept, key=lambda h: -h.share):
        groups.setdefault(hit.obj.kind, []).append(hit)
    return list(groups.values())


def _boxes_touch(a: Box, b: Box) -> bool:
    return a.x < b.right and b.x < a.right and a.y < b.bottom and b.y < a.bottom


def _union(boxes: list[Box]) -> Box:
    x0, y0 = min(b.x for b in boxes), min(b.y for b in boxes)
    x1, y1 = max(b.right for b in boxes), max(b.bottom for b in boxes)
    return Box(x0, y0, x1 - x0, y1 - y0)


def _how_many(group: list[_ContentHit]) -> str:
    word = _KIND_WORDS[group[0].obj.kind]
    return word if len(group) == 1 else f"{word} (and {len(group) - 1} more like it)"


def check_content_in_cutout(
    artwork: PlacedArtwork, template: Template, placement: ResolvedPlacement, cfg: CheckConfig
) -> Iterable[Finding]:
    zones = cutout_zone_masks(template)
    for index, zone in enumerate(zones):
        hits = []
        zone_area = 0  # counted when first needed: most jobs have no object near a camera
        for obj in artwork.content.objects:
            rows, cols = _box_slices(obj.box, zone.shape)
            box_area = (rows.stop - rows.start) * (cols.stop - cols.start)
            sub = zone[rows, cols]
            inside = np.count_nonzero(sub) if box_area else 0
            if inside == 0:
                continue
            zone_area = zone_area or int(np.count_nonzero(zone))
            overlap = inside / min(box_area, zone_area)
            if overlap < cfg.cutout_min_overlap:
                continue
            hit_rows = np.flatnonzero(sub.any(axis=1))
            hit_cols = np.flatnonzero(sub.any(axis=0))
            region = Box(
                cols.start + float(hit_cols[0]),
                rows.start + float(hit_rows[0]),
                float(hit_cols[-1] - hit_cols[0] + 1),
                float(hit_rows[-1] - hit_rows[0] + 1),
            )
            hits.append(_ContentHit(obj, overlap, region))
        cut = template.cutouts[index]
        for group in _grouped(hits):
            top = group[0]
            yield Finding(
                code="content-in-cutout",
                severity=Severity.WARNING,
                message=(
                    f"{_how_many(group)} sits under the {cut.kind} opening or within "
                    f"{cut.keep_out_mm:g} mm of it ({top.share * 100:.0f}% overlap), where it "
                    "will not print or will be hidden. Move or shrink the artwork, or move that "
                    "element away from the opening."
                ),
                measured={
                    "kind": top.obj.kind,
                    "count": len(group),
                    "overlap_share": round(top.share, 3),
                    "cutout_index": index,
                    "object_box_px": top.obj.box.to_px_list(),
                },
                threshold={
                    "max_overlap_share": cfg.cutout_min_overlap,
                    "keep_out_mm": cut.keep_out_mm,
                },
                region=_region(_union([h.region for h in group]), template),
            )


# The object detector works at 1.5 px/mm behind a 1.5 mm blur, so a blob's edge is known to
# about 1 mm: one that ends closer than that to the canvas edge is taken to run off it.
_OFF_CANVAS_TOLERANCE_MM = 1.0


def _runs_off_canvas(obj: ContentObject, template: Template) -> bool:
    width, height = template.canvas_size_px
    tolerance = mm_to_px(_OFF_CANVAS_TOLERANCE_MM, template.print_dpi)
    return (
        obj.box.x <= tolerance
        or obj.box.y <= tolerance
        or obj.box.right >= width - tolerance
        or obj.box.bottom >= height - tolerance
    )


def check_content_near_edge(
    artwork: PlacedArtwork, template: Template, placement: ResolvedPlacement, cfg: CheckConfig
) -> Iterable[Finding]:
    safe = content_safe_box(template)
    hits, intrusions = [], {}
    for obj in artwork.content.objects:
        # A "distinct object" that runs off the canvas is part of the scene (a sleeve, a
        # table edge), not a logo someone placed: the photo simply continues past the cut.
        if obj.kind == "object" and _runs_off_canvas(obj, template):
            continue
        box = obj.box
        area = box.width * box.height
        if area <= 0:
            continue
        ix0, iy0 = max(box.x, safe.x), max(box.y, safe.y)
        ix1, iy1 = min(box.right, safe.right), min(box.bottom, safe.bottom)
        inside = max(0.0, ix1 - ix0) * max(0.0, iy1 - iy0)
        outside = 1.0 - inside / area
        # How far it reaches past the safe line: a long line of text can have only a small
        # share outside and still put letters where the cutter wanders.
        intrusion_px = max(
            safe.x - box.x, box.right - safe.right, safe.y - box.y, box.bottom - safe.bottom, 0.0
        )
        intrusion_mm = px_to_mm(intrusion_px, template.print_dpi)
        if outside < cfg.edge_min_overlap and intrusion_mm < cfg.edge_min_intrusion_mm:
            continue
        hits.append(_ContentHit(obj, outside, box))
        intrusions[id(obj)] = intrusion_mm
    margin_mm = template.safe_inset_mm + template.wrap_mm
    where = f"within {margin_mm:g} mm of the cut" + (
        " or on the side walls" if template.wrap_mm else ""
    )
    for group in _grouped(hits):
        top = group[0]
        past = max(intrusions[id(h.obj)] for h in group)
        yield Finding(
            code="content-near-edge",
            severity=Severity.WARNING,
            message=(
                f"{_how_many(group)} reaches past the safe line ({top.share * 100:.0f}% of it "
                f"is {where}, up to {past:.1f} mm past the line), where the cut can trim it. "
                "Move it inwards or reduce the scale."
            ),
            measured={
                "kind": top.obj.kind,
                "count": len(group),
                "outside_safe_share": round(top.share, 3),
                "past_safe_line_mm": round(past, 1),
                "object_box_px": top.obj.box.to_px_list(),
            },
            threshold={
                "max_outside_share": cfg.edge_min_overlap,
                "max_past_safe_line_mm": cfg.edge_min_intrusion_mm,
                "safe_margin_mm": margin_mm,
            },
            region=_region(_union([h.region for h in group]), template),
        )


def _aspect(width: float, height: float) -> float:
    return min(width, height) / max(width, height)


def _same_geometry(a: Template, b: Template) -> bool:
    return a.canvas_size_px == b.canvas_size_px and a.cutouts == b.cutouts


def _guide_candidates(
    artwork: PlacedArtwork, template: Template, cfg: CheckConfig
) -> list[Template]:
    """Our template plus one template per other geometry whose canvas has the artwork's
    proportions (a guide can only line up if the artwork was that canvas)."""
    art_aspect = _aspect(artwork.facts.width_px, artwork.facts.height_px)
    chosen = [template]
    for other in cfg.other_templates:
        if any(_same_geometry(other, c) for c in chosen):
            continue
        if abs(_aspect(*other.canvas_size_px) / art_aspect - 1) <= 0.02:
            chosen.append(other)
    return chosen


def _guides(
    artwork: PlacedArtwork, template: Template, placement: ResolvedPlacement, cfg: CheckConfig
) -> list[GuideEvidence]:
    key = f"guides:{template.id}"
    if key not in artwork._memo:
        artwork._memo[key] = guide_evidence(
            artwork.flat, template, placement, _guide_candidates(artwork, template, cfg)
        )
    return artwork._memo[key]  # type: ignore[return-value]


def _guides_show(evidence: GuideEvidence, cfg: CheckConfig) -> bool:
    return len(evidence.paths_over(cfg.guide_path_support)) >= 2 or (
        evidence.score >= cfg.guide_single_path_support
    )


def check_template_guides_present(
    artwork: PlacedArtwork, template: Template, placement: ResolvedPlacement, cfg: CheckConfig
) -> Iterable[Finding]:
    evidence = _guides(artwork, template, placement, cfg)
    shown = [
        e
        for e in evidence
        if _guides_show(e, cfg)
        # another template is mostly tested on its cutouts: one clear outline is enough
        or (e.template_id != template.id and e.cutout_support >= cfg.guide_path_support)
    ]
    if not shown:
        return
    best = max(shown, key=lambda e: e.score)
    paths = best.paths_over(cfg.guide_path_support) or [
        max(best.support, key=lambda name: best.support[name])
    ]
    yield Finding(
        code="template-guides-present",
        severity=Severity.ERROR,
        message=(
            f"The template's guides are printed in the artwork ({', '.join(paths)} visible). "
            "Hide or delete the guide layer before exporting; it would print on the case."
        ),
        measured={"template": best.template_id, "line_support": best.support},
        threshold={
            "path_support": cfg.guide_path_support,
            "single_path_support": cfg.guide_single_path_support,
        },
        region=_region(_visible_artwork_box(placement), template),
    )


def check_wrong_device(
    artwork: PlacedArtwork, template: Template, placement: ResolvedPlacement, cfg: CheckConfig
) -> Iterable[Finding]:
    if not cfg.other_templates:
        return
    width, height = artwork.facts.width_px, artwork.facts.height_px
    others = [t for t in cfg.other_templates if not _same_geometry(t, template)]
    # 1. Another template's camera outlines show in the artwork, and ours do not.
    evidence = {e.template_id: e for e in _guides(artwork, template, placement, cfg)}
    ours = evidence.get(template.id)
    ours_cutouts = ours.cutout_support if ours else 0.0
    foreign = sorted(
        (e for tid, e in evidence.items() if tid != template.id),
        key=lambda e: -e.cutout_support,
    )
    if (
        foreign
        and foreign[0].cutout_support >= cfg.guide_path_support
        and foreign[0].cutout_support - ours_cutouts >= 0.3
    ):
        best = foreign[0]
        alike = [
            e.template_id for e in foreign[1:] if e.cutout_support >= best.cutout_support - 0.05
        ]
        yield _wrong_device(
            template,
            best.template_id,
            "its camera cutout guides show in the artwork"
            + (f" (or {', '.join(alike)}, same outline)" if alike else ""),
            {"guide_support": best.support, "our_cutout_support": round(ours_cutouts, 3)},
            placement,
            cfg,
        )
        return

    # 2. Exactly another template's canvas size (or a whole multiple of it), when our own
    # canvas is not an equally good match (several devices share a body size).
    def is_canvas_of(size: tuple[int, int], factor: int) -> bool:
        return abs(width - size[0] * factor) <= factor and abs(height - size[1] * factor) <= factor

    if any(is_canvas_of(template.canvas_size_px, f) for f in (1, 2, 3, 4)):
        others = []
    for other in others:
        ow, oh = other.canvas_size_px
        for factor in (1, 2, 3, 4):
            if is_canvas_of((ow, oh), factor):
                yield _wrong_device(
                    template,
                    other.id,
                    f"it is exactly that template's canvas ({ow}×{oh} px"
                    f"{f' ×{factor}' if factor > 1 else ''})",
                    {"artwork_px": [width, height], "other_canvas_px": [ow, oh]},
                    placement,
                    cfg,
                )
                return
    # 3. Proportions far from ours and very close to another's.
    art_aspect = _aspect(width, height)
    # Ours is the canvas or the recommended size (rounded up to 100 px, so a little off).
    our_miss = min(
        abs(_aspect(*template.canvas_size_px) / art_aspect - 1),
        abs(
            _aspect(template.min_artwork_px.width, template.min_artwork_px.height) / art_aspect - 1
        ),
    )
    if our_miss <= cfg.device_aspect_mismatch:
        return
    closest = sorted((abs(_aspect(*o.canvas_size_px) / art_aspect - 1), o.id) for o in others)
    if closest and closest[0][0] <= cfg.device_aspect_match:
        yield _wrong_device(
            template,
            closest[0][1],
            f"its proportions ({art_aspect:.3f}) match that template's canvas within "
            f"{closest[0][0] * 100:.1f}% but miss ours by {our_miss * 100:.0f}%",
            {
                "artwork_aspect": round(art_aspect, 4),
                "our_aspect_miss": round(our_miss, 4),
                "other_aspect_miss": round(closest[0][0], 4),
            },
            placement,
            cfg,
        )


def _wrong_device(
    template: Template,
    other_id: str,
    why: str,
    measured: dict[str, object],
    placement: ResolvedPlacement,
    cfg: CheckConfig,
) -> Finding:
    return Finding(
        code="wrong-device",
        severity=Severity.WARNING,
        message=(
            f"This artwork looks made for {other_id}, not {template.id}: {why}. Check the "
            "device chosen for the order, or redo the artwork on this template's guide."
        ),
        measured={"looks_like": other_id, **measured},
        threshold={
            "aspect_match": cfg.device_aspect_match,
            "aspect_mismatch": cfg.device_aspect_mismatch,
            "guide_path_support": cfg.guide_path_support,
        },
        region=_region(_visible_artwork_box(placement), template),
    )


def check_out_of_gamut(
    artwork: PlacedArtwork, template: Template, placement: ResolvedPlacement, cfg: CheckConfig
) -> Iterable[Finding]:
    shift = artwork.color_shift()
    if shift is None or not shift.has_print:
        return
    share = shift.share_over(cfg.gamut_delta_e)
    if share <= cfg.gamut_max_share:
        return
    worst = shift.worst_colours(above=cfg.gamut_delta_e)
    region = _mask_box((shift.delta > cfg.gamut_delta_e) & shift.printed)
    factor = shift.scale
    yield Finding(
        code="out-of-gamut",
        severity=Severity.WARNING,
        message=(
            f"{share * 100:.0f}% of the print will look noticeably different from the screen "
            f"(colour difference above ΔE2000 {cfg.gamut_delta_e:g}; worst "
            f"{worst[0]['artwork_rgb']}, ΔE {worst[0]['delta_e2000']}). Saturated blues and "
            "greens cannot be printed in CMYK; check the proof and the colour-shift map, or "
            "pick printable colours."
        ),
        measured={
            "share_over": round(share, 4),
            "mean_delta_e2000": round(shift.mean, 2),
            "worst_colors": worst,
        },
        threshold={"delta_e2000": cfg.gamut_delta_e, "max_share": cfg.gamut_max_share},
        region=_region(
            Box(
                region.x / factor, region.y / factor, region.width / factor, region.height / factor
            ),
            template,
        ),
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
    Check(
        id="content-in-cutout",
        summary="A face, text or a distinct object under a camera opening or its keep-out rim",
        rationale=(
            "Nothing prints in the opening and the rim hides what is near it: a face or a "
            "name under the camera is the most common reprint complaint on photo cases."
        ),
        severity=Severity.WARNING,
        function=check_content_in_cutout,
    ),
    Check(
        id="content-near-edge",
        summary="A face, text or a placed object between the safe line and the cut",
        rationale=(
            "Cutters wander up to ~2 mm and case edges curve away: what sits outside the safe "
            "line can be trimmed or bent out of sight (on wrap cases, the side walls)."
        ),
        severity=Severity.WARNING,
        function=check_content_near_edge,
    ),
    Check(
        id="template-guides-present",
        summary="The designer's template guides left visible in the artwork",
        rationale=(
            "Partners design on our guide and forget to hide it: the cut line and camera "
            "outlines then print on the case, which is never what they meant."
        ),
        severity=Severity.ERROR,
        function=check_template_guides_present,
    ),
    Check(
        id="wrong-device",
        summary="Artwork that looks made for another device's template",
        rationale=(
            "A design made for another phone puts its camera hole and edges in the wrong place;"
            " the order's device may be wrong, or the partner used the wrong guide."
        ),
        severity=Severity.WARNING,
        function=check_wrong_device,
    ),
    Check(
        id="out-of-gamut",
        summary="Colours the press cannot reproduce, on a large share of the print",
        rationale=(
            "Partners judge colour on screen; saturated blues and greens shift by ΔE 15–20 in "
            "CMYK. Telling them before printing avoids 'the case looks different' complaints."
        ),
        severity=Severity.WARNING,
        function=check_out_of_gamut,
    ),
)


def run_checks(
    artwork: PlacedArtwork, template: Template, placement: ResolvedPlacement, cfg: CheckConfig
) -> list[Finding]:
    """Run every check in table order; findings sorted most severe first (stable)."""
    findings = [f for check in CHECKS for f in check.function(artwork, template, placement, cfg)]
    return sorted(findings, key=lambda f: -f.severity.rank)
