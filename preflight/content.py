"""What on the artwork is *important*: faces, lines of text and distinct objects.

Checks that ask "is something important under the camera / at the cut?" share one analysis
of the flattened canvas, made once per job. Each detector works on a downscaled copy at a
physical resolution (pixels per mm of the print), so its size limits are in mm whatever the
canvas; results are boxes in canvas pixels (see :mod:`preflight.geometry`).

* **Faces**: scikit-image's LBP frontal-face cascade, on a copy of about 40 000 px (at least
  1.4 px/mm); faces found only in a turned copy (0.9 px/mm, confirmed at 1.35 px/mm) mean
  the artwork is rotated. The cascade is evaluated here by a compiled loop
  (:class:`_LbpCascade`): the same windows, arithmetic and grouping as skimage's
  ``Cascade.detect_multi_scale``, so the same detections, at a fraction of the cost. The upright
  search's copy is widened 10 mm past the canvas edge (edge pixels repeated), so that a face cut
  by the edge, a head at the top of a case, is still found.
* **Text**: stroke-like marks (morphological top-hat at ≤ 2.3 mm stroke width, ≥ 25% contrast)
  whose connected components have letter sizes (1.2–15 mm tall) and line up in an evenly
  spaced row of at least four with similar heights, standing out from their surroundings
  (stroke strength ≥ 1.25 × the surroundings' 90th percentile) and either clear of marks just
  above and below, or six marks long (text on a busy photo is not isolated; chance rows in
  grass and gravel are short).
* **Distinct objects** (logos, products, a person against a backdrop): centre–surround contrast
  in CIELAB (1.5 mm centre, 8 mm surround, that one blurred by FFT); a compact region far from
  its surroundings (ΔE 22, with a core of ΔE 35) whose colour is rare in the rest of the
  image. Sky, foliage and repeating patterns (cells, craters, star fields) average out or
  repeat, and the glow of a light in the scene fades from a clipped centre: none of them
  count.
* **Graphic marks** (a one-colour star, a badge): flat fills too thin for that blur, of a rare
  colour, with a crisp edge, not running off the canvas and not one of a print of alike marks;
  reported as distinct objects.

A full-bleed photo is "detailed everywhere"; these detectors look for *things*, not detail.
"""

from __future__ import annotations

import bisect
import itertools
import math
import statistics
import threading
from dataclasses import dataclass
from typing import Literal
from xml.etree import ElementTree

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.transform import integral_image

from preflight.geometry import MM_PER_INCH, Box
from preflight.resample import BOX, resize

__all__ = ["ContentAnalysis", "ContentObject", "analyse_content", "prepare_detectors"]

ObjectKind = Literal["face", "text", "object"]

_FACE_PIXEL_BUDGET = 40_000
_FACE_MIN_PX = 16  # the cascade's window: faces smaller than this are not searched
_FACE_MIN_PX_PER_MM = 1.4  # so faces from ~11 mm up are searched on every device
_FACE_MIN_CONTRAST = 12.0  # grey-level standard deviation inside a face box
# The cascade's window grows by this factor from one search scale to the next. A face whose
# size falls between two scales is often missed. On scikit-image's 100 faces (LFW) at
# 16/22/30 mm on an iPhone canvas, a step of 1.25 found 81/83/86, 1.2 finds 89/90/92 and 1.1
# 94/95/96; on an iPad canvas at 20/25/32 mm, 79/86/84, 86/89/90 and 94/96/93. (1.15, between
# them, missed a target face of the evaluation and took an upside-down one for upright.) At
# 1.1 the upright search costs twice as much as at 1.25 (+15 ms on an iPad canvas). Upright
# faces only: on turned copies a finer step found faces in the clock photo's gears
# (orientation-mismatch on 10 of 10 placements), so they keep 1.25.
_FACE_SCALE_STEP = 1.1
_ORIENTATION_SCALE_STEP = 1.25
# The cascade needs the whole face in its window: a face cut by the canvas edge (a head at the
# top of a case, under the camera) is searched in a copy widened by repeating the edge pixels.
_FACE_EDGE_PAD_MM = 10.0
_ORIENTATION_PX_PER_MM = 0.9  # rotated copies look for faces of ~18 mm and more
_TEXT_PX_PER_MM = 3.0
_TEXT_MAX_STROKE_MM = 2.3
_TEXT_MIN_CONTRAST = 0.25
_TEXT_HEIGHT_MM = (1.2, 15.0)
# Three evenly spaced marks happen by chance in grass and gravel; four rarely do. The price:
# three-letter words ("Mom") alone are not recognised as text.
_TEXT_MIN_MARKS = 4
_TEXT_MARKS_WITHOUT_ISOLATION = 6
_SALIENCY_PX_PER_MM = 1.5
_SALIENCY_CENTRE_MM = 1.5
_SALIENCY_SURROUND_MM = 8.0
_SALIENCY_MIN_DELTA = 22.0  # CIELAB distance between an object and its surroundings
_OBJECT_MIN_AREA_MM2 = 12.0
# A blob is drawn where the contrast exceeds _SALIENCY_MIN_DELTA, but counts only if its core
# reaches this (hysteresis): a faint patch of a picture (a crossing of vessels on a retina,
# the corner of a launch pad, a crater's shadow, the rim of a cat's eye: cores of ΔE 25-33)
# is not a subject. Measured on the evaluation (2026-12-04): at 31, 3 of 100 photo placements
# got a wrong warning and 3 of 64 planted marks were missed; at 35, 1 and 4; at 40, 0 and 9
# (flat badges on tissue, sky and pastel have cores of ΔE 35-40).
_OBJECT_MIN_CORE_DELTA = 35.0
_OBJECT_MAX_SHARE = 0.25  # larger "objects" are backgrounds
# Six or more blobs of about one size (areas within 2x of each other) are a field of things
# (galaxies in a star field, lamps along a street), none of them the one important object.
_OBJECT_FIELD_MIN = 6
_OBJECT_FIELD_SIZE_RATIO = 2.0
# A light in the picture (a floodlight's glare, a lamp, the sun) glows from a clipped centre
# and fades with distance, with hardly a flat patch; a designed mark has flat fills, even a
# white one. Measured on the 3 px/mm copy: glare blobs in scikit-image's rocket photo peak at
# L* 99.7-100, their lightness falls with distance (correlation -0.43 to -0.71) and 2-10% of
# them is flat (a whiter one, 20-24% flat, stays an object); the evaluation's planted logos
# correlate -0.13 to +0.05 and are 31-57% flat.
_LIGHT_MIN_PEAK_L = 97.0
_LIGHT_MAX_FALLOFF_CORRELATION = -0.35
_LIGHT_MAX_FLAT_SHARE = 0.2
_FLAT_RANGE_L = 2.0  # L* range in a 3x3 neighbourhood below which a pixel is "flat"
# Graphic marks. A designed mark (a one-colour star, a badge, a logo's fill) 10 mm across can be
# too thin to survive the object search's 1.5 mm blur, yet its fill is flat, which a
# photograph's subjects seldom are. A flat region counts as a mark if it covers at least
# _MARK_MIN_FLAT_MM2, at most _MARK_MAX_SHARE of the canvas, does not run off the canvas (a
# retina's black corners, a sky: background), differs from the ring around it by
# _MARK_MIN_EDGE_DELTA (a crisp edge, not a soft highlight) and has a rare colour. Searched in
# the object search's 1.5 px/mm copy, where 10 mm stars keep a flat core; the 3 px/mm copy
# also finds 8 mm ones, but cost 16 ms more per iPad canvas (4 ms here).
_MARK_FLAT_STEP = 3  # 8-bit levels a flat pixel may differ from each of its four neighbours
_MARK_MIN_FLAT_MM2 = 4.0
_MARK_MAX_SHARE = 0.02
_MARK_MIN_EDGE_DELTA = 20.0  # CIELAB distance between the fill and the ring around it
_MARK_RING_MM = 1.0
_RARE_COLOUR_DELTA = 12.0  # CIELAB distance within which another pixel "has the same colour"
_RARE_COLOUR_MAX_SHARE = 0.05  # ...and at most this share of the rest may have it


