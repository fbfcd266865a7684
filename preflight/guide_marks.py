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
from numba import njit
from PIL import Image

from preflight.geometry import ResolvedPlacement, mm_to_px
from preflight.resample import to_pixels
from preflight.templates import Template
from preflight.zones import cutout_box, cutout_radius_px

__all__ = ["GuideEvidence", "guide_evidence", "prepare_guide_marks"]

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


# The canvas is read this many bytes at a time (two megabytes): a whole tablet canvas copied
# out at once is a large allocation that the system takes back after each job and maps
# afresh for the next (those page faults cost more than the sampling itself).
_BAND_BYTES = 2 << 20

# Compiled (Numba, outside the GIL): the sampling and the line test are a few operations on
# each of ~250 000 samples a job. As NumPy calls on gathered copies they held the GIL between
# calls, and the whole search took 9.4 ms of a phone job (15.3 of a tablet job); compiled, it
# takes 6.9 (8.9), of which the line test is 3. The arithmetic is the same, step by step, so
# every decision is the same (checked on 36 canvases against the NumPy version).


@njit(nogil=True, cache=True, inline="always")
def _mix(
    top_left: int, top_right: int, bottom_left: int, bottom_right: int, y: float, x: float
) -> np.float32:  # pragma: no cover (compiled)
    """One channel at ``(y, x)`` between the four pixels round it, bilinear (scaled-down
    guides have lines under two pixels wide), as ``scipy.ndimage.map_coordinates(order=1)``
    computes it: corner by corner, value × row weight × column weight, in float64, stored as
    float32. The figures were calibrated with it, so the values must be its very values."""
    below = y - math.floor(y)
    right = x - math.floor(x)
    above, left = 1.0 - below, 1.0 - right
    total = top_left * above * left
    total += top_right * above * right
    total += bottom_left * below * left
    total += bottom_right * below * right
    return np.float32(total)


