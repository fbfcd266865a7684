"""What on the artwork is *important*: faces, lines of text and distinct objects.

Checks that ask "is something important under the camera / at the cut?" share one analysis
of the flattened canvas, made once per job. Each detector works on a downscaled copy at a
physical resolution (pixels per mm of the print), so its size limits are in mm whatever the
canvas; results are boxes in canvas pixels (see :mod:`preflight.geometry`).

* **Faces**: scikit-image's LBP frontal-face cascade, on a copy of about 40 000 px (at least
  1.4 px/mm); faces found only in a turned copy (0.9 px/mm, confirmed at 1.35 px/mm) mean
  the artwork is rotated.
* **Text**: stroke-like marks (morphological top-hat at ≤ 2.3 mm stroke width, ≥ 25% contrast)
  whose connected components have letter sizes (1.2–15 mm tall) and line up in an evenly
  spaced row of at least four with similar heights, standing out from their surroundings
  (stroke strength ≥ 1.25 × the surroundings' 90th percentile) and either clear of marks just
  above and below, or six marks long (text on a busy photo is not isolated; chance rows in
  grass and gravel are short).
* **Distinct objects** (logos, products, a person against a backdrop): centre–surround contrast
  in CIELAB (1.5 mm centre, 8 mm surround); a compact region far from its surroundings whose
  colour is rare in the rest of the image. Sky, foliage and repeating patterns (cells,
  craters) average out or repeat, and do not count.

A full-bleed photo is "detailed everywhere"; these detectors look for *things*, not detail.
"""

from __future__ import annotations

import bisect
import itertools
import math
import threading
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image
from scipy import ndimage

from preflight.geometry import MM_PER_INCH, Box

__all__ = ["ContentAnalysis", "ContentObject", "analyse_content"]

ObjectKind = Literal["face", "text", "object"]

_FACE_PIXEL_BUDGET = 40_000
_FACE_MIN_PX = 16  # the cascade's window: faces smaller than this are not searched
_FACE_MIN_PX_PER_MM = 1.4  # so faces from ~11 mm up are searched on every device
_FACE_MIN_CONTRAST = 12.0  # grey-level standard deviation inside a face box
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
_OBJECT_MAX_SHARE = 0.25  # larger "objects" are backgrounds
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


_CASCADE_LOCK = threading.Lock()
_CASCADE: object | None = None


def _cascade() -> object:
    global _CASCADE
    with _CASCADE_LOCK:
        if _CASCADE is None:
            from skimage.data import lbp_frontal_face_cascade_filename
            from skimage.feature import Cascade

            _CASCADE = Cascade(lbp_frontal_face_cascade_filename())
        return _CASCADE


def _resized(image: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.BOX, reducing_gap=2.0)


def _budget_factor(image: Image.Image, budget: int) -> float:
    return min(1.0, math.sqrt(budget / (image.width * image.height)))