@dataclass(frozen=True)
class ContentObject:
    kind: ObjectKind
    box: Box  # canvas px
    score: float  # detector-specific strength, for reports and tests

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "box_px": self.box.to_px_list(), "score": round(self.score, 2)}


@dataclass(frozen=True)
class ContentAnalysis:
    objects: tuple[ContentObject, ...]
    upright_faces: int
    # Clockwise quarter turn (90/180/270) that makes faces upright → how many were found so.
    rotated_faces: dict[int, int]

    def to_dict(self) -> dict[str, object]:
        return {
            "objects": [o.to_dict() for o in self.objects],
            "upright_faces": self.upright_faces,
            "faces_when_turned": {str(turn): n for turn, n in self.rotated_faces.items()},
        }


# --- faces: the LBP cascade, compiled -------------------------------------------------------


class _LbpCascade:
    """scikit-image's LBP frontal-face cascade (the OpenCV model it ships), evaluated by a
    compiled loop (:func:`preflight.cascade_kernel.cascade_hits`).

    ``skimage.feature.Cascade.detect_multi_scale`` classifies one window after another, about
    0.35 µs each; on a tablet canvas that was most of the analysis. This evaluates the same
    windows of the same model with the same float32 arithmetic and groups the hits the same
    way, so it finds exactly what skimage finds (``tests/test_content_checks.py`` compares
    them), several times faster and without holding Python's GIL.
    """

    def __init__(self, path: str, eps: float = 1e-5) -> None:
        root = ElementTree.parse(path).getroot()
        self.height = int(_xml_text(root, ".//height"))
        self.width = int(_xml_text(root, ".//width"))
        rects = []
        for feature in _xml_find(root, ".//features"):
            x, y, w, h = (int(v) for v in _xml_text(feature, "rect").split())
            rects.append((y, x, w, h))
        self.rects = np.array(rects, dtype=np.float32)  # (features, 4): row, col, width, height
        codes = np.arange(256)
        # The stages laid end to end for the compiled loop: each stump's feature index and
        # what it adds for each LBP code, where each stage's stumps stop, and its threshold
        # less the cascade's eps (as skimage compares).
        features: list[int] = []
        values: list[np.ndarray] = []
        stops: list[int] = []
        thresholds: list[np.float32] = []
        for stage in list(_xml_find(root, ".//stages"))[: int(_xml_text(root, ".//stageNum"))]:
            stumps = list(_xml_find(stage, "weakClassifiers"))
            stumps = stumps[: int(_xml_text(stage, "maxWeakCount"))]
            for stump in stumps:
                left, right = (float(v) for v in _xml_text(stump, "leafValues").split())
                nodes = _xml_text(stump, "internalNodes").split()[2:]
                features.append(int(nodes[0]))
                lut = np.array([int(v) & 0xFFFFFFFF for v in nodes[1:]], dtype=np.int64)
                bits = (lut[codes >> 5] >> (codes & 31)) & 1
                values.append(np.where(bits == 1, np.float32(left), np.float32(right)))
            stops.append(len(features))
            thresholds.append(
                np.float32(float(_xml_text(stage, "stageThreshold"))) - np.float32(eps)
            )
        self._stage_stops = np.array(stops, np.int64)
        self._thresholds = np.array(thresholds, np.float32)
        self._features = np.array(features, np.int64)
        self._values = np.array(values, np.float32)  # (stumps, 256), C-contiguous

    def _scales(
        self, min_size: tuple[int, int], max_size: tuple[int, int], step: float
    ) -> np.ndarray:
        # As Cascade._get_valid_scale_factors: logs in float64, powers in float32.
        window = np.array((self.height, self.width))
        low, high = np.array(min_size, np.float32), np.array(max_size, np.float32)
        most = min(math.log(high[0] / window[0], step), math.log(high[1] / window[1], step))
        least = max(math.log(low[0] / window[0], step), math.log(low[1] / window[1], step), 0)
        scales: np.ndarray = np.power(step, np.arange(least, most), dtype=np.float32)
        return scales

    def detect(
        self,
        pixels: np.ndarray,
        scale_factor: float,
        min_size: tuple[int, int],
        max_size: tuple[int, int],
        min_neighbours: int = 4,
        overlap: float = 0.5,
    ) -> list[tuple[int, int, int, int]]:
        """Grouped detections ``(row, col, width, height)``, as ``detect_multi_scale`` with
        ``step_ratio=1`` (``min_neighbor_number``, ``intersection_score_threshold``)."""
        from preflight.cascade_kernel import cascade_hits

        height, width = pixels.shape
        # A zero row and column before skimage's float32 integral image: its edge cases
        # (terms it skips) become additions of 0, which are exact.
        table = np.zeros((height + 1, width + 1), np.float32)
        table[1:, 1:] = integral_image(pixels)
        scales = self._scales(min_size, max_size, float(np.float32(scale_factor)))
        # Feature rectangles at each scale, truncated as C casts the float32 products.
        geometry = np.array(
            [(self.rects * scale).astype(np.int64) for scale in scales], np.int64
        ).reshape(scales.size, *self.rects.shape)
        steps = np.array([int(float(s) + 0.5) for s in scales], np.int64)  # scale × step_ratio
        # skimage's loops stop before the last position (``row < max_row``).
        row_stops = np.array([height - int(np.float32(self.height) * s) for s in scales])
        col_stops = np.array([width - int(np.float32(self.width) * s) for s in scales])
        found = cascade_hits(
            table, geometry, row_stops.astype(np.int64), col_stops.astype(np.int64), steps,
            self._stage_stops, self._thresholds, self._features, self._values,
        )  # fmt: skip
        sizes = [
            (int(np.float32(self.width) * scale), int(np.float32(self.height) * scale))
            for scale in scales
        ]
        hits = [(r, c, *sizes[s]) for s, r, c in found.tolist()]
        return _group_detections(hits, overlap, min_neighbours)


