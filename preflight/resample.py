"""Pillow's two resampling passes for 8-bit images, compiled (Numba) and vectorised, with the
same bytes as Pillow.

Why: a job resizes its canvas five times (placing the artwork with Lanczos; box reductions for
the proof, the pictures and the content analysis), and Pillow's passes are scalar C: one
multiply-add per channel, tap and pixel. Placing 1200×2400 artwork on the iPhone canvas
took ~50 ms of CPU, a third of all a job's resampling.

What is the same as Pillow (``src/libImaging/Resample.c``): the filter positions and weights
(computed in double precision from the box converted to single precision, as Pillow's C
receives it), their rounding to 22-bit integers, the integer sums started at one half, and
the clipping of ``sum >> 22`` to 0-255. So each pass gives Pillow's bytes exactly
(``tests/test_resample.py`` compares them). What differs is the order of work only:

- the vertical pass computes a whole output row at once: every byte of the row gets the
  same weights, so the compiler runs 8 bytes per instruction (AVX2);
- the horizontal pass copies a block of rows into a buffer turned on its side (a source
  column's pixels for all rows of the block side by side), so that one output column of the
  whole block is again one vectorised sum over a few buffer rows.

Both release Python's GIL (``nogil``); the caller splits output rows between threads (each
output row depends on no other, so the bytes do not depend on the split). Compiled code is
cached beside this module, like the face search's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit
from PIL import Image

__all__ = [
    "BOX",
    "LANCZOS",
    "PassWeights",
    "convert_alpha",
    "from_pixels",
    "pass_weights",
    "pixel_channels",
    "prepare_resampling",
    "resample_columns",
    "resample_rows",
    "resize",
    "to_pixels",
]

# Pillow's filters that a job uses (the values are our own tags, not Pillow's constants).
BOX = 0
LANCZOS = 1
_SUPPORT = {BOX: 0.5, LANCZOS: 3.0}
# Pillow's fixed point: 32 bits, 8 for the result, 2 spare for the filters' overshoot.
_PRECISION_BITS = 22


@njit(cache=True, inline="always")
def _sinc(x: float) -> float:  # pragma: no cover (compiled)
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x


@njit(cache=True)
def _weight(kind: int, x: float) -> float:  # pragma: no cover (compiled)
    if kind == 0:  # BOX
        return 1.0 if -0.5 < x <= 0.5 else 0.0
    if -3.0 <= x < 3.0:  # LANCZOS: sinc windowed by a 3-lobe sinc
        return _sinc(x) * _sinc(x / 3)
    return 0.0


@njit(cache=True)
def _weights(
    in_size: int, in0: float, in1: float, out_size: int, kind: int, support: float
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover (compiled)
    # Pillow receives the box as C floats: the span is a float difference, widened after.
    start, end = np.float32(in0), np.float32(in1)
    scale = np.float64(end - start) / out_size
    filter_scale = max(scale, 1.0)
    reach = support * filter_scale
    taps = math.ceil(reach) * 2 + 1
    bounds = np.zeros((out_size, 2), np.int64)
    fixed = np.zeros((out_size, taps), np.int32)
    exact = np.zeros(taps, np.float64)
    for out in range(out_size):
        centre = np.float64(start) + (out + 0.5) * scale
        first = max(int(centre - reach + 0.5), 0)  # C's (int) truncates, as int() does
        count = min(int(centre + reach + 0.5), in_size) - first
        total = 0.0
        for tap in range(count):
            value = _weight(kind, (tap + first - centre + 0.5) * (1.0 / filter_scale))
            exact[tap] = value
            total += value
        for tap in range(taps):
            value = 0.0
            if tap < count:
                value = exact[tap] / total if total != 0.0 else exact[tap]
            # Rounded half away from zero, as Pillow's normalize_coeffs_8bpc does.
            scaled = value * (1 << _PRECISION_BITS)
            fixed[out, tap] = int(scaled - 0.5) if value < 0 else int(scaled + 0.5)
        bounds[out, 0] = first
        bounds[out, 1] = count
    return bounds, fixed


@dataclass(frozen=True)
class PassWeights:
    """Where each output pixel of one pass reads (``bounds``: first source pixel, count) and
    with which weights (``fixed``: 22-bit integers, one row per output pixel)."""

    bounds: np.ndarray
    fixed: np.ndarray

    def shifted(self, by: int) -> PassWeights:
        """The same weights for a source that starts ``by`` pixels later."""
        bounds = self.bounds.copy()
        bounds[:, 0] -= by
        return PassWeights(bounds, self.fixed)


def pass_weights(in_size: int, start: float, end: float, out_size: int, kind: int) -> PassWeights:
    """Pillow's weights for resampling source pixels ``start``-``end`` (of ``in_size``) to
    ``out_size`` pixels with filter ``kind`` (:data:`BOX` or :data:`LANCZOS`)."""
    bounds, fixed = _weights(in_size, start, end, out_size, kind, _SUPPORT[kind])
    return PassWeights(bounds, fixed)


# The horizontal pass sums 64 bytes of a block of rows at a time (two AVX2 registers of
# 8 × 32-bit sums, four times over): 64 rows of one-byte pixels, 16 of four-byte ones.
_LANE_BYTES = 64


@njit(nogil=True, cache=True, inline="always")
def _sum_column(
    turned: np.ndarray,
    first: int,
    count: int,
    weights: np.ndarray,
    sums: np.ndarray,
    clipped: np.ndarray,
) -> None:  # pragma: no cover (compiled)
    """One output column of a block: the weighted sum of ``count`` turned source columns."""
    lanes = sums.shape[0]
    for lane in range(lanes):
        sums[lane] = 1 << (_PRECISION_BITS - 1)
    for tap in range(count):
        weight = weights[tap]
        pixels = turned[first + tap]
        for lane in range(lanes):
            sums[lane] += np.int32(pixels[lane]) * weight
    for lane in range(lanes):
        clipped[lane] = min(max(sums[lane] >> _PRECISION_BITS, 0), 255)


@njit(nogil=True, cache=True)
def _rows_pass_words(
    source: np.ndarray, out: np.ndarray, bounds: np.ndarray, fixed: np.ndarray
) -> None:  # pragma: no cover (compiled)
    """Pixels as one word each (uint8, uint16 or uint32 for 1, 2 or 4 channels)."""
    rows, width = source.shape
    block_rows = _LANE_BYTES // source.itemsize
    # Source columns on their side: turned[x] holds pixel x of every row of the block.
    turned = np.zeros((width, block_rows), source.dtype)
    turned_bytes = turned.view(np.uint8)
    sums = np.zeros(_LANE_BYTES, np.int32)
    clipped = np.zeros(block_rows, source.dtype)
    clipped_bytes = clipped.view(np.uint8)
    for top in range(0, rows, block_rows):
        count = min(block_rows, rows - top)
        for row in range(count):
            line = source[top + row]
            for x in range(width):
                turned[x, row] = line[x]
        for column in range(out.shape[1]):
            _sum_column(
                turned_bytes,
                bounds[column, 0],
                bounds[column, 1],
                fixed[column],
                sums,
                clipped_bytes,
            )
            for row in range(count):
                out[top + row, column] = clipped[row]


_WORDS = {1: np.uint8, 2: np.uint16, 4: np.uint32}


@njit(nogil=True, cache=True)
def _columns_pass(
    source: np.ndarray,
    out: np.ndarray,
    first_out_row: int,
    bounds: np.ndarray,
    fixed: np.ndarray,
) -> None:  # pragma: no cover (compiled)
    length = source.shape[1]
    half = np.int32(1 << (_PRECISION_BITS - 1))
    sums = np.zeros(length, np.int32)
    for row in range(out.shape[0]):
        index = first_out_row + row
        first = bounds[index, 0]
        for i in range(length):
            sums[i] = half
        for tap in range(bounds[index, 1]):
            weight = fixed[index, tap]
            line = source[first + tap]
            for i in range(length):
                sums[i] += np.int32(line[i]) * weight
        target = out[row]
        for i in range(length):
            target[i] = min(max(sums[i] >> _PRECISION_BITS, 0), 255)


def resample_rows(source: np.ndarray, out: np.ndarray, weights: PassWeights) -> None:
    """Pillow's horizontal pass: each row of ``source`` (rows × width × channels, uint8) into
    the same row of ``out`` (rows × output width × channels)."""
    if source.shape[0] != out.shape[0] or source.shape[2] != out.shape[2]:
        raise ValueError(f"rows or channels differ: {source.shape} -> {out.shape}")
    source = np.ascontiguousarray(source)
    word = _WORDS[source.shape[2]]
    _rows_pass_words(
        source.view(word)[:, :, 0], out.view(word)[:, :, 0], weights.bounds, weights.fixed
    )


def resample_columns(
    source: np.ndarray, out: np.ndarray, weights: PassWeights, first_out_row: int = 0
) -> None:
    """Pillow's vertical pass: output rows ``first_out_row`` onwards (as many as ``out`` has)
    from the rows of ``source``; both rows × width × channels, uint8, the same width."""
    if source.shape[1:] != out.shape[1:]:
        raise ValueError(f"widths or channels differ: {source.shape} -> {out.shape}")
    flat_source = np.ascontiguousarray(source).reshape(source.shape[0], -1)
    _columns_pass(
        flat_source, out.reshape(out.shape[0], -1), first_out_row, weights.bounds, weights.fixed
    )


# Modes that Pillow keeps as four bytes a pixel, and a mode of the same layout whose image
# can live in a NumPy array's memory (``Image.frombuffer`` shares it for these).
_FOUR_BYTE_MODES = {"RGB": "RGBX", "RGBX": "RGBX", "RGBA": "RGBA", "RGBa": "RGBA", "CMYK": "CMYK"}


def pixel_channels(mode: str) -> int:
    """The channels of :func:`to_pixels`'s arrays for an image of ``mode``."""
    return 4 if mode in _FOUR_BYTE_MODES else Image.getmodebands(mode)


