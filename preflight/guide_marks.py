"""Finding template guides (cut line, safe line, cutout outlines) left visible in artwork.

For a template the artwork may have been designed on, its guide paths are mapped onto our
canvas: our own template's paths lie where they are (a cover fit of same-shaped artwork maps
its canvas onto ours); another template's paths are scaled from its canvas to the artwork and
then through the placement. Along each path we test for a *thin line*: the pixel differs from
both neighbours across the path, in the same direction, by a visible amount. A photo's edges
are steps (one side matches the centre); a guide is a line (both sides differ). A path
"supports" guides when enough of its samples show such a line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from preflight.geometry import ResolvedPlacement, mm_to_px
from preflight.templates import Template
from preflight.zones import cutout_box, cutout_radius_px

__all__ = ["GuideEvidence", "guide_evidence"]

_SAMPLE_STEP_PX = 3.0
_LINE_CONTRAST = 40.0  # levels (0–255) between the line and both of its sides
_SIDE_OFFSET_PX = 5.0
_SEARCH_PX = 3  # how far off its expected place a line may sit (scaling round-off)
_MIN_SAMPLES = 40
_SAME_COLOUR = 45.0  # RGB distance within which line samples share the guide's colour


@dataclass(frozen=True)
class GuideEvidence:
    template_id: str
    support: dict[str, float]  # path name → share of its samples that show a thin line

    @property
    def score(self) -> float:
        """Best path support, or the mean of the two best when both are substantial."""
        values = sorted(self.support.values(), reverse=True)
        return values[0] if values else 0.0

    def paths_over(self, threshold: float) -> list[str]:
        return [name for name, value in self.support.items() if value >= threshold]

    @property
    def cutout_support(self) -> float:
        """Mean support of the cutout outlines: what tells one device's guide from another's."""
        values = [v for name, v in self.support.items() if name.startswith("cutout")]
        return sum(values) / len(values) if values else 0.0


def _rounded_rect_path(x: float, y: float, w: float, h: float, r: float) -> np.ndarray:
    """Points (x, y) and unit normals along a rounded rectangle, about every 3 px."""
    r = max(0.0, min(r, w / 2, h / 2))
    points: list[tuple[float, float, float, float]] = []

    def line(x0: float, y0: float, x1: float, y1: float, nx: float, ny: float) -> None:
        length = math.hypot(x1 - x0, y1 - y0)
        for i in range(int(length // _SAMPLE_STEP_PX) + 1):
            t = i * _SAMPLE_STEP_PX / length if length else 0.0
            points.append((x0 + t * (x1 - x0), y0 + t * (y1 - y0), nx, ny))

    def arc(cx: float, cy: float, start: float) -> None:
        steps = max(2, int(r * math.pi / 2 // _SAMPLE_STEP_PX))
        for i in range(steps):
            a = math.radians(start + 90.0 * i / steps)
            points.append((cx + r * math.cos(a), cy + r * math.sin(a), math.cos(a), math.sin(a)))

    line(x + r, y, x + w - r, y, 0, -1)
    arc(x + w - r, y + r, 270)
    line(x + w, y + r, x + w, y + h - r, 1, 0)
    arc(x + w - r, y + h - r, 0)
    line(x + w - r, y + h, x + r, y + h, 0, 1)
    arc(x + r, y + h - r, 90)
    line(x, y + h - r, x, y + r, -1, 0)
    arc(x + r, y + r, 180)
    return np.array(points, dtype=np.float64)


def _guide_paths(template: Template, cutouts_only: bool) -> dict[str, np.ndarray]:
    """The template's guide outlines in its own canvas px (the line centres)."""
    dpi = template.print_dpi
    trim, safe = template.trim_box, template.safe_box
    radius = mm_to_px(template.corner_radius_mm, dpi)
    paths = (
        {}
        if cutouts_only
        else {
            "cut line": _rounded_rect_path(trim.x, trim.y, trim.width, trim.height, radius),
            "safe line": _rounded_rect_path(
                safe.x,
                safe.y,
                safe.width,
                safe.height,
                max(0.0, radius - mm_to_px(template.safe_inset_mm, dpi)),
            ),
        }
    )
    for i, cut in enumerate(template.cutouts):
        box = cutout_box(template, cut)
        paths[f"cutout {i + 1}"] = _rounded_rect_path(
            box.x, box.y, box.width, box.height, cutout_radius_px(template, cut)
        )
    return paths


def _to_our_canvas(
    points: np.ndarray, source: Template, ours: Template, placement: ResolvedPlacement
) -> np.ndarray:
    if source.id == ours.id or source.canvas_size_px == ours.canvas_size_px:
        return points
    # The artwork is taken to be the source template's canvas, scaled to the artwork's size;
    # from there the placement carries it onto our canvas (normals turn, unscaled).
    sw, sh = source.canvas_size_px
    aw, ah = placement.artwork_size
    px, py = points[:, 0] * aw / sw, points[:, 1] * ah / sh
    a, b, c, d, e, f = placement.artwork_to_canvas()
    nx, ny = points[:, 2], points[:, 3]
    s = placement.scale
    return np.stack(
        [a * px + b * py + c, d * px + e * py + f, (a * nx + b * ny) / s, (d * nx + e * ny) / s],
        axis=1,
    )