def _group_detections(
    found: list[tuple[int, int, int, int]], threshold: float = 0.5, min_neighbours: int = 4
) -> list[tuple[int, int, int, int]]:
    """skimage's grouping: each hit joins the cluster whose (integer) mean it overlaps most
    (intersection over the smaller area, in float32, first best on ties), if more than
    ``threshold``; clusters of at least ``min_neighbours`` hits give their mean."""
    sums = np.zeros((len(found), 4), np.int64)  # row, col, width, height
    counts = np.zeros(len(found), np.int64)
    n = 0
    for hit in found:
        if n:
            mean = sums[:n] // counts[:n, None]
            r, c, w, h = hit
            across = np.minimum(c + w, mean[:, 1] + mean[:, 2]) - np.maximum(c, mean[:, 1])
            down = np.minimum(r + h, mean[:, 0] + mean[:, 3]) - np.maximum(r, mean[:, 0])
            inter = (np.maximum(across, 0) * np.maximum(down, 0)).astype(np.float32)
            smaller = np.minimum(w * h, mean[:, 2] * mean[:, 3]).astype(np.float32)
            score = inter / smaller
            best = int(np.argmax(score))
            if score[best] > np.float32(threshold):
                sums[best] += hit
                counts[best] += 1
                continue
        sums[n], counts[n] = hit, 1
        n += 1
    return [
        (int(r), int(c), int(w), int(h))
        for (r, c, w, h) in (sums[i] // counts[i] for i in range(n) if counts[i] >= min_neighbours)
    ]


def _xml_find(node: ElementTree.Element, path: str) -> ElementTree.Element:
    found = node.find(path)
    if found is None:
        raise ValueError(f"the face cascade has no {path!r}")
    return found


def _xml_text(node: ElementTree.Element, path: str) -> str:
    return _xml_find(node, path).text or ""


_CASCADE_LOCK = threading.Lock()
_CASCADE: _LbpCascade | None = None


def _cascade() -> _LbpCascade:
    global _CASCADE
    with _CASCADE_LOCK:
        if _CASCADE is None:
            from skimage.data import lbp_frontal_face_cascade_filename

            _CASCADE = _LbpCascade(lbp_frontal_face_cascade_filename())
        return _CASCADE


def prepare_detectors() -> None:
    """Load the face model and the compiled cascade loop now, so that a worker's first job
    does not wait for them: compiling the loop takes ~8 s on a machine's first run, loading
    it from the on-disk cache ~0.5 s. Worker processes call it at start (a Celery pool's
    children inherit it)."""
    _cascade().detect(np.zeros((24, 24)), 1.25, (16, 16), (24, 24))


def _resized(image: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return resize(image, size, BOX, reducing_gap=2.0)  # Pillow's bytes, compiled passes


def _budget_factor(image: Image.Image, budget: int) -> float:
    return min(1.0, math.sqrt(budget / (image.width * image.height)))


def _faces(grey: Image.Image, budget: int, step: float) -> list[tuple[Box, float]]:
    factor = _budget_factor(grey, budget)
    small = _resized(grey, factor)
    pixels = np.asarray(small, dtype=np.float64) / 255.0
    side = min(small.size)
    if side < _FACE_MIN_PX:
        return []
    found = _cascade().detect(pixels, step, (_FACE_MIN_PX, _FACE_MIN_PX), (side, side))
    return [
        (Box(c / factor, r / factor, w / factor, h / factor), float(w) / factor)
        for r, c, w, h in found
    ]


_QUARTER_TURNS = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}


def _rotated_face_counts(grey: Image.Image, dpi: float) -> dict[int, int]:
    """Faces found only after a quarter turn, each confirmed at a second resolution.

    Textures (craters, clouds) fool the cascade now and then; they rarely fool it at two
    scales in the same place. ROTATE_90 turns counter-clockwise, so a face found there needs
    the artwork turned 270° clockwise: the keys are the clockwise turn that fixes it.
    """
    counts = {}
    for ccw, transpose in _QUARTER_TURNS.items():
        turned = grey.transpose(transpose)  # the analysis copy is small: turning it is cheap
        step = _ORIENTATION_SCALE_STEP
        coarse = _faces_at(turned, dpi, _ORIENTATION_PX_PER_MM, step)
        confirmed = len(_confirm(turned, dpi, coarse, _ORIENTATION_PX_PER_MM * 1.5, step))
        counts[(360 - ccw) % 360] = confirmed
    return counts


def _confirmed_faces(grey: Image.Image, dpi: float, pad: int = 0) -> list[tuple[Box, float]]:
    """Upright faces, each also found at 1.5× the resolution (textures fool one scale).
    ``pad``: how far ``grey`` is widened past the canvas on each side, px; the resolution of
    the search follows the canvas's area, as if it were not."""
    area_mm2 = (grey.width - 2 * pad) * (grey.height - 2 * pad) * (MM_PER_INCH / dpi) ** 2
    px_per_mm = max(_FACE_MIN_PX_PER_MM, math.sqrt(_FACE_PIXEL_BUDGET / area_mm2))
    step = _FACE_SCALE_STEP
    return _confirm(grey, dpi, _faces_at(grey, dpi, px_per_mm, step), px_per_mm * 1.5, step)


def _confirm(
    grey: Image.Image,
    dpi: float,
    found: list[tuple[Box, float]],
    px_per_mm: float,
    step: float,
) -> list[tuple[Box, float]]:
    """Keep the detections that the cascade finds again at ``px_per_mm``, searching only a
    window around each one (a second full pass would double the cost)."""
    confirmed = []
    for box, score in found:
        margin = box.width * 0.6
        x0, y0 = max(0, int(box.x - margin)), max(0, int(box.y - margin))
        x1 = min(grey.width, int(box.right + margin))
        y1 = min(grey.height, int(box.bottom + margin))
        window = grey.crop((x0, y0, x1, y1))
        again = _faces_at(window, dpi, px_per_mm, step)
        shifted = [Box(b.x + x0, b.y + y0, b.width, b.height) for b, _ in again]
        if any(_overlap(box, b) > 0.3 for b in shifted) and _has_facial_contrast(grey, box):
            confirmed.append((box, score))
    return confirmed


def _has_facial_contrast(grey: Image.Image, box: Box) -> bool:
    """Eyes, mouth and hairline make a face contrasty; the cascade's false hits on crater
    fields and clouds are flat (grey-level deviation 5–7 against 33–50 for real faces)."""
    crop = grey.crop((int(box.x), int(box.y), int(box.right), int(box.bottom)))
    return float(np.asarray(crop, dtype=np.float32).std()) >= _FACE_MIN_CONTRAST


def _faces_at(
    grey: Image.Image, dpi: float, px_per_mm: float, step: float
) -> list[tuple[Box, float]]:
    budget = round(grey.width * grey.height * (px_per_mm * MM_PER_INCH / dpi) ** 2)
    return _faces(grey, max(budget, 1), step)


def _overlap(a: Box, b: Box) -> float:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.right, b.right), min(a.bottom, b.bottom)
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def _text_lines(grey: Image.Image, dpi: float) -> list[tuple[Box, float]]:
    factor = _TEXT_PX_PER_MM * MM_PER_INCH / dpi
    small = _resized(grey, min(1.0, factor))
    factor = small.width / grey.width
    px_per_mm = factor * dpi / MM_PER_INCH
    values = np.asarray(small)
    pixels = values.astype(np.float32) / 255.0
    size = max(3, round(_TEXT_MAX_STROKE_MM * px_per_mm) | 1)
    # Opening and closing on the 8-bit values: minima and maxima pick values, so they commute
    # with the scaling to 0–1 (the same floats as opening ``pixels``).
    opened = _square_filter(_square_filter(values, size, np.minimum), size, np.maximum)
    closed = _square_filter(_square_filter(values, size, np.maximum), size, np.minimum)
    lines: list[tuple[Box, float]] = []
    for strokes in (
        pixels - opened.astype(np.float32) / 255.0,  # light marks on dark
        closed.astype(np.float32) / 255.0 - pixels,  # dark marks on light
    ):
        mask = strokes > _TEXT_MIN_CONTRAST
        labels, count = ndimage.label(mask)
        if count == 0:
            continue
        top, left, height, width, area = _component_boxes(labels)
        min_h, max_h = (h * px_per_mm for h in _TEXT_HEIGHT_MM)
        fill = area / (height * width)
        letter = (min_h <= height) & (height <= max_h) & (0.1 * height <= width)
        letter &= (width <= 1.6 * height) & (fill >= 0.12) & (fill <= 0.9)
        candidates = list(
            zip(
                left[letter].tolist(),
                top[letter].tolist(),
                width[letter].tolist(),
                height[letter].tolist(),
                strict=True,
            )
        )
        for x, y, w, h, n in _group_into_lines(candidates):
            # Text on a busy texture is not isolated; a long even run that stands out still is.
            isolated = _isolated(mask, x, y, w, h) or n >= _TEXT_MARKS_WITHOUT_ISOLATION
            if isolated and _stands_out(strokes, mask, x, y, w, h):
                lines.append((Box(x / factor, y / factor, w / factor, h / factor), float(n)))
    return _merge_overlapping(lines)


