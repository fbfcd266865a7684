"""Pixels onto the canvas: placement, flattening, and the print-file encoders.

Resampling strategy (why it is not a single affine transform): an affine transform samples
without a low-pass filter, so a large downscale would alias. We therefore (1) turn by the
whole multiples of 90° losslessly, (2) resize with Lanczos to the target scale (antialiased,
in premultiplied alpha, so transparent pixels never leak a dark fringe), then (3) apply only
the residual rotation, the sub-pixel scale correction and the translation with a bicubic
affine transform. Geometry follows :mod:`preflight.geometry`.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image

from preflight.geometry import ResolvedPlacement

__all__ = [
    "PlacedCanvas",
    "encode_print_tiff",
    "encode_white_mask_tiff",
    "flatten",
    "place_on_canvas",
]

# Where "no artwork" lands in each working mode: paper white (no ink).
_WHITE = {"RGB": (255, 255, 255), "L": 255, "CMYK": (0, 0, 0, 0)}
# Lanczos with a reducing gap: Pillow first reduces by a whole factor with a box filter, then
# resamples; beyond a gap of 3 the result is indistinguishable from pure Lanczos and far cheaper.
_REDUCING_GAP = 3.0
# TIFF tag 317 (Predictor) = 2, horizontal differencing: LZW files shrink markedly.
_TIFF_PREDICTOR_HORIZONTAL = {317: 2}


@dataclass(frozen=True)
class PlacedCanvas:
    """The artwork rendered on the canvas.

    ``image`` is in the artwork's working mode (RGB/RGBA/L/LA/CMYK), uncovered pixels fully
    transparent (or paper white for CMYK, which has no alpha). ``coverage`` is the opacity of
    the artwork on each canvas pixel (L, 0–255): the placed shape times the artwork's alpha.
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


def place_on_canvas(image: Image.Image, placed: ResolvedPlacement) -> PlacedCanvas:
    """Render ``image`` on the canvas as ``placed`` describes."""
    if image.mode not in ("RGB", "RGBA", "L", "LA", "CMYK"):
        raise ValueError(f"place_on_canvas expects a working mode, got {image.mode}")
    mode_with_alpha = {"RGB": "RGBA", "L": "LA"}.get(image.mode, image.mode)
    work = image.convert(mode_with_alpha) if mode_with_alpha != image.mode else image

    turns, residual = _quarter_turns(placed.rotate_deg)
    if turns:
        work = work.transpose(_CLOCKWISE[turns])

    # Resize to the target scale with an antialiasing filter.
    target = (
        max(1, round(work.width * placed.scale)),
        max(1, round(work.height * placed.scale)),
    )
    if target != work.size:
        work = work.resize(target, Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP)

    # The residual affine: canvas point → point in the turned, resized image.
    theta = math.radians(residual)
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    sx = work.width / (placed.artwork_size[turns % 2] * placed.scale)
    sy = work.height / (placed.artwork_size[(turns + 1) % 2] * placed.scale)
    cx, cy = placed.center_px
    a, b = sx * cos_t, sx * sin_t
    d, e = -sy * sin_t, sy * cos_t
    coefficients = (a, b, work.width / 2 - a * cx - b * cy, d, e, work.height / 2 - d * cx - e * cy)

    canvas_size = placed.canvas_size
    if work.mode == "CMYK":  # no alpha in CMYK: transform a coverage mask alongside
        colour = work.transform(
            canvas_size, Image.Transform.AFFINE, coefficients, Image.Resampling.BICUBIC,
            fillcolor=_WHITE["CMYK"],
        )
        shape = Image.new("L", work.size, 255).transform(
            canvas_size, Image.Transform.AFFINE, coefficients, Image.Resampling.BICUBIC,
            fillcolor=0,
        )
        return PlacedCanvas(image=colour, coverage=shape)

    # Pillow transforms RGBA/LA in premultiplied form, so edges blend correctly.
    placed_image = work.transform(
        canvas_size, Image.Transform.AFFINE, coefficients, Image.Resampling.BICUBIC,
        fillcolor=(0,) * len(work.getbands()),
    )
    return PlacedCanvas(image=placed_image, coverage=placed_image.getchannel("A"))


def flatten(canvas: PlacedCanvas) -> Image.Image:
    """Composite the placed artwork over paper white; returns RGB, L or CMYK.

    Both substrates take this: on an opaque case uncovered area is the white case, on a clear
    case it gets no ink (CMYK 0) and no white underbase (see the white mask).
    """
    image = canvas.image
    if image.mode == "CMYK":
        return image
    base_mode = image.mode[:-1]
    white = Image.new(image.mode, image.size, (*_as_tuple(_WHITE[base_mode]), 255))
    return Image.alpha_composite(white, image).convert(base_mode)


def _as_tuple(value: int | tuple[int, ...]) -> tuple[int, ...]:
    return value if isinstance(value, tuple) else (value,)


def encode_print_tiff(image: Image.Image, dpi: int, icc_profile: bytes) -> bytes:
    """A CMYK TIFF: LZW with horizontal predictor, resolution tags, embedded profile, no other
    metadata (no dates, no software tag), so identical inputs give identical bytes."""
    if image.mode != "CMYK":
        raise ValueError(f"print files are CMYK, got {image.mode}")
    out = io.BytesIO()
    image.save(
        out,
        format="TIFF",
        compression="tiff_lzw",
        dpi=(dpi, dpi),
        icc_profile=icc_profile,
        tiffinfo=_TIFF_PREDICTOR_HORIZONTAL,
    )
    return out.getvalue()


def encode_white_mask_tiff(coverage: Image.Image, dpi: int) -> bytes:
    """The white-ink (underbase) channel: 255 where the print must be fully opaque."""
    if coverage.mode != "L":
        raise ValueError(f"the white mask is one channel (L), got {coverage.mode}")
    out = io.BytesIO()
    coverage.save(
        out,
        format="TIFF",
        compression="tiff_lzw",
        dpi=(dpi, dpi),
        tiffinfo=_TIFF_PREDICTOR_HORIZONTAL,
    )
    return out.getvalue()