def to_pixels(image: Image.Image) -> np.ndarray:
    """An 8-bit image's pixels (a writable copy) as rows × width × channels: RGB as four
    bytes a pixel (the fourth as Pillow keeps it), so that every pixel is one word for the
    passes.

    Four-byte modes are pasted straight into the array's memory (Pillow's paste of its own
    storage: 1.3 ms for 1200 × 2400 RGB, where ``np.asarray``, which goes through
    ``tobytes``'s chunks, takes 8.5 ms).
    """
    shared_mode = _FOUR_BYTE_MODES.get(image.mode)
    if shared_mode is None:
        pixels = np.array(image)  # writable (np.asarray's view of tobytes() is not)
        return pixels[:, :, None] if pixels.ndim == 2 else pixels
    width, height = image.size
    words = np.empty((height, width), np.uint32)
    if width and height:
        shared = Image.frombuffer(shared_mode, image.size, words, "raw", shared_mode, 0, 1)
        # The core image's paste: Image.paste would first copy a read-only (shared) image.
        shared.im.paste(image.im, (0, 0, width, height))
    return words.view(np.uint8).reshape(height, width, 4)


def from_pixels(pixels: np.ndarray, mode: str) -> Image.Image:
    """The image of ``mode`` whose pixels these are (see :func:`to_pixels`)."""
    height, width, channels = pixels.shape
    raw_mode = "RGBX" if mode == "RGB" and channels == 4 else mode
    data = np.ascontiguousarray(pixels)
    return Image.frombytes(mode, (width, height), data, "raw", raw_mode)