def _component_boxes(labels: np.ndarray) -> tuple[np.ndarray, ...]:
    """Top, left, height, width and area of each labelled component (as ``find_objects``
    and counting give them), from the marked pixels grouped by label: a busy texture has
    ten thousand specks, too many to take one at a time."""
    flat = labels.ravel()
    where = np.flatnonzero(flat)
    ids = flat[where]
    # Stable sorts of 16-bit keys are radix sorts.
    key = ids.astype(np.uint16) if ids.max() < 2**16 else ids
    order = np.argsort(key, kind="stable")
    ids, where = ids[order], where[order]
    rows, cols = np.divmod(where, labels.shape[1])
    starts = np.flatnonzero(np.diff(ids, prepend=-1))
    top, left = np.minimum.reduceat(rows, starts), np.minimum.reduceat(cols, starts)
    height = np.maximum.reduceat(rows, starts) + 1 - top
    width = np.maximum.reduceat(cols, starts) + 1 - left
    area = np.diff(starts, append=ids.size)
    return top, left, height, width, area


def _square_filter(values: np.ndarray, size: int, pick: np.ufunc) -> np.ndarray:
    """Minimum or maximum over an odd ``size`` × ``size`` square, edges mirrored: exactly
    scipy.ndimage's grey erosion or dilation (default mode), in a few whole-array operations
    per axis (runs of 1, 2, 4… then one overlapping pair) instead of one pass per pixel."""
    half = size // 2
    out = values
    for axis in (0, 1):
        pad = [(half, half) if a == axis else (0, 0) for a in range(values.ndim)]
        run = np.moveaxis(np.pad(out, pad, mode="symmetric"), axis, 0)
        width = 1
        while 2 * width <= size:
            run = pick(run[:-width], run[width:])
            width *= 2
        n = out.shape[axis]
        out = np.moveaxis(pick(run[:n], run[size - width : size - width + n]), 0, axis)
    return out


