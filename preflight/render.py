"""Pixels onto the canvas: placement, flattening, and the print-file encoders.

Resampling strategy (why it is not a single affine transform): an affine transform samples
without a low-pass filter, so a large downscale would alias. We therefore (1) turn by the
whole multiples of 90° losslessly, (2) resize with Lanczos to the target scale (antialiased,
in premultiplied alpha, so transparent pixels never leak a dark fringe), then (3) apply only
the residual rotation, the sub-pixel scale correction and the translation with a bicubic
affine transform. Geometry follows :mod:`preflight.geometry`.

The resize runs on the job's threads (:func:`_resize_in_bands`). Pillow resamples in two
separable passes with an 8-bit image between them, and each pass splits exactly by output
rows (no output row depends on another), so we run the two passes ourselves, horizontal
first, each in bands of rows, with compiled passes that give Pillow's bytes
(:mod:`preflight.resample`): the same pixels whatever the number of threads. Pillow 13 sometimes
runs its passes the other way round, so a one-call resize may differ by rounding (mean under
0.3 of a level; identical for cover fits of the usual phone and tablet artwork). Splitting
one call into boxes along the same axis does not join seamlessly (each box gets its own
rounded filter positions: up to 10 levels apart on fine textures, measured).
"""

from __future__ import annotations

import io
import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image

from preflight.geometry import ResolvedPlacement
from preflight.png import encode_png
from preflight.resample import (
    LANCZOS,
    convert_alpha,
    from_pixels,
    pass_weights,
    pixel_channels,
    resample_columns,
    resample_rows,
    to_pixels,
)
from preflight.tiff import encode_tiff

__all__ = [
    "PlacedCanvas",
    "encode_pictures",
    "encode_print_tiff",
    "encode_white_mask_tiff",
    "flatten",
    "place_on_canvas",
]

# Where "no artwork" lands in each working mode: paper white (no ink).
_WHITE: dict[str, int | tuple[int, ...]] = {"RGB": (255, 255, 255), "L": 255, "CMYK": (0, 0, 0, 0)}
# Lanczos with a reducing gap: Pillow first reduces by a whole factor with a box filter, then
# resamples; beyond a gap of 3 the result is indistinguishable from pure Lanczos and far cheaper.
_REDUCING_GAP = 3.0
# The affine pass runs in this many horizontal bands (if each gets this many rows at least).
_BANDS = 4
_MIN_BAND_ROWS = 64


@dataclass(frozen=True)
class PlacedCanvas:
    """The artwork rendered on the canvas.

    ``image`` is in the artwork's working mode (RGB/RGBA/L/LA/CMYK); uncovered pixels are
    fully transparent in modes with alpha and paper white in the others. ``coverage`` is the
    opacity of the artwork on each canvas pixel (L, 0–255): the placed shape times its alpha.
    """

    image: Image.Image
    coverage: Image.Image


def _quarter_turns(angle: float) -> tuple[int, float]:
    turns = round(angle / 90.0)
    residual = angle - 90.0 * turns
    if abs(residual) < 1e-9:
        residual = 0.0
    return turns % 4, residual


# Clockwise quarter turns → Pillow transpose (ROTATE_* in Pillow are counter-clockwise).
_CLOCKWISE = {
    1: Image.Transpose.ROTATE_270,
    2: Image.Transpose.ROTATE_180,
    3: Image.Transpose.ROTATE_90,
}


def place_on_canvas(
    image: Image.Image, placed: ResolvedPlacement, threads: int = 1
) -> PlacedCanvas:
    """Render ``image`` (a working mode) on the canvas as ``placed`` describes.

    ``image`` may be the artwork decoded at a reduced scale: geometry follows the artwork's
    real size (``placed.artwork_size``), pixels are sampled from whatever ``image`` holds.
    The resize and a free angle's affine pass run in bands on ``threads`` threads (exact:
    the pixels do not depend on the threads; see the module docstring).
    """
    if image.mode not in ("RGB", "RGBA", "L", "LA", "CMYK"):
        raise ValueError(f"place_on_canvas expects a working mode, got {image.mode}")
    turns, residual = _quarter_turns(placed.rotate_deg)
    work = image.transpose(_CLOCKWISE[turns]) if turns else image
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="place-band") as pool:
        if residual == 0.0:
            return _place_axis_aligned(work, placed, pool, threads)
        return _place_rotated(work, placed, residual, pool, threads)