_PREMULTIPLIED = {"RGBA": "RGBa", "LA": "La"}
_STRAIGHT = {premultiplied: straight for straight, premultiplied in _PREMULTIPLIED.items()}


@lru_cache(maxsize=4)
def _alpha_table(source: str, target: str) -> np.ndarray:
    """``table[alpha, value]``: what Pillow's conversion from ``source`` to ``target`` (one
    of RGBA/RGBa, LA/La, either way) makes of a colour ``value`` under ``alpha``.

    Read from Pillow itself (all 65 536 pairs converted once), so a lookup gives the bytes of
    the Pillow installed: its conversions treat each colour channel alone, the same way."""
    values = np.arange(256, dtype=np.uint8)
    pairs = np.empty((256, 256, len(source)), np.uint8)
    pairs[:, :, :-1] = values[None, :, None]
    pairs[:, :, -1] = values[:, None]
    converted = Image.frombytes(source, (256, 256), pairs.tobytes()).convert(target)
    return np.ascontiguousarray(np.asarray(converted)[:, :, 0])


@njit(nogil=True, cache=True)
def _convert_alpha(pixels: np.ndarray, colours: int, table: np.ndarray) -> None:  # pragma: no cover
    alpha = pixels.shape[2] - 1
    for row in range(pixels.shape[0]):
        line = pixels[row]
        for x in range(pixels.shape[1]):
            weights = table[line[x, alpha]]
            for channel in range(colours):
                line[x, channel] = weights[line[x, channel]]


def convert_alpha(pixels: np.ndarray, source: str, target: str) -> None:
    """Pillow's ``convert`` between straight and premultiplied alpha (RGBA and RGBa, LA and
    La) on :func:`to_pixels`'s array, in place, from a table of Pillow's own results: ~1 ns a
    pixel where Pillow's un-premultiplying divides (15 ns a pixel, 100 ms for an iPad
    canvas)."""
    if _PREMULTIPLIED.get(source) != target and _STRAIGHT.get(source) != target:
        raise ValueError(f"not a conversion of alpha: {source} -> {target}")
    colours = 1 if source in ("LA", "La") else 3
    if pixels.shape[2] != colours + 1:
        raise ValueError(f"{source} pixels have {colours + 1} channels, not {pixels.shape[2]}")
    _convert_alpha(pixels, colours, _alpha_table(source, target))


# Output rows per band of a resize: each band's source rows are copied out of Pillow on
# their own, so a resize never holds a second copy of the whole image.
_BAND_ROWS = 256