def _isolated(mask: np.ndarray, x: int, y: int, w: int, h: int) -> bool:
    """Text stands out from what is just above and below it; a texture does not.

    Compares stroke density in the line with bands of half its height above and below it (the
    space between lines of text is empty; grass and gravel are strokes everywhere).
    """
    band = max(2, h // 2)
    inside = float(mask[y : y + h, x : x + w].mean())
    above = mask[max(0, y - band) : y, x : x + w]
    below = mask[y + h : y + h + band, x : x + w]
    around = np.concatenate([above.ravel(), below.ravel()])
    density_around = float(around.mean()) if around.size else 0.0
    return inside >= 0.12 and density_around <= 0.35 * inside


def _stands_out(strokes: np.ndarray, mask: np.ndarray, x: int, y: int, w: int, h: int) -> bool:
    """The letters' stroke strength clearly exceeds what the surrounding texture reaches.

    A texture's strongest blobs can line up by chance; real lettering is drawn to be read and
    contrasts with its background more than the background's own detail does.
    """
    letters = strokes[y : y + h, x : x + w][mask[y : y + h, x : x + w]]
    if letters.size == 0:
        return False
    y0, y1 = max(0, y - 2 * h), min(strokes.shape[0], y + 3 * h)
    x0, x1 = max(0, x - h), min(strokes.shape[1], x + w + h)
    ring = strokes[y0:y1, x0:x1].copy()
    ring[y - y0 : y - y0 + h, x - x0 : x - x0 + w] = np.nan
    surrounding = ring[~np.isnan(ring)]
    if surrounding.size == 0:
        return True
    return float(np.median(letters)) >= 1.25 * float(np.percentile(surrounding, 90)) + 0.02


def _merge_overlapping(found: list[tuple[Box, float]]) -> list[tuple[Box, float]]:
    merged: list[tuple[Box, float]] = []
    for box, score in sorted(found, key=lambda item: -item[1]):
        for i, (other, other_score) in enumerate(merged):
            if (
                box.x < other.right
                and other.x < box.right
                and box.y < other.bottom
                and other.y < box.bottom
            ):
                x0, y0 = min(box.x, other.x), min(box.y, other.y)
                x1, y1 = max(box.right, other.right), max(box.bottom, other.bottom)
                merged[i] = (Box(x0, y0, x1 - x0, y1 - y0), max(score, other_score))
                break
        else:
            merged.append((box, score))
    return merged


def _group_into_lines(
    letters: list[tuple[int, int, int, int]],
) -> list[tuple[int, int, int, int, int]]:
    """Chain letter boxes left to right (similar height, shared centre line, small gaps) and
    keep the runs that read as lettering. A mark is used up only by an accepted line, so a
    texture blob that starts a chain cannot swallow the letters next to it. Candidates for a
    chain are looked up by centre line (bisect), so a busy texture stays near-linear."""
    letters = sorted(letters)
    centres = [y + h / 2 for _, y, _, h in letters]
    by_centre = sorted(range(len(letters)), key=lambda k: centres[k])
    sorted_centres = [centres[k] for k in by_centre]
    taken: set[int] = set()
    lines = []
    for i, (x, _, w, h) in enumerate(letters):
        if i in taken:
            continue
        lo = bisect.bisect_left(sorted_centres, centres[i] - 0.35 * h)
        hi = bisect.bisect_right(sorted_centres, centres[i] + 0.35 * h)
        row = sorted(k for k in by_centre[lo:hi] if k > i and k not in taken)
        chain = [i]
        right, heights, height = x + w, [h], float(h)  # height: the chain's median
        for j in row:
            xj, _, wj, hj = letters[j]
            if xj - right > 3 * height:
                break
            if xj - right <= 1.0 * height and 0.6 < hj / height < 1.6:
                chain.append(j)
                heights.append(hj)
                height = float(statistics.median(heights))
                right = max(right, xj + wj)
        for run in _regular_runs([letters[k] for k in chain]):
            lines.append(run)
            taken.update(k for k in chain if _inside(letters[k], run))
    return lines


def _inside(letter: tuple[int, int, int, int], run: tuple[int, int, int, int, int]) -> bool:
    return run[0] <= letter[0] and letter[0] + letter[2] <= run[0] + run[2]


def _regular_runs(
    chain: list[tuple[int, int, int, int]],
) -> list[tuple[int, int, int, int, int]]:
    """Split a chain where the spacing breaks (a texture blob joined a word) and keep the
    runs that look like lettering: three or more marks of similar height, evenly spaced."""
    if len(chain) < _TEXT_MIN_MARKS:
        return []
    gaps = [b[0] - (a[0] + a[2]) for a, b in itertools.pairwise(chain)]
    height = float(statistics.median([c[3] for c in chain]))
    limit = max(0.6 * height, 2.0 * float(statistics.median(gaps)))
    runs: list[list[tuple[int, int, int, int]]] = [[chain[0]]]
    for gap, letter in zip(gaps, chain[1:], strict=True):
        if gap > limit:
            runs.append([])
        runs[-1].append(letter)
    found = []
    for run in runs:
        if len(run) < _TEXT_MIN_MARKS:
            continue
        heights = np.array([c[3] for c in run], dtype=np.float64)
        run_gaps = np.array(
            [b[0] - (a[0] + a[2]) for a, b in itertools.pairwise(run)], dtype=np.float64
        )
        if heights.std() / heights.mean() < 0.3 and run_gaps.std() <= 0.5 * heights.mean():
            x0 = min(c[0] for c in run)
            y0 = min(c[1] for c in run)
            x1 = max(c[0] + c[2] for c in run)
            y1 = max(c[1] + c[3] for c in run)
            found.append((x0, y0, x1 - x0, y1 - y0, len(run)))
    return found


def _distinct_objects(rgb: Image.Image, dpi: float) -> list[tuple[Box, float]]:
    from skimage.color import rgb2lab

    factor = min(1.0, _SALIENCY_PX_PER_MM * MM_PER_INCH / dpi)
    small = _resized(rgb, factor)
    factor = small.width / rgb.width
    px_per_mm = factor * dpi / MM_PER_INCH
    lab = rgb2lab(np.asarray(small, dtype=np.float32) / 255.0)
    centre = np.stack(
        [ndimage.gaussian_filter(lab[..., c], _SALIENCY_CENTRE_MM * px_per_mm) for c in range(3)],
        axis=-1,
    )
    surround = _wide_gaussian(lab, _SALIENCY_SURROUND_MM * px_per_mm)
    contrast = np.linalg.norm(centre - surround, axis=-1)
    labels, _ = ndimage.label(contrast > _SALIENCY_MIN_DELTA)
    areas = np.bincount(labels.ravel())
    min_area = _OBJECT_MIN_AREA_MM2 * px_per_mm**2
    max_area = _OBJECT_MAX_SHARE * contrast.size
    candidates = [
        (index, found)
        for index, found in enumerate(ndimage.find_objects(labels), start=1)
        if found is not None and min_area <= areas[index] <= max_area
    ]
    in_field = _in_a_field(np.array([areas[index] for index, _ in candidates], np.float64))
    counts = _ColourCounts(lab)
    objects = []
    for (index, found), rare, field_member in zip(
        candidates, _rare_colours(lab, labels, candidates, counts), in_field, strict=True
    ):
        if not rare or field_member:
            continue  # one of many alike (cells, craters, stars): pattern, not an object
        inside = contrast[found][labels[found] == index]
        if float(inside.max()) < _OBJECT_MIN_CORE_DELTA:
            continue  # nowhere clearly distinct: a faint patch of the picture
        if _is_a_light(rgb, labels[found] == index, found, rgb.width / small.width):
            continue  # the glow of a lamp in the scene: it belongs to the photo, not a subject
        rows, cols = found
        strength = float(inside.mean())
        objects.append(
            (
                Box(
                    cols.start / factor,
                    rows.start / factor,
                    (cols.stop - cols.start) / factor,
                    (rows.stop - rows.start) / factor,
                ),
                strength,
            )
        )
    # A mark the blur kept below the thresholds; one it did not is already an object.
    for mark, strength in _graphic_marks(small, px_per_mm, counts):
        box = Box(mark.x / factor, mark.y / factor, mark.width / factor, mark.height / factor)
        if not any(_overlap(box, known) > 0 for known, _ in objects):
            objects.append((box, strength))
    return objects


def _is_a_light(
    rgb: Image.Image, mask: np.ndarray, found: tuple[slice, slice], zoom: float
) -> bool:
    """Whether a blob (``mask`` over the ``found`` box of the saliency copy, ``zoom`` times
    smaller than ``rgb``) is the glow of a light: clipped at its brightest point, darker the
    farther from it, with almost no flat fill (see ``_LIGHT_*``)."""
    from skimage.color import rgb2lab

    rows, cols = found
    box = (
        round(cols.start * zoom), round(rows.start * zoom),
        round(cols.stop * zoom), round(rows.stop * zoom),
    )  # fmt: skip
    crop = rgb.crop(box)
    lightness = rgb2lab(np.asarray(crop, dtype=np.float32) / 255.0)[..., 0]
    inside = np.asarray(
        Image.fromarray(mask.astype(np.uint8)).resize(crop.size, Image.Resampling.NEAREST),
        dtype=bool,
    )
    values = lightness[inside]
    if values.size < 4 or float(values.max()) < _LIGHT_MIN_PEAK_L or values.std() == 0:
        return False
    spread = ndimage.maximum_filter(lightness, 3) - ndimage.minimum_filter(lightness, 3)
    if float((spread[inside] < _FLAT_RANGE_L).mean()) >= _LIGHT_MAX_FLAT_SHARE:
        return False
    ys, xs = np.nonzero(inside)
    peak = int(np.argmax(values))
    distance = np.hypot(ys - ys[peak], xs - xs[peak])
    falloff = float(np.corrcoef(values, distance)[0, 1])
    return falloff <= _LIGHT_MAX_FALLOFF_CORRELATION


def _mean_colours(planes: list[np.ndarray], labels: np.ndarray, count: int) -> np.ndarray:
    """The mean colour (one value per plane) of the pixels labelled 1..``count``, NaN for a
    label with none."""
    where = np.flatnonzero(labels)  # most pixels are unlabelled: leave them out
    chosen = labels.ravel()[where]
    sizes = np.bincount(chosen, minlength=count + 1)[1:]
    sums = [np.bincount(chosen, plane.ravel()[where], count + 1)[1:] for plane in planes]
    with np.errstate(invalid="ignore", divide="ignore"):
        means: np.ndarray = np.stack(sums, axis=-1) / sizes[:, None]
    return means


def _in_a_field(areas: np.ndarray, colours: np.ndarray | None = None) -> np.ndarray:
    """Whether each blob has at least ``_OBJECT_FIELD_MIN - 1`` others of about its size (and,
    given their CIELAB ``colours``, within ``_RARE_COLOUR_DELTA`` of its colour)."""
    if areas.size < _OBJECT_FIELD_MIN:
        return np.zeros(areas.size, bool)
    ratio = areas[:, None] / areas[None, :]
    alike = (ratio <= _OBJECT_FIELD_SIZE_RATIO) & (ratio >= 1 / _OBJECT_FIELD_SIZE_RATIO)
    if colours is not None:
        distance = np.linalg.norm(colours[:, None, :] - colours[None, :, :], axis=-1)
        alike &= distance < _RARE_COLOUR_DELTA
    result: np.ndarray = alike.sum(axis=1) >= _OBJECT_FIELD_MIN
    return result


def _wide_gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(channel, sigma, mode="nearest")`` of each channel of an
    (H, W, C) float32 image, by FFT in float32: the same kernel (truncated at 4 sigma,
    normalised) and edges, a third of the cost at the surround's 12 px. It differs from the
    direct convolution by float32 rounding (≤ 2e-5 ΔE in the contrast, against a threshold of
    22; an FFT in float64 halves that error and costs 1.6x as much)."""
    from scipy import fft

    radius = int(4.0 * sigma + 0.5)  # scipy's truncation
    taps = np.exp(-0.5 / (sigma * sigma) * np.arange(-radius, radius + 1) ** 2)
    taps /= taps.sum()
    planes = np.pad(
        np.moveaxis(image, -1, 0).astype(np.float32),
        ((0, 0), (radius, radius), (radius, radius)),
        mode="edge",  # scipy's "nearest"
    )
    shape = tuple(fft.next_fast_len(n, real=True) for n in planes.shape[1:])
    # The kernel centred on index 0; no wrap-around reaches the part kept (the padding).
    rows, cols = np.zeros(shape[0]), np.zeros(shape[1])
    rows[: taps.size], cols[: taps.size] = taps, taps
    rows, cols = np.roll(rows, -radius), np.roll(cols, -radius)
    kernel = (fft.fft(rows)[:, None] * fft.rfft(cols)[None, :]).astype(np.complex64)
    blurred = fft.irfft2(fft.rfft2(planes, s=shape) * kernel, s=shape)
    kept = blurred[:, radius : radius + image.shape[0], radius : radius + image.shape[1]]
    surround: np.ndarray = np.moveaxis(kept, 0, -1).astype(np.float32)
    return surround


class _ColourCounts:
    """Counts the pixels of an image within ``_RARE_COLOUR_DELTA`` of a colour.

    A pixel that close has a lightness within the distance too, so with the pixels sorted by
    lightness (once, for every question) each count measures one band of them, not all."""

    def __init__(self, lab: np.ndarray) -> None:
        pixels = lab.reshape(-1, 3)
        lightness = np.floor(pixels[:, 0]).astype(np.int16)
        order = np.argsort(lightness, kind="stable")
        self._lightness = lightness[order]
        self._planes = np.ascontiguousarray(pixels[order].T)  # L, a, b rows
        self.total = pixels.shape[0]

    def within(self, colour: np.ndarray) -> int:
        lo = np.searchsorted(
            self._lightness, math.floor(colour[0] - _RARE_COLOUR_DELTA) - 1, "left"
        )
        hi = np.searchsorted(
            self._lightness, math.floor(colour[0] + _RARE_COLOUR_DELTA) + 1, "right"
        )
        d = self._planes[:, lo:hi] - colour[:, None]
        squares = d * d
        distance2 = (squares[0] + squares[1]) + squares[2]
        # np.linalg.norm may add the three squares in another order; where that could
        # matter, ask it (so the counts are what comparing each pixel in turn gives).
        radius2 = np.float32(_RARE_COLOUR_DELTA**2)
        close = np.abs(distance2 - radius2) < 1e-2
        within = int(np.count_nonzero(distance2[~close] < radius2))
        if close.any():
            again = np.ascontiguousarray(self._planes[:, lo:hi][:, close].T) - colour
            within += int(np.count_nonzero(np.linalg.norm(again, axis=-1) < _RARE_COLOUR_DELTA))
        return within

    def is_rare(self, colour: np.ndarray, own: int, own_within: int) -> bool:
        """Whether ``colour`` covers under ``_RARE_COLOUR_MAX_SHARE`` of the image outside a
        region of ``own`` pixels, ``own_within`` of which are within the distance of it."""
        outside = self.total - own
        if outside <= 0:
            return False
        return (self.within(colour) - own_within) / outside < _RARE_COLOUR_MAX_SHARE


def _rare_colours(
    lab: np.ndarray,
    labels: np.ndarray,
    candidates: list[tuple[int, tuple[slice, slice]]],
    counts: _ColourCounts,
) -> list[bool]:
    """Whether each candidate's (median) colour covers little of the rest of the image (a logo
    on grass does; one cell among hundreds of cells does not). Counts the pixels within the
    colour distance in the whole image and subtracts the candidate's own."""
    rare = []
    for index, found in candidates:
        own = lab[found][labels[found] == index]
        colour = np.median(own, axis=0)
        own_within = np.count_nonzero(np.linalg.norm(own - colour, axis=-1) < _RARE_COLOUR_DELTA)
        rare.append(counts.is_rare(colour, own.shape[0], int(own_within)))
    return rare


