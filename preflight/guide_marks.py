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
from functools import lru_cache

import numpy as np
from PIL import Image

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
    parts: list[np.ndarray] = []

    def line(x0: float, y0: float, x1: float, y1: float, nx: float, ny: float) -> None:
        length = math.hypot(x1 - x0, y1 - y0)
        steps = np.arange(int(length // _SAMPLE_STEP_PX) + 1, dtype=np.float64)
        t = steps * _SAMPLE_STEP_PX / length if length else np.zeros_like(steps)
        parts.append(
            np.stack(
                [
                    x0 + t * (x1 - x0),
                    y0 + t * (y1 - y0),
                    np.full_like(t, nx),
                    np.full_like(t, ny),
                ],
                axis=1,
            )
        )

    def arc(cx: float, cy: float, start: float) -> None:
        # math's cos/sin, not NumPy's: the points stay exactly where they always were (NumPy's
        # SIMD trigonometry may differ in the last bit).
        steps = max(2, int(r * math.pi / 2 // _SAMPLE_STEP_PX))
        angles = [math.radians(start + 90.0 * i / steps) for i in range(steps)]
        parts.append(
            np.array(
                [
                    (cx + r * math.cos(a), cy + r * math.sin(a), math.cos(a), math.sin(a))
                    for a in angles
                ],
                dtype=np.float64,
            ).reshape(-1, 4)
        )

    line(x + r, y, x + w - r, y, 0, -1)
    arc(x + w - r, y + r, 270)
    line(x + w, y + r, x + w, y + h - r, 1, 0)
    arc(x + w - r, y + h - r, 0)
    line(x + w - r, y + h, x + r, y + h, 0, 1)
    arc(x + r, y + h - r, 90)
    line(x, y + h - r, x, y + r, -1, 0)
    arc(x + r, y + r, 180)
    return np.concatenate(parts)


@lru_cache(maxsize=256)
def _guide_paths(template: Template, cutouts_only: bool) -> tuple[tuple[str, np.ndarray], ...]:
    """The template's guide outlines in its own canvas px (the line centres), in path order.

    Cached: they depend on the template only, and every job compares against most of the
    catalog. The arrays are read-only, as they are shared.
    """
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
    for points in paths.values():
        points.setflags(write=False)
    return tuple(paths.items())


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


def _bilinear(pixels: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The first three channels of ``pixels`` (rows, cols, channels; uint8) at points
    ``(ys, xs)``, bilinear (scaled-down guides have lines under two pixels wide): float32,
    shape (3, *ys.shape).

    The arithmetic is that of ``scipy.ndimage.map_coordinates(order=1)``, step by step (corner
    by corner, value × row weight × column weight, in float64), so the values are the very
    ones it gives; but all points are sampled in one pass over the interleaved 8-bit pixels,
    without a float or per-channel copy of the canvas. Points must lie at least one pixel
    inside the canvas (callers keep a margin); ``mode="clip"`` only guards the edge.
    """
    width, step = pixels.shape[1], pixels.shape[2]
    row0, col0 = np.floor(ys), np.floor(xs)
    below, right = ys - row0, xs - col0
    above, left = 1.0 - below, 1.0 - right
    corner = (row0.astype(np.intp) * width + col0.astype(np.intp)) * step
    flat = pixels.reshape(-1)
    down = step * width
    values = np.empty((3, *ys.shape), dtype=np.float32)
    for channel in range(3):
        at = corner + channel
        total = np.take(flat, at, mode="clip") * above * left
        total += np.take(flat, at + step, mode="clip") * above * right
        total += np.take(flat, at + down, mode="clip") * below * left
        total += np.take(flat, at + (down + step), mode="clip") * below * right
        values[channel] = total
    return values


def _line_widths(scale: float) -> tuple[int, int]:
    """How far a line's sides are tested from its centre, and how far off its expected place
    the line may sit, in our canvas px. ``scale`` is how much the guide was enlarged onto our
    canvas: its lines widen, so the sides move out."""
    return round(_SIDE_OFFSET_PX * max(1.0, scale)), round(_SEARCH_PX * max(1.0, scale))


def _supports(
    pixels: np.ndarray, paths: list[tuple[str, np.ndarray]], side: int, search: int
) -> dict[str, float | None]:
    """For each path, the share of its points where a thin one-colour line runs along it
    (None: the path is mostly off the canvas, no evidence either way); ``side`` and
    ``search`` as from :func:`_line_widths`.

    All paths are sampled together (one pass over all their normals), then judged one by one.
    """
    height, width = pixels.shape[:2]
    margin = side + search + 1
    result: dict[str, float | None] = {}
    kept: list[tuple[str, np.ndarray]] = []
    for name, points in paths:
        keep = (
            (points[:, 0] > margin)
            & (points[:, 0] < width - margin)
            & (points[:, 1] > margin)
            & (points[:, 1] < height - margin)
        )
        if np.count_nonzero(keep) < _MIN_SAMPLES:
            result[name] = None  # the path is (mostly) off the canvas
        else:
            kept.append((name, points[keep]))
    if not kept:
        return result
    points = np.concatenate([p for _, p in kept])
    # Each normal's profile, sampled once at every whole-pixel distance the tests below use:
    # profiles[channel, reach + d, point] is the value d px along the point's normal.
    reach = search + side
    distances = np.arange(-reach, reach + 1, dtype=np.float64)[:, None]
    profiles = _bilinear(
        pixels, points[:, 1] + distances * points[:, 3], points[:, 0] + distances * points[:, 2]
    )
    # A line at offset o (|o| ≤ search) differs from both sides (o ± side), in one direction,
    # in some channel. Row k of these slices is offset o = k - search.
    centre = profiles[:, side : side + 2 * search + 1]
    d1 = centre - profiles[:, : 2 * search + 1]
    d2 = centre - profiles[:, 2 * side :]
    lighter = (d1 > _LINE_CONTRAST) & (d2 > _LINE_CONTRAST)
    darker = (d1 < -_LINE_CONTRAST) & (d2 < -_LINE_CONTRAST)
    hit = (lighter | darker).any(axis=0)  # (offsets, points)
    found = hit.any(axis=0)
    # The line's colour at the first offset where it shows (as the search ran from -search).
    first = hit.argmax(axis=0)
    line_colour = np.zeros((len(points), 3), dtype=np.float32)
    at = np.flatnonzero(found)
    line_colour[at] = centre[:, first[at], at].T
    start = 0
    for name, path_points in kept:
        stop = start + len(path_points)
        result[name] = _one_colour_share(found[start:stop], line_colour[start:stop])
        start = stop
    return result


def _one_colour_share(found: np.ndarray, line_colour: np.ndarray) -> float:
    """Share of a path's points whose line is drawn in the path's dominant colour."""
    if not found.any():
        return 0.0
    # A guide is drawn in one colour; texture "lines" (grass blades) are every shade.
    dominant = np.median(line_colour[found], axis=0)
    same_colour = np.linalg.norm(line_colour - dominant, axis=1) < _SAME_COLOUR
    return float((found & same_colour).mean())


def guide_evidence(
    flat: Image.Image, ours: Template, placement: ResolvedPlacement, candidates: list[Template]
) -> list[GuideEvidence]:
    """How strongly each candidate template's guides show on the flattened canvas."""
    # All three channels: a red cut line can have the lightness of mid-grey gravel. Kept as
    # the 8-bit pixels (a tablet canvas in float32 would be 80 MB); the sampling interpolates.
    # Read padded to four bytes a pixel, as Pillow holds them: a plain copy, where packing to
    # three bytes costs a pass of its own over the canvas.
    rgb = flat if flat.mode == "RGB" else flat.convert("RGB")
    pixels = np.frombuffer(rgb.tobytes("raw", "RGBX"), dtype=np.uint8).reshape(
        rgb.height, rgb.width, 4
    )
    aw, ah = placement.artwork_size
    art_aspect = min(aw, ah) / max(aw, ah)
    foreign = [t for t in candidates if t.id != ours.id]
    closest = min(
        foreign,
        key=lambda t: abs(min(t.canvas_size_px) / max(t.canvas_size_px) - art_aspect),
        default=ours,
    ).id
    # The paths of all candidates whose lines have the same widths are sampled in one batch.
    batches: dict[tuple[int, int], list[tuple[str, np.ndarray]]] = {}
    names: list[list[str]] = []
    for index, template in enumerate(candidates):
        # Cut and safe lines of similar devices coincide within the search distance: they
        # tell that *a* guide is there, not whose. Other templates are judged by cutouts,
        # except the one whose proportions the artwork has (its lines may be all that shows
        # when the crop removes its camera).
        cutouts_only = template.id != ours.id and template.id != closest
        paths = _guide_paths(template, cutouts_only)
        names.append([name for name, _ in paths])
        widths = _line_widths(_guide_scale(template, ours, placement))
        batches.setdefault(widths, []).extend(
            (f"{index}/{name}", _to_our_canvas(points, template, ours, placement))
            for name, points in paths
        )
    support: dict[str, float | None] = {}
    for (side, search), batch in batches.items():
        support.update(_supports(pixels, batch, side, search))
    evidence = []
    for index, template in enumerate(candidates):
        values = {name: support[f"{index}/{name}"] for name in names[index]}
        evidence.append(
            GuideEvidence(
                template.id,
                {name: round(value, 3) for name, value in values.items() if value is not None},
            )
        )
    return evidence
