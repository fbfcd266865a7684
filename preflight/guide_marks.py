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
from preflight.resample import to_pixels
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


_Weights = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
# The canvas is read this many bytes at a time (two megabytes): a whole tablet canvas copied
# out at once is a large allocation that the system takes back after each job and maps
# afresh for the next (those page faults cost more than the sampling itself).
_BAND_BYTES = 2 << 20


def _grid(ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray, _Weights]:
    """For points ``(ys, xs)``: the row and column of the pixel above left of each, and the
    bilinear weights (above, below, left, right) of it and its three neighbours."""
    row0, col0 = np.floor(ys), np.floor(xs)
    below, right = ys - row0, xs - col0
    return row0.astype(np.intp), col0.astype(np.intp), (1.0 - below, below, 1.0 - right, right)


def _take_corners(words: np.ndarray, width: int, corner: np.ndarray) -> np.ndarray:
    """The pixel at ``corner`` (flat index into ``words``, one uint32 RGBX word per pixel,
    ``width`` a row) and its neighbours right, below and below right: (4, *corner.shape).
    ``mode="clip"`` only guards the edge: callers keep a margin."""
    return np.stack(
        [
            np.take(words, index, mode="clip")
            for index in (corner, corner + 1, corner + width, corner + (width + 1))
        ]
    )


def _channels(words: np.ndarray) -> np.ndarray:
    """The bytes of pixel words, channel last: (*words.shape, 4) uint8 (a view)."""
    return words.view(np.uint8).reshape(*words.shape, 4)


def _interpolate(corners: np.ndarray, weights: _Weights) -> np.ndarray:
    """The three channels between the corner pixels from :func:`_take_corners`, bilinear
    (scaled-down guides have lines under two pixels wide): float32, (3, *points shape).

    The arithmetic is that of ``scipy.ndimage.map_coordinates(order=1)``, step by step (corner
    by corner, value × row weight × column weight, in float64), so the values are the very
    ones it gives, without a float or per-channel copy of the canvas.
    """
    above, below, left, right = weights
    top_left, top_right, bottom_left, bottom_right = _channels(corners)
    values = np.empty((3, *above.shape), dtype=np.float32)
    for channel in range(3):
        total = top_left[..., channel] * above * left
        total += top_right[..., channel] * above * right
        total += bottom_left[..., channel] * below * left
        total += bottom_right[..., channel] * below * right
        values[channel] = total
    return values