def _graphic_marks(
    rgb: Image.Image, px_per_mm: float, counts: _ColourCounts
) -> list[tuple[Box, float]]:
    """Flat-filled regions of ``rgb`` that are designed marks (see ``_MARK_*``), in its px,
    with the CIELAB distance between fill and surroundings. ``counts`` counts ``rgb``'s
    colours."""
    from skimage.color import rgb2lab

    planes = [np.asarray(channel, dtype=np.int16) for channel in rgb.split()]
    height, width = planes[0].shape
    if height < 3 or width < 3:
        return []
    steps_x = np.ones((height, width - 1), bool)
    steps_y = np.ones((height - 1, width), bool)
    for plane in planes:
        steps_x &= np.abs(np.diff(plane, axis=1)) <= _MARK_FLAT_STEP
        steps_y &= np.abs(np.diff(plane, axis=0)) <= _MARK_FLAT_STEP
    flat = np.zeros((height, width), bool)  # the outermost pixels are never flat
    flat[1:-1, 1:-1] = (
        steps_x[1:-1, 1:] & steps_x[1:-1, :-1] & steps_y[1:, 1:-1] & steps_y[:-1, 1:-1]
    )
    labels, _ = ndimage.label(flat)
    areas = np.bincount(labels.ravel())
    sized = np.flatnonzero(
        (areas >= _MARK_MIN_FLAT_MM2 * px_per_mm**2) & (areas <= _MARK_MAX_SHARE * flat.size)
    )
    sized = sized[sized > 0]
    if sized.size == 0:
        return []
    # Numbered 1..n among themselves: find_objects' cost grows with the highest label, and a
    # photograph has tens of thousands of tiny flat patches.
    numbering = np.zeros(areas.size, np.int32)
    numbering[sized] = np.arange(1, sized.size + 1, dtype=np.int32)
    labels = numbering[labels]
    # The ring around each fill, past its antialiased edge (one pixel), ``ring`` pixels wide,
    # for all fills at once: where two fills are closer than that, the ring goes to one.
    ring = max(1, round(_MARK_RING_MM * px_per_mm))
    near = _square_filter(labels, 2 * ring + 3, np.maximum)
    ring_labels = np.where(_square_filter(labels, 3, np.maximum) == 0, near, 0)
    colours = _mean_colours(planes, labels, sized.size)
    surrounds = _mean_colours(planes, ring_labels, sized.size)
    lab = rgb2lab(np.stack([colours, surrounds]).astype(np.float32) / 255.0)
    deltas = np.linalg.norm(lab[0] - lab[1], axis=-1)
    marks, kept = [], []
    for index, found in enumerate(ndimage.find_objects(labels, sized.size), start=1):
        delta = float(deltas[index - 1])
        if found is None or not delta >= _MARK_MIN_EDGE_DELTA:  # NaN: no ring
            continue
        rows, cols = found
        if rows.start <= 1 or cols.start <= 1 or rows.stop >= height - 1 or cols.stop >= width - 1:
            continue  # runs off the canvas: a background's flat part
        own = int(areas[sized[index - 1]])  # a flat fill: all of it that colour
        if not counts.is_rare(lab[0, index - 1], own, own):
            continue  # a colour the picture has elsewhere too: a pattern's or a scene's
        width_px, height_px = cols.stop - cols.start, rows.stop - rows.start
        marks.append((Box(cols.start - 1, rows.start - 1, width_px + 2, height_px + 2), delta))
        kept.append(index - 1)
    # Six or more marks of about one size and one colour are a pattern (a star print), none
    # of them the one to keep from the camera. (A rare colour is no help here: twelve small
    # stars still cover under 1% of the case.)
    patterned = _in_a_field(areas[sized[kept]].astype(np.float64), lab[0, kept])
    return [mark for mark, repeated in zip(marks, patterned, strict=True) if not repeated]