def _guide_scale(source: Template, ours: Template, placement: ResolvedPlacement) -> float:
    """Our canvas px per source-canvas px (1 for our own guide: the cover fit undoes any
    enlargement of same-shaped artwork)."""
    if source.id == ours.id or source.canvas_size_px == ours.canvas_size_px:
        return 1.0
    return placement.scale * placement.artwork_size[0] / source.canvas_size_px[0]


def _sample_across(channel: np.ndarray, points: np.ndarray, distance: float) -> np.ndarray:
    """Channel values at ``distance`` px along each point's normal (bilinear: scaled-down
    guides have lines under two pixels wide)."""
    xs = points[:, 0] + distance * points[:, 2]
    ys = points[:, 1] + distance * points[:, 3]
    values: np.ndarray = ndimage.map_coordinates(
        channel, [ys, xs], order=1, mode="nearest", output=np.float32
    )
    return values


def _support(channels: list[np.ndarray], points: np.ndarray, scale: float) -> float | None:
    """Share of ``points`` where a thin one-colour line runs along the path. ``scale`` is how
    much the guide was enlarged onto our canvas: its lines widen, so the sides move out."""
    height, width = channels[0].shape
    side = round(_SIDE_OFFSET_PX * max(1.0, scale))
    search = round(_SEARCH_PX * max(1.0, scale))
    margin = side + search + 1
    keep = (
        (points[:, 0] > margin)
        & (points[:, 0] < width - margin)
        & (points[:, 1] > margin)
        & (points[:, 1] < height - margin)
    )
    points = points[keep]
    if len(points) < _MIN_SAMPLES:
        return None  # the path is (mostly) off the canvas: no evidence either way
    # Sample each normal's profile once, then test every allowed offset of the line.
    reach = search + side
    profiles = [
        np.stack([_sample_across(c, points, float(d)) for d in range(-reach, reach + 1)])
        for c in channels
    ]
    found = np.zeros(len(points), dtype=bool)
    line_colour = np.zeros((len(points), len(channels)), dtype=np.float32)
    for offset in range(-search, search + 1):
        hit = np.zeros(len(points), dtype=bool)
        for profile in profiles:
            centre = profile[reach + offset]
            d1 = centre - profile[reach + offset - side]
            d2 = centre - profile[reach + offset + side]
            hit |= (
                (np.abs(d1) > _LINE_CONTRAST)
                & (np.abs(d2) > _LINE_CONTRAST)
                & (np.sign(d1) == np.sign(d2))
            )
        new = hit & ~found
        for c, profile in enumerate(profiles):
            line_colour[new, c] = profile[reach + offset][new]
        found |= hit
    if not found.any():
        return 0.0
    # A guide is drawn in one colour; texture "lines" (grass blades) are every shade.
    dominant = np.median(line_colour[found], axis=0)
    same_colour = np.linalg.norm(line_colour - dominant, axis=1) < _SAME_COLOUR
    found &= same_colour
    return float(found.mean())


def guide_evidence(
    flat: Image.Image, ours: Template, placement: ResolvedPlacement, candidates: list[Template]
) -> list[GuideEvidence]:
    """How strongly each candidate template's guides show on the flattened canvas."""
    # All three channels: a red cut line can have the lightness of mid-grey gravel.
    # Kept as 8-bit planes (a tablet canvas in float32 would be 80 MB); the sampling below
    # interpolates into float32 itself.
    rgb = np.asarray(flat.convert("RGB"))
    channels = [np.ascontiguousarray(rgb[..., c]) for c in range(3)]
    del rgb
    aw, ah = placement.artwork_size
    art_aspect = min(aw, ah) / max(aw, ah)
    foreign = [t for t in candidates if t.id != ours.id]
    closest = min(
        foreign,
        key=lambda t: abs(min(t.canvas_size_px) / max(t.canvas_size_px) - art_aspect),
        default=ours,
    ).id
    evidence = []
    for template in candidates:
        support = {}
        # Cut and safe lines of similar devices coincide within the search distance: they
        # tell that *a* guide is there, not whose. Other templates are judged by cutouts,
        # except the one whose proportions the artwork has (its lines may be all that shows
        # when the crop removes its camera).
        cutouts_only = template.id != ours.id and template.id != closest

        scale = _guide_scale(template, ours, placement)
        for name, path in _guide_paths(template, cutouts_only).items():
            value = _support(channels, _to_our_canvas(path, template, ours, placement), scale)
            if value is not None:
                support[name] = round(value, 3)
        evidence.append(GuideEvidence(template.id, support))
    return evidence