def resize(
    image: Image.Image,
    size: tuple[int, int],
    kind: int,
    box: tuple[float, float, float, float] | None = None,
    reducing_gap: float | None = None,
) -> Image.Image:
    """``image.resize(size, BOX or LANCZOS, box=box, reducing_gap=reducing_gap)``, the same
    bytes, on the compiled passes (8-bit modes; on the calling thread).

    Pillow 13 chooses the order of its passes (vertical first when the height shrinks by
    more than twice as many pixels as the width does) and skips a pass that would not
    change the image; so do we, since the 8-bit image between the passes rounds
    differently in the other order. ``tests/test_resample.py`` holds the two to the same
    bytes (and would show a Pillow that changed its rule). Both passes run band by band of
    output rows (no output row depends on another), from the source rows each band reads.
    """
    width, height = image.size
    out_width, out_height = size
    left, top, right, bottom = box if box is not None else (0.0, 0.0, width, height)
    if size == image.size and (left, top, right, bottom) == (0, 0, width, height):
        return image.copy()
    premultiplied = _PREMULTIPLIED.get(image.mode)
    if reducing_gap is not None:
        # As Pillow: a reduction by whole factors first (Image.reduce, a box average), over
        # the box and the filter's reach, leaving at least ``reducing_gap`` to resample.
        factor_x = int((right - left) / out_width / reducing_gap) or 1
        factor_y = int((bottom - top) / out_height / reducing_gap) or 1
        if factor_x > 1 or factor_y > 1:
            if premultiplied:  # Pillow reduces a premultiplied copy of the whole image
                filters = {BOX: Image.Resampling.BOX, LANCZOS: Image.Resampling.LANCZOS}
                return image.resize(size, filters[kind], box, reducing_gap)
            reach_x = (_SUPPORT[kind] - 0.5) * (right - left) / out_width
            reach_y = (_SUPPORT[kind] - 0.5) * (bottom - top) / out_height
            x0, y0 = max(0, int(left - reach_x)), max(0, int(top - reach_y))
            x1 = min(width, math.ceil(right + reach_x))
            y1 = min(height, math.ceil(bottom + reach_y))
            reduced = image.reduce((factor_x, factor_y), box=(x0, y0, x1, y1))
            reduced_box = (
                (left - x0) / factor_x,
                (top - y0) / factor_y,
                (right - x0) / factor_x,
                (bottom - y0) / factor_y,
            )
            return resize(reduced, size, kind, reduced_box)
    # Pillow compares the box's far edge with the output size (not the input's): kept as is.
    across = out_width != width or left != 0 or right != out_width
    down = out_height != height or top != 0 or bottom != out_height
    vertical_first = height > out_height and height - out_height > (width - out_width) * 2
    rows_weights = pass_weights(width, left, right, out_width, kind) if across else None
    columns_weights = pass_weights(height, top, bottom, out_height, kind) if down else None
    result = Image.new(image.mode, size)
    for start in range(0, out_height, _BAND_ROWS):
        end = min(out_height, start + _BAND_ROWS)
        first, last = start, end  # the source rows the band reads (all its own if no pass)
        if columns_weights is not None:
            first = int(columns_weights.bounds[start, 0])
            last = int(columns_weights.bounds[end - 1].sum())
        pixels = to_pixels(image.crop((0, first, width, last)))
        if premultiplied:
            convert_alpha(pixels, image.mode, premultiplied)
        if rows_weights is not None and not vertical_first:
            pixels = _across(pixels, rows_weights)
        if columns_weights is not None:
            pixels = _down(pixels, columns_weights.shifted(first), start, end)
        if rows_weights is not None and vertical_first:
            pixels = _across(pixels, rows_weights)
        if premultiplied:
            convert_alpha(pixels, premultiplied, image.mode)
        result.paste(from_pixels(pixels, image.mode), (0, start))
    return result


def _across(pixels: np.ndarray, weights: PassWeights) -> np.ndarray:
    out = np.empty((pixels.shape[0], weights.bounds.shape[0], pixels.shape[2]), np.uint8)
    resample_rows(pixels, out, weights)
    return out


def _down(pixels: np.ndarray, weights: PassWeights, start: int, end: int) -> np.ndarray:
    out = np.empty((end - start, pixels.shape[1], pixels.shape[2]), np.uint8)
    resample_columns(pixels, out, weights, start)
    return out


def prepare_resampling() -> None:
    """Load the compiled passes now, for every pixel size (compiled on a machine's first run,
    ~6 s; loaded from the on-disk cache in ~0.4 s), so that a worker's first job does not
    wait for them."""
    weights = pass_weights(2, 0.0, 2.0, 1, LANCZOS)
    for channels in _WORDS:
        tiny = np.zeros((2, 2, channels), np.uint8)
        resample_rows(tiny, np.zeros((2, 1, channels), np.uint8), weights)
        resample_columns(tiny, np.zeros((1, 2, channels), np.uint8), weights)