def _clipped(box: Box, size: tuple[int, int]) -> Box:
    x0, y0 = max(0.0, box.x), max(0.0, box.y)
    x1, y1 = min(float(size[0]), box.right), min(float(size[1]), box.bottom)
    return Box(x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0))


def analyse_content(flat: Image.Image, dpi: float) -> ContentAnalysis:
    """Find faces, text lines and distinct objects on a flattened canvas (any mode)."""
    # Every detector works at or below the text's resolution (3 px/mm): they share one copy
    # reduced to it, made once (the full canvas is read once, not six times), in which the
    # turned copies for the face search are cheap to make.
    small = _resized(flat, min(1.0, _TEXT_PX_PER_MM * MM_PER_INCH / dpi))
    rgb = small if small.mode == "RGB" else small.convert("RGB")
    grey = rgb.convert("L")
    sx, sy = small.width / flat.width, small.height / flat.height
    small_dpi = dpi * sx
    pad = round(_FACE_EDGE_PAD_MM * small_dpi / MM_PER_INCH)
    widened = Image.fromarray(np.pad(np.asarray(grey), pad, mode="edge"))
    faces = [
        (_clipped(Box(box.x - pad, box.y - pad, box.width, box.height), grey.size), score)
        for box, score in _confirmed_faces(widened, small_dpi, pad)
    ]  # the part of each face on the canvas
    # Turned faces tell a turned artwork: the faces that matter there are whole and large, so
    # the search needs no widened copy (18% more pixels on an iPad).
    rotated = {} if faces else _rotated_face_counts(grey, small_dpi)
    found: list[tuple[ObjectKind, Box, float]] = [("face", box, score) for box, score in faces]
    found += [("text", box, score) for box, score in _text_lines(grey, small_dpi)]
    found += [("object", box, score) for box, score in _distinct_objects(rgb, small_dpi)]
    objects = [
        ContentObject(
            kind,
            Box(box.x / sx, box.y / sy, box.width / sx, box.height / sy),
            score / sx if kind == "face" else score,  # a face's score is its width in px
        )
        for kind, box, score in found
    ]
    return ContentAnalysis(objects=tuple(objects), upright_faces=len(faces), rotated_faces=rotated)