def _bilinear(pixels: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The three channels of ``pixels`` (rows, cols, 4; uint8, RGB padded to four bytes) at
    ``(ys, xs)``, as the guide test samples them."""
    width = pixels.shape[1]
    row0, col0, weights = _grid(ys, xs)
    words = pixels.reshape(-1).view(np.uint32)
    return _interpolate(_take_corners(words, width, row0 * width + col0), weights)


def _line_widths(scale: float) -> tuple[int, int]:
    """How far a line's sides are tested from its centre, and how far off its expected place
    the line may sit, in our canvas px. ``scale`` is how much the guide was enlarged onto our
    canvas: its lines widen, so the sides move out."""
    return round(_SIDE_OFFSET_PX * max(1.0, scale)), round(_SEARCH_PX * max(1.0, scale))


@dataclass
class _Batch:
    """The paths sampled together (their lines have the same widths): their points on the
    canvas, sorted by row so that the canvas can be read a band of rows at a time, and the
    pixels under every sample along the points' normals, filled in band by band."""

    side: int
    search: int
    kept: list[tuple[str, int]]  # path name and number of points, in the order joined
    order: np.ndarray  # sorted position → position among the joined points
    points: np.ndarray  # (x, y, nx, ny), sorted by y
    corners: np.ndarray  # (4, distance, point) uint32 RGBX words

    @property
    def reach(self) -> int:
        return self.side + self.search

    def samples(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where ``points`` (some of ours) are sampled: (ys, xs), each (distance, point).
        Sample [reach + d, point] lies d px along the point's normal, at every whole-pixel
        distance the line test uses."""
        distances = np.arange(-self.reach, self.reach + 1, dtype=np.float64)[:, None]
        return (
            points[:, 1] + distances * points[:, 3],
            points[:, 0] + distances * points[:, 2],
        )


def _batch(
    paths: list[tuple[str, np.ndarray]], side: int, search: int, size: tuple[int, int]
) -> tuple[_Batch | None, dict[str, float | None]]:
    """The batch of the paths that lie on the canvas, and None for each of the others (mostly
    off the canvas: no evidence either way)."""
    width, height = size
    margin = side + search + 1
    off_canvas: dict[str, float | None] = {}
    kept: list[tuple[str, np.ndarray]] = []
    for name, points in paths:
        keep = (
            (points[:, 0] > margin)
            & (points[:, 0] < width - margin)
            & (points[:, 1] > margin)
            & (points[:, 1] < height - margin)
        )
        if np.count_nonzero(keep) < _MIN_SAMPLES:
            off_canvas[name] = None
        else:
            kept.append((name, points[keep]))
    if not kept:
        return None, off_canvas
    joined = np.concatenate([p for _, p in kept])
    order = np.argsort(joined[:, 1], kind="stable")
    batch = _Batch(
        side=side,
        search=search,
        kept=[(name, len(p)) for name, p in kept],
        order=order,
        points=joined[order],
        corners=np.empty((4, 2 * (side + search) + 1, len(joined)), dtype=np.uint32),
    )
    return batch, off_canvas


def _read_corners(rgb: Image.Image, batches: list[_Batch]) -> None:
    """Fill every batch's corner pixels, reading the canvas once, a band of rows at a time.

    A point's samples stay within ``reach`` rows of it (its normal has unit length), so a
    band read ``reach + 2`` rows beyond the points it serves holds all of their pixels.
    """
    width, height = rgb.size
    band_rows = max(32, _BAND_BYTES // (4 * width))
    margin = max(b.reach for b in batches) + 2
    for top in range(0, height, band_rows):
        spans = [np.searchsorted(b.points[:, 1], (top, top + band_rows)) for b in batches]
        if all(start == stop for start, stop in spans):
            continue
        y0, y1 = max(0, top - margin), min(height, top + band_rows + margin)
        # RGB as four bytes a pixel (the fourth is never read).
        words = to_pixels(rgb.crop((0, y0, width, y1))).reshape(-1).view(np.uint32)
        for b, (start, stop) in zip(batches, spans, strict=True):
            if start < stop:
                row0, col0, _ = _grid(*b.samples(b.points[start:stop]))
                b.corners[:, :, start:stop] = _take_corners(
                    words, width, (row0 - y0) * width + col0
                )


def _supports(batch: _Batch) -> dict[str, float | None]:
    """For each path of the batch, the share of its points where a thin one-colour line runs
    along it. All its paths are tested together, then judged one by one."""
    side, search, corners = batch.side, batch.search, batch.corners
    # An interpolated value lies between the pixels it mixes (in float32 too), so where all
    # the pixels under a profile span no more than the line contrast in every channel, no
    # line can show: only the other profiles (a third on a photo) are interpolated and tested.
    under = _channels(corners)  # (corner, distance, point, channel)
    span = under.max(axis=(0, 1)).astype(np.int16) - under.min(axis=(0, 1))
    tested = np.flatnonzero((span[:, :3] > _LINE_CONTRAST).any(axis=1))
    _, _, weights = _grid(*batch.samples(batch.points[tested]))
    profiles = _interpolate(np.take(corners, tested, axis=2), weights)
    # A line at offset o (|o| ≤ search) differs from both sides (o ± side), in one direction,
    # in some channel. Row k of these slices is offset o = k - search.
    centre = profiles[:, side : side + 2 * search + 1]
    d1 = centre - profiles[:, : 2 * search + 1]
    d2 = centre - profiles[:, 2 * side :]
    lighter = (d1 > _LINE_CONTRAST) & (d2 > _LINE_CONTRAST)
    darker = (d1 < -_LINE_CONTRAST) & (d2 < -_LINE_CONTRAST)
    hit = (lighter | darker).any(axis=0)  # (offsets, tested points)
    shown = np.flatnonzero(hit.any(axis=0))
    # Back in the order the paths were joined: where a line shows, and its colour at the
    # first offset where it shows (as the search ran from -search).
    at = batch.order[tested[shown]]
    found = np.zeros(len(batch.order), dtype=bool)
    found[at] = True
    line_colour = np.zeros((len(batch.order), 3), dtype=np.float32)
    line_colour[at] = centre[:, hit[:, shown].argmax(axis=0), shown].T
    result: dict[str, float | None] = {}
    start = 0
    for name, count in batch.kept:
        stop = start + count
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
    rgb = flat if flat.mode == "RGB" else flat.convert("RGB")
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
    ready = []
    for (side, search), batch_paths in batches.items():
        batch, off_canvas = _batch(batch_paths, side, search, rgb.size)
        support.update(off_canvas)
        if batch is not None:
            ready.append(batch)
    if ready:
        _read_corners(rgb, ready)
    for batch in ready:
        support.update(_supports(batch))
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
