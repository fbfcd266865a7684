"""Small drawing helpers shared by the guide, the proof mockup and the annotated pictures.

Pillow draws no dashed lines and does not antialias filled shapes; these helpers add both.
Boxes follow :mod:`preflight.geometry` (half-open, in the picture's own pixels).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable

from PIL import Image, ImageDraw, ImageFont

from preflight.geometry import Box

__all__ = [
    "CUTOUT_EDGE",
    "CUT_LINE",
    "KEEP_OUT_LINE",
    "SAFE_LINE",
    "Colour",
    "antialiased_mask",
    "ascii_text",
    "dashed_rounded_rect",
    "fit_text",
    "font",
    "inclusive",
    "scaled",
    "wrap_text",
]

Colour = tuple[int, int, int]

# One palette for every picture of a template, so a partner learns it once.
CUT_LINE: Colour = (220, 30, 30)
SAFE_LINE: Colour = (20, 120, 220)
CUTOUT_EDGE: Colour = (40, 40, 40)
KEEP_OUT_LINE: Colour = (240, 150, 0)
_SUPERSAMPLE = 2  # 4 looks no better under the edge shading and costs 4× the pixels


def inclusive(box: Box) -> tuple[float, float, float, float]:
    """Pillow's rectangle corners, inclusive of both ends (our boxes are half-open)."""
    return (box.x, box.y, box.right - 1, box.bottom - 1)


def scaled(box: Box, factor: float, dx: float = 0.0, dy: float = 0.0) -> Box:
    """``box`` scaled by ``factor`` and then moved by (dx, dy)."""
    return Box(box.x * factor + dx, box.y * factor + dy, box.width * factor, box.height * factor)


def dashed_rounded_rect(
    image: Image.Image, box: Box, radius: float, colour: Colour, width: int
) -> None:
    """Outline ``box`` with a dashed rounded rectangle, drawn in place."""
    # Draw the outline on a mask and keep every other diagonal band as the dashes.
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle(inclusive(box), radius=radius, outline=255, width=width)
    dash = max(4, width * 4)
    pattern = Image.new("L", mask.size, 0)
    pattern_draw = ImageDraw.Draw(pattern)
    for offset in range(0, mask.width + mask.height, 2 * dash):
        pattern_draw.line([(offset, 0), (offset - mask.height, mask.height)], fill=255, width=dash)
    dashed = Image.new("L", mask.size, 0)
    dashed.paste(mask, (0, 0), pattern)
    image.paste(colour, (0, 0), dashed)


def antialiased_mask(size: tuple[int, int], shapes: Iterable[tuple[Box, float]]) -> Image.Image:
    """An L mask of ``size`` with rounded rectangles (box, corner radius) filled, with smooth
    edges: drawn at a multiple of the size, then reduced with a box filter."""
    big = Image.new("L", (size[0] * _SUPERSAMPLE, size[1] * _SUPERSAMPLE), 0)
    draw = ImageDraw.Draw(big)
    for box, radius in shapes:
        draw.rounded_rectangle(
            inclusive(scaled(box, _SUPERSAMPLE)), radius=radius * _SUPERSAMPLE, fill=255
        )
    return big.reduce(_SUPERSAMPLE)


def font(size_px: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in font at ``size_px``. ASCII only: it has no "×", "—" or "Δ" glyphs."""
    return ImageFont.load_default(size=max(10, round(size_px)))


def fit_text(
    text: str, width_px: float, typeface: ImageFont.FreeTypeFont | ImageFont.ImageFont
) -> str:
    """``text`` shortened with "..." so that it fits in ``width_px``."""
    if typeface.getlength(text) <= width_px:
        return text
    low, high = 0, len(text)  # binary search: the longest prefix that fits with the dots
    while low < high:
        middle = (low + high + 1) // 2
        if typeface.getlength(text[:middle] + "...") <= width_px:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + "..."


_ASCII = str.maketrans(
    {
        "×": "x",
        "—": "-",
        "–": "-",
        "Δ": "d",
        "≥": ">=",
        "≤": "<=",
        "°": " deg",
        "’": "'",
        "“": '"',
        "”": '"',
        "…": "...",
    }
)


def ascii_text(text: str) -> str:
    """``text`` with the typographic characters the built-in font lacks spelled in ASCII."""
    return text.translate(_ASCII)


def wrap_text(
    text: str,
    width_px: float,
    typeface: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    max_lines: int = 3,
) -> list[str]:
    """``text`` broken at spaces into lines no wider than ``width_px``; the last of
    ``max_lines`` lines ends in "..." if the text is longer."""
    lines: list[str] = []
    words = text.split()
    # Each word measured once (a call costs about as much as measuring the whole text); a run
    # of words is as wide as its words and the spaces between them (the built-in font has no
    # kerning across a space).
    space = typeface.getlength(" ")
    ends = list(itertools.accumulate(typeface.getlength(word) + space for word in words))
    first = 0  # index of the current line's first word
    while first < len(words) and len(lines) < max_lines:
        before = ends[first - 1] if first else 0.0
        # The most words that fit (at least one).
        fits = bisect.bisect_right(ends, before + width_px + space, lo=first) - first
        fits = max(1, fits)
        lines.append(fit_text(" ".join(words[first : first + fits]), width_px, typeface))
        first += fits
    words = words[first:]
    if words and lines:
        lines[-1] = fit_text(lines[-1] + " " + " ".join(words), width_px, typeface)
    return lines