def _bands(height: int) -> list[tuple[int, int]]:
    # A fixed number of bands, so the result never depends on how many threads ran them.
    count = _BANDS if height >= _BANDS * _MIN_BAND_ROWS else 1
    edges = [height * i // count for i in range(count + 1)]
    return list(itertools.pairwise(edges))


# Pillow's Lanczos reaches 3 source pixels either side of a sample point (times the scale
# when reducing).
_LANCZOS_SUPPORT = 3.0
_PREMULTIPLIED = {"RGBA": "RGBa", "LA": "La"}


# A band's source pixels (cropped, and premultiplied for alpha) are copied at most this many
# bytes at a time, so that bands in flight cost little memory whatever the artwork's size.
_BAND_SOURCE_BYTES = 16 * 1024 * 1024


def _split(length: int, bands: int, source_bytes: int = 0) -> list[tuple[int, int]]:
    """``length`` cut into ``bands`` bands, or more where their source would be large."""
    count = max(1, min(bands, length // _MIN_BAND_ROWS), -(-source_bytes // _BAND_SOURCE_BYTES))
    count = min(count, length)
    return list(itertools.pairwise(length * i // count for i in range(count + 1)))


def _resize_in_bands(
    image: Image.Image,
    size: tuple[int, int],
    box: tuple[float, float, float, float],
    pool: ThreadPoolExecutor,
    bands: int,
) -> Image.Image:
    """``image.resize(size, LANCZOS, box=box, reducing_gap=3)`` on ``pool``'s threads.

    Every stage is split into ``bands`` bands along an axis it does not mix, so the pixels are
    the same whatever the number of bands: premultiplying alpha (per pixel), the reduction by
    a whole factor for large downscales (per block of rows), the horizontal pass (per row)
    and the vertical pass (per output row), both compiled (:mod:`preflight.resample`, the
    same bytes as Pillow's passes). Premultiplied only band by band: a 48 MP RGBA artwork is
    never copied whole.
    """
    width, height = size
    left, top, right, bottom = box
    premultiplied = _PREMULTIPLIED.get(image.mode)
    working_mode = premultiplied or image.mode

    def source_rows(first: int, last: int, columns: tuple[int, int]) -> np.ndarray:
        rows = to_pixels(image.crop((columns[0], first, columns[1], last)))
        if premultiplied:  # Pillow's conversion, from a table of its results (faster)
            convert_alpha(rows, image.mode, premultiplied)
        return rows

    # A downscale beyond the reducing gap first averages whole blocks of factor_x × factor_y
    # pixels (as Pillow's resize does), over the box and a margin for the filter.
    factor_x = int((right - left) / width / _REDUCING_GAP) or 1
    factor_y = int((bottom - top) / height / _REDUCING_GAP) or 1
    source: Image.Image | None = None  # the reduced image, when there is one
    if factor_x > 1 or factor_y > 1:
        margin_x = (_LANCZOS_SUPPORT - 0.5) * (right - left) / width
        margin_y = (_LANCZOS_SUPPORT - 0.5) * (bottom - top) / height
        x0, y0 = max(0, int(left - margin_x)), max(0, int(top - margin_y))
        x1 = min(image.width, math.ceil(right + margin_x))
        y1 = min(image.height, math.ceil(bottom + margin_y))
        reduced_rows = math.ceil((y1 - y0) / factor_y)

        def reduce(band: tuple[int, int]) -> Image.Image:
            first, last = y0 + band[0] * factor_y, min(y1, y0 + band[1] * factor_y)
            rows = from_pixels(source_rows(first, last, (x0, x1)), working_mode)
            return rows.reduce((factor_x, factor_y))

        # Pillow keeps 4 bytes a pixel (1 for L); premultiplying copies the band once more.
        row_bytes = (x1 - x0) * factor_y * (4 if image.mode != "L" else 1)
        row_bands = _split(reduced_rows, bands, reduced_rows * row_bytes * 2)
        parts = list(pool.map(reduce, row_bands))
        source = Image.new(parts[0].mode, (parts[0].width, reduced_rows))
        for (start, _), part in zip(row_bands, parts, strict=True):
            source.paste(part, (0, start))
        del parts
        left, right = (left - x0) / factor_x, (right - x0) / factor_x
        top, bottom = (top - y0) / factor_y, (bottom - y0) / factor_y
    source_width = source.width if source is not None else image.width
    source_height = source.height if source is not None else image.height

    def rows_of(first: int, last: int, columns: tuple[int, int]) -> np.ndarray:
        if source is not None:
            return to_pixels(source.crop((columns[0], first, columns[1], last)))
        return source_rows(first, last, columns)

    # The source rows the vertical pass reads, with a pixel to spare (the box moves by whole
    # rows only, so the filter positions are those of the one call).
    reach = _LANCZOS_SUPPORT * max(1.0, (bottom - top) / height) + 1
    first = max(0, math.floor(top - reach))
    last = min(source_height, math.ceil(bottom + reach))

    def across() -> np.ndarray:
        """The horizontal pass, in bands of rows: the rows the vertical pass reads."""
        nonlocal source
        if (round(left), round(right)) == (left, right) and (right - left) == width:
            # No horizontal resampling (a whole-pixel crop at scale 1): just the rows.
            rows = rows_of(first, last, (round(left), round(right)))
            source = None  # the reduced image is read no more
            return rows
        weights = pass_weights(source_width, left, right, width, LANCZOS)
        rows = np.empty((last - first, width, pixel_channels(working_mode)), np.uint8)

        def band(rows_band: tuple[int, int]) -> None:
            start, end = rows_band
            part = rows_of(first + start, first + end, (0, source_width))
            resample_rows(part, rows[start:end], weights)

        source_copy = 0 if source is not None else (last - first) * source_width * 4 * 2
        list(pool.map(band, _split(last - first, bands, source_copy)))
        source = None
        return rows

    def down(rows: np.ndarray) -> Image.Image:
        """The vertical pass, in bands of output rows, each pasted into the result as it
        is done (un-premultiplied first): no second copy of the whole result is made."""
        result = Image.new(image.mode, size)

        def paste(start: int, pixels: np.ndarray) -> None:
            if premultiplied:
                convert_alpha(pixels, premultiplied, image.mode)
            result.paste(from_pixels(pixels, image.mode), (0, start))

        start, end = top - first, bottom - first
        if (round(start), round(end)) == (start, end) and (end - start) == height:
            paste(0, rows[round(start) : round(end)])
            return result
        weights = pass_weights(rows.shape[0], start, end, height, LANCZOS)

        def band(rows_band: tuple[int, int]) -> None:
            pixels = np.empty((rows_band[1] - rows_band[0], width, rows.shape[2]), np.uint8)
            resample_columns(rows, pixels, weights, rows_band[0])
            paste(rows_band[0], pixels)

        # Bands of at most 4 MB of output, however few threads: each is pasted and let go.
        list(pool.map(band, _split(height, bands, height * width * rows.shape[2] * 4)))
        return result

    return down(across())  # the rows between the passes go as soon as the second ends


def _has_alpha(mode: str) -> bool:
    return mode in ("RGBA", "LA")


def _empty(mode: str, size: tuple[int, int]) -> Image.Image:
    if _has_alpha(mode):
        return Image.new(mode, size, (0,) * len(mode))
    return Image.new(mode, size, _WHITE[mode])


def _place_axis_aligned(
    work: Image.Image, placed: ResolvedPlacement, pool: ThreadPoolExecutor, threads: int
) -> PlacedCanvas:
    # Exact and cheap: resample just the source box that lands on the canvas, straight into
    # its integer pixel rectangle (Lanczos, antialiased), then paste. No affine pass at all.
    canvas_w, canvas_h = placed.canvas_size
    scale = placed.scale
    turns = _quarter_turns(placed.rotate_deg)[0]
    # The turned artwork's real size, and how many of ``work``'s pixels stand for one of it.
    width, height = placed.artwork_size[turns % 2], placed.artwork_size[(turns + 1) % 2]
    per_x, per_y = work.width / width, work.height / height
    left = placed.center_px[0] - width * scale / 2
    top = placed.center_px[1] - height * scale / 2
    x0 = min(max(round(left), 0), canvas_w)
    y0 = min(max(round(top), 0), canvas_h)
    x1 = min(max(round(left + width * scale), 0), canvas_w)
    y1 = min(max(round(top + height * scale), 0), canvas_h)
    coverage = Image.new("L", placed.canvas_size, 0)
    if x1 <= x0 or y1 <= y0:  # the artwork lies entirely off the canvas
        return PlacedCanvas(image=_empty(work.mode, placed.canvas_size), coverage=coverage)
    source_box = (
        min(max((x0 - left) / scale, 0.0), width) * per_x,
        min(max((y0 - top) / scale, 0.0), height) * per_y,
        min(max((x1 - left) / scale, 0.0), width) * per_x,
        min(max((y1 - top) / scale, 0.0), height) * per_y,
    )
    region = _resize_in_bands(work, (x1 - x0, y1 - y0), source_box, pool, threads)
    if (x0, y0, x1, y1) == (0, 0, canvas_w, canvas_h):
        # The usual cover fit: the region is the canvas (no second copy; with alpha too, as
        # pasting it would copy its alpha unchanged).
        canvas = region
    else:
        canvas = _empty(work.mode, placed.canvas_size)
        canvas.paste(region, (x0, y0))
    if _has_alpha(work.mode):
        coverage = canvas.getchannel("A")
    else:
        coverage.paste(255, (x0, y0, x1, y1))
    return PlacedCanvas(image=canvas, coverage=coverage)


def _place_rotated(
    work: Image.Image,
    placed: ResolvedPlacement,
    residual: float,
    pool: ThreadPoolExecutor,
    threads: int,
) -> PlacedCanvas:
    turns = _quarter_turns(placed.rotate_deg)[0]
    # Resize to the target scale with an antialiasing filter first...
    target = (
        max(1, round(placed.artwork_size[turns % 2] * placed.scale)),
        max(1, round(placed.artwork_size[(turns + 1) % 2] * placed.scale)),
    )
    if target != work.size:
        box = (0.0, 0.0, float(work.width), float(work.height))
        work = _resize_in_bands(work, target, box, pool, threads)
    # ...then the residual affine: canvas point → point in the turned, resized image.
    theta = math.radians(residual)
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    sx = work.width / (placed.artwork_size[turns % 2] * placed.scale)
    sy = work.height / (placed.artwork_size[(turns + 1) % 2] * placed.scale)
    cx, cy = placed.center_px
    a, b = sx * cos_t, sx * sin_t
    d, e = -sy * sin_t, sy * cos_t
    coefficients = (a, b, work.width / 2 - a * cx - b * cy, d, e, work.height / 2 - d * cx - e * cy)

    def affine(image: Image.Image, fill: int | tuple[int, ...]) -> Image.Image:
        # Band by band: each canvas pixel's source point does not depend on the others.
        width, height = placed.canvas_size
        a, b, c, d, e, f = coefficients

        def band(rows: tuple[int, int]) -> Image.Image:
            first, last = rows
            shifted = (a, b, c + b * first, d, e, f + e * first)  # canvas row y = first + y'
            return image.transform(
                (width, last - first),
                Image.Transform.AFFINE,
                shifted,
                Image.Resampling.BICUBIC,
                fillcolor=fill,
            )

        bands = _bands(height)
        parts = list(pool.map(band, bands))
        result = Image.new(image.mode, placed.canvas_size)
        for (first, _), part in zip(bands, parts, strict=True):
            result.paste(part, (0, first))
        return result

    if _has_alpha(work.mode):
        # Pillow transforms RGBA/LA in premultiplied form, so edges blend correctly.
        canvas = affine(work, (0,) * len(work.mode))
        return PlacedCanvas(image=canvas, coverage=canvas.getchannel("A"))
    # No alpha channel (CMYK has none in Pillow): fill with paper white, and transform a
    # coverage mask alongside; at the edges both blend the same way, so flattening is exact.
    canvas = affine(work, _WHITE[work.mode])
    return PlacedCanvas(image=canvas, coverage=affine(Image.new("L", work.size, 255), 0))


def flatten(canvas: PlacedCanvas) -> Image.Image:
    """Composite the placed artwork over paper white; returns RGB, L or CMYK.

    Both substrates take this: on an opaque case uncovered area is the white case, on a clear
    case it gets no ink (CMYK 0) and no white underbase (see the white mask).
    """
    image = canvas.image
    if not _has_alpha(image.mode):
        return image  # already on paper white
    base_mode = image.mode[:-1]
    # Pasting with the artwork's own alpha as the mask blends it over white, the same result
    # as alpha_composite + convert at a third of the cost (no RGBA copies).
    flat = Image.new(base_mode, image.size, _WHITE[base_mode])
    flat.paste(image, (0, 0), image)
    return flat


def encode_print_tiff(
    image: Image.Image, dpi: int, icc_profile: bytes, threads: int = 2
) -> bytes:
    """The print file: a CMYK TIFF with the output profile embedded (on ``threads`` threads)."""
    if image.mode != "CMYK":
        raise ValueError(f"print files are CMYK, got {image.mode}")
    return encode_tiff(image, dpi, icc_profile, threads)


def encode_white_mask_tiff(coverage: Image.Image, dpi: int, threads: int = 2) -> bytes:
    """The white-ink (underbase) channel: 255 where the print must be fully opaque."""
    if coverage.mode != "L":
        raise ValueError(f"the white mask is one channel (L), got {coverage.mode}")
    return encode_tiff(coverage, dpi, None, threads)


def _encode_picture(name: str, image: Image.Image, threads: int) -> bytes:
    if name.endswith(".png"):
        return encode_png(image, threads)
    if name.endswith(".jpg"):
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=90)
        return out.getvalue()
    raise ValueError(f"no picture format for {name!r} (.png or .jpg)")


def encode_pictures(pictures: dict[str, Image.Image], threads: int = 2) -> dict[str, bytes]:
    """Encode pictures (RGB) by file name, ``.png`` or ``.jpg``, on ``threads`` threads: the
    encoders release the GIL, so a job's verdict comes back sooner on a multi-core machine."""
    if threads == 1:  # a job on one thread starts no others (one worker process a core)
        return {name: _encode_picture(name, image, 1) for name, image in pictures.items()}
    with ThreadPoolExecutor(max_workers=threads) as pool:
        encoded = pool.map(_encode_picture, pictures, pictures.values(), [threads] * len(pictures))
        return dict(zip(pictures, encoded, strict=True))