@njit(nogil=True, cache=True)
def _bilinear_samples(
    pixels: np.ndarray, ys: np.ndarray, xs: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover (compiled; compared with scipy in tests/test_guide.py)
    """``out[channel, i]``: :func:`_mix` of ``pixels`` (rows, cols, 4; uint8) at
    ``(ys[i], xs[i])``, for the first three channels (edges clamped)."""
    rows, cols = pixels.shape[0], pixels.shape[1]
    for i in range(ys.shape[0]):
        row0, col0 = math.floor(ys[i]), math.floor(xs[i])
        r0, r1 = min(max(row0, 0), rows - 1), min(max(row0 + 1, 0), rows - 1)
        c0, c1 = min(max(col0, 0), cols - 1), min(max(col0 + 1, 0), cols - 1)
        for channel in range(3):
            out[channel, i] = _mix(
                pixels[r0, c0, channel], pixels[r0, c1, channel],
                pixels[r1, c0, channel], pixels[r1, c1, channel], ys[i], xs[i],
            )  # fmt: skip


def _bilinear(pixels: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The three channels of ``pixels`` (rows, cols, 4; uint8, RGB padded to four bytes) at
    ``(ys, xs)``, with the line test's arithmetic (:func:`_mix`): float32, (3, *ys.shape).
    ``tests/test_guide.py`` holds it to scipy's values through this."""
    out = np.empty((3, ys.size), np.float32)
    _bilinear_samples(pixels, ys.reshape(-1), xs.reshape(-1), out)
    return out.reshape(3, *ys.shape)


@njit(nogil=True, cache=True)
def _test_lines(
    pixels: np.ndarray,
    first_row: int,
    points: np.ndarray,
    start: int,
    stop: int,
    side: int,
    search: int,
    contrast: float,
    found: np.ndarray,
    colour: np.ndarray,
) -> None:  # pragma: no cover (compiled)
    """For points ``start``–``stop`` (x, y, nx, ny): does a thin line run along the point
    (``found``), and its colour at the first offset where it shows (``colour``, float32 RGB)?
    ``pixels`` is the band of canvas rows from ``first_row`` (rows, cols, 4; uint8) that holds
    every sample of these points.

    The samples lie ``d`` px along the normal, ``d`` from ``-(side + search)`` to
    ``side + search``. A line at offset ``o`` (|o| ≤ ``search``) differs from both its sides
    (``o ± side``), in one direction, by more than ``contrast`` in some channel. An
    interpolated value lies between the pixels it mixes (in float32 too), so where the pixels
    round a point's samples span no more than ``contrast`` in every channel, no line can show
    there and the samples are not interpolated (two points in three on a photo). Indices past
    the band's ends are clamped (callers keep a margin).
    """
    rows, cols = pixels.shape[0], pixels.shape[1]
    reach = side + search
    samples = 2 * reach + 1
    # Per sample: its position, and its four pixels' rows and columns.
    sample_y = np.empty(samples, np.float64)
    sample_x = np.empty(samples, np.float64)
    near = np.empty((samples, 4), np.int64)  # top row, bottom row, left column, right column
    profile = np.empty((3, samples), np.float32)
    for point in range(start, stop):
        found[point] = False
        x, y, nx, ny = points[point, 0], points[point, 1], points[point, 2], points[point, 3]
        flat = True
        for step in range(samples):
            distance = float(step - reach)
            sample_y[step], sample_x[step] = y + distance * ny, x + distance * nx
            row0 = math.floor(sample_y[step]) - first_row
            col0 = math.floor(sample_x[step])
            top, bottom = min(max(row0, 0), rows - 1), min(max(row0 + 1, 0), rows - 1)
            left, right = min(max(col0, 0), cols - 1), min(max(col0 + 1, 0), cols - 1)
            near[step, 0], near[step, 1], near[step, 2], near[step, 3] = top, bottom, left, right
        for channel in range(3):
            low = high = int(pixels[near[0, 0], near[0, 2], channel])
            for step in range(samples):
                top, bottom = near[step, 0], near[step, 1]
                left, right = near[step, 2], near[step, 3]
                a, b = int(pixels[top, left, channel]), int(pixels[top, right, channel])
                c, d = int(pixels[bottom, left, channel]), int(pixels[bottom, right, channel])
                low = min(low, min(min(a, b), min(c, d)))
                high = max(high, max(max(a, b), max(c, d)))
            if high - low > contrast:
                flat = False
                break
        if flat:
            continue
        for step in range(samples):
            top, bottom, left, right = near[step, 0], near[step, 1], near[step, 2], near[step, 3]
            for channel in range(3):
                profile[channel, step] = _mix(
                    pixels[top, left, channel], pixels[top, right, channel],
                    pixels[bottom, left, channel], pixels[bottom, right, channel],
                    sample_y[step], sample_x[step],
                )  # fmt: skip
        for offset in range(2 * search + 1):
            shows = False
            for channel in range(3):
                centre = profile[channel, side + offset]
                before = centre - profile[channel, offset]
                after = centre - profile[channel, 2 * side + offset]
                if (before > contrast and after > contrast) or (
                    before < -contrast and after < -contrast
                ):
                    shows = True
            if shows:
                found[point] = True
                for channel in range(3):
                    colour[point, channel] = profile[channel, side + offset]
                break


def prepare_guide_marks() -> None:
    """Load the compiled sampling now (compiled on a machine's first run), so that a
    worker's first job does not wait for it."""
    pixels = np.zeros((2, 2, 4), np.uint8)
    found, colour = np.zeros(1, np.bool_), np.zeros((1, 3), np.float32)
    _test_lines(pixels, 0, np.ones((1, 4)), 0, 1, 0, 0, _LINE_CONTRAST, found, colour)
    _bilinear(pixels, np.zeros(1), np.zeros(1))


def _line_widths(scale: float) -> tuple[int, int]:
    """How far a line's sides are tested from its centre, and how far off its expected place
    the line may sit, in our canvas px. ``scale`` is how much the guide was enlarged onto our
    canvas: its lines widen, so the sides move out."""
    return round(_SIDE_OFFSET_PX * max(1.0, scale)), round(_SEARCH_PX * max(1.0, scale))


@dataclass
class _Batch:
    """The paths sampled together (their lines have the same widths): their points on the
    canvas, sorted by row so that the canvas can be read a band of rows at a time, and the
    line test's results for every point (in that order), filled in band by band."""

    side: int
    search: int
    kept: list[tuple[str, int]]  # path name and number of points, in the order joined
    order: np.ndarray  # sorted position → position among the joined points
    points: np.ndarray  # (x, y, nx, ny), sorted by y
    found: np.ndarray  # bool: a thin line runs along the point
    colour: np.ndarray  # float32 RGB of that line, where found

    @property
    def reach(self) -> int:
        return self.side + self.search


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
        found=np.zeros(len(joined), dtype=np.bool_),
        colour=np.zeros((len(joined), 3), dtype=np.float32),
    )
    return batch, off_canvas


def _test_batches(rgb: Image.Image, batches: list[_Batch]) -> None:
    """Run every batch's line test, reading the canvas once, a band of rows at a time.

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
        pixels = to_pixels(rgb.crop((0, y0, width, y1)))
        for b, (start, stop) in zip(batches, spans, strict=True):
            if start < stop:
                _test_lines(
                    pixels, y0, b.points, int(start), int(stop), b.side, b.search,
                    _LINE_CONTRAST, b.found, b.colour,
                )  # fmt: skip


def _supports(batch: _Batch) -> dict[str, float | None]:
    """For each path of the batch, the share of its points where a thin one-colour line runs
    along it (from the batch's line test)."""
    # Back in the order the paths were joined.
    found = np.zeros(len(batch.order), dtype=bool)
    found[batch.order] = batch.found
    line_colour = np.zeros((len(batch.order), 3), dtype=np.float32)
    line_colour[batch.order] = batch.colour
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
        _test_batches(rgb, ready)
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