def _faces(grey: Image.Image, budget: int) -> list[tuple[Box, float]]:
    factor = _budget_factor(grey, budget)
    small = _resized(grey, factor)
    pixels = np.asarray(small, dtype=np.float64) / 255.0
    side = min(small.size)
    if side < _FACE_MIN_PX:
        return []
    found = _cascade().detect_multi_scale(  # type: ignore[attr-defined]
        img=pixels,
        scale_factor=1.25,
        step_ratio=1,
        min_size=(_FACE_MIN_PX, _FACE_MIN_PX),
        max_size=(side, side),
    )
    return [
        (
            Box(d["c"] / factor, d["r"] / factor, d["width"] / factor, d["height"] / factor),
            float(d["width"]) / factor,
        )
        for d in found
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
        turned = grey.transpose(transpose)
        coarse = _faces_at(turned, dpi, _ORIENTATION_PX_PER_MM)
        confirmed = len(_confirm(turned, dpi, coarse, _ORIENTATION_PX_PER_MM * 1.5))
        counts[(360 - ccw) % 360] = confirmed
    return counts


def _confirmed_faces(grey: Image.Image, dpi: float) -> list[tuple[Box, float]]:
    """Upright faces, each also found at 1.5× the resolution (textures fool one scale)."""
    area_mm2 = grey.width * grey.height * (MM_PER_INCH / dpi) ** 2
    px_per_mm = max(_FACE_MIN_PX_PER_MM, math.sqrt(_FACE_PIXEL_BUDGET / area_mm2))
    return _confirm(grey, dpi, _faces_at(grey, dpi, px_per_mm), px_per_mm * 1.5)


def _confirm(
    grey: Image.Image, dpi: float, found: list[tuple[Box, float]], px_per_mm: float
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
        again = _faces_at(window, dpi, px_per_mm)
        shifted = [Box(b.x + x0, b.y + y0, b.width, b.height) for b, _ in again]
        if any(_overlap(box, b) > 0.3 for b in shifted) and _has_facial_contrast(grey, box):
            confirmed.append((box, score))
    return confirmed


def _has_facial_contrast(grey: Image.Image, box: Box) -> bool:
    """Eyes, mouth and hairline make a face contrasty; the cascade's false hits on crater
    fields and clouds are flat (grey-level deviation 5–7 against 33–50 for real faces)."""
    crop = grey.crop((int(box.x), int(box.y), int(box.right), int(box.bottom)))
    return float(np.asarray(crop, dtype=np.float32).std()) >= _FACE_MIN_CONTRAST


def _faces_at(grey: Image.Image, dpi: float, px_per_mm: float) -> list[tuple[Box, float]]:
    budget = round(grey.width * grey.height * (px_per_mm * MM_PER_INCH / dpi) ** 2)
    return _faces(grey, max(budget, 1))


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
    pixels = np.asarray(small, dtype=np.float32) / 255.0
    size = max(3, round(_TEXT_MAX_STROKE_MM * px_per_mm) | 1)
    lines: list[tuple[Box, float]] = []
    for strokes in (
        pixels - ndimage.grey_opening(pixels, size=(size, size)),  # light marks on dark
        ndimage.grey_closing(pixels, size=(size, size)) - pixels,  # dark marks on light
    ):
        mask = strokes > _TEXT_MIN_CONTRAST
        labels, count = ndimage.label(mask)
        if count == 0:
            continue
        candidates = []
        min_h, max_h = (h * px_per_mm for h in _TEXT_HEIGHT_MM)
        for index, found in enumerate(ndimage.find_objects(labels), start=1):
            if found is None:
                continue
            rows, cols = found
            height, width = rows.stop - rows.start, cols.stop - cols.start
            if not (min_h <= height <= max_h and 0.1 * height <= width <= 1.6 * height):
                continue
            fill = float((labels[found] == index).mean())
            if 0.12 <= fill <= 0.9:
                candidates.append((cols.start, rows.start, width, height))
        for x, y, w, h, n in _group_into_lines(candidates):
            # Text on a busy texture is not isolated; a long even run that stands out still is.
            isolated = _isolated(mask, x, y, w, h) or n >= _TEXT_MARKS_WITHOUT_ISOLATION
            if isolated and _stands_out(strokes, mask, x, y, w, h):
                lines.append((Box(x / factor, y / factor, w / factor, h / factor), float(n)))
    return _merge_overlapping(lines)


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
        right, heights = x + w, [h]
        for j in row:
            xj, _, wj, hj = letters[j]
            height = float(np.median(heights))
            if xj - right > 3 * height:
                break
            if xj - right <= 1.0 * height and 0.6 < hj / height < 1.6:
                chain.append(j)
                heights.append(hj)
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
    height = float(np.median([c[3] for c in chain]))
    limit = max(0.6 * height, 2.0 * float(np.median(gaps)))
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
    surround = np.stack(
        [
            ndimage.gaussian_filter(lab[..., c], _SALIENCY_SURROUND_MM * px_per_mm, mode="nearest")
            for c in range(3)
        ],
        axis=-1,
    )
    contrast = np.linalg.norm(centre - surround, axis=-1)
    labels, _ = ndimage.label(contrast > _SALIENCY_MIN_DELTA)
    min_area = _OBJECT_MIN_AREA_MM2 * px_per_mm**2
    max_area = _OBJECT_MAX_SHARE * contrast.size
    objects = []
    for index, found in enumerate(ndimage.find_objects(labels), start=1):
        if found is None:
            continue
        area = int((labels[found] == index).sum())
        if not min_area <= area <= max_area:
            continue
        rows, cols = found
        inside = labels == index
        if not _rare_colour(lab, inside):
            continue  # one of many alike (cells, craters, flowers): pattern, not an object
        strength = float(contrast[found][labels[found] == index].mean())
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
    return objects


def _rare_colour(lab: np.ndarray, inside: np.ndarray) -> bool:
    """The object's colour covers little of the rest of the image (a logo on grass does;
    one cell among hundreds of cells does not)."""
    colour = np.median(lab[inside], axis=0)
    outside = ~inside
    if not outside.any():
        return False
    distance = np.linalg.norm(lab[outside] - colour, axis=-1)
    return float((distance < _RARE_COLOUR_DELTA).mean()) < _RARE_COLOUR_MAX_SHARE


def analyse_content(flat: Image.Image, dpi: float) -> ContentAnalysis:
    """Find faces, text lines and distinct objects on a flattened canvas (any mode)."""
    rgb = flat.convert("RGB")
    grey = rgb.convert("L")
    faces = _confirmed_faces(grey, dpi)
    rotated = {} if faces else _rotated_face_counts(grey, dpi)
    objects = [ContentObject("face", box, score) for box, score in faces]
    objects += [ContentObject("text", box, score) for box, score in _text_lines(grey, dpi)]
    objects += [ContentObject("object", box, s) for box, s in _distinct_objects(rgb, dpi)]
    return ContentAnalysis(objects=tuple(objects), upright_faces=len(faces), rotated_faces=rotated)
