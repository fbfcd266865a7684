"""Small drawing helpers shared by the guide, the proof mockup and the annotated pictures.

Pillow draws no dashed lines and does not antialias filled shapes; these helpers add both.
Boxes follow :mod:`preflight.geometry` (half-open, in the picture's own pixels).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable
from functools import lru_cache

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
    "draw_text",
    "fit_text",
    "font",
    "inclusive",
    "scaled",
    "text_length",
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


Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def font(size_px: float) -> Font:
    """Pillow's built-in font at ``size_px``. ASCII only: it has no "×", "—" or "Δ" glyphs.

    One object per size, so that what is measured and drawn with it can be kept
    (:func:`text_length`, :func:`draw_text`)."""
    return _font(max(10, round(size_px)))


@lru_cache(maxsize=64)
def _font(size: int) -> Font:
    return ImageFont.load_default(size=size)


# Why text is cached: the legends under the overlay and the colour-shift map are measured
# word by word and drawn line by line in every job (~16 ms of an iPhone job's CPU, ~30 ms of
# an iPad job's), holding Python's GIL all along (Pillow's FreeType calls do not release it).
# Most words and many lines (the legend items, the codes) recur from job to job.


@lru_cache(maxsize=8192)
def text_length(typeface: Font, text: str) -> float:
    """``typeface.getlength(text)``, remembered."""
    return typeface.getlength(text)


_MASK_PAD = 2  # px round the text's box: the fractional start moves the glyphs by < 1 px


@lru_cache(maxsize=512)
def _text_mask(
    typeface: Font, text: str, fraction: tuple[float, float]
) -> tuple[Image.Image, tuple[int, int]] | None:
    """The coverage ImageDraw gives ``text`` drawn at a point whose fractional part is
    ``fraction``, cropped to its ink, and where its top-left lies from the point's whole part."""
    left, top, right, bottom = typeface.getbbox(text)
    origin = (_MASK_PAD + max(0, -math.floor(left)), _MASK_PAD + max(0, -math.floor(top)))
    size = (
        origin[0] + math.ceil(right) + _MASK_PAD + 1,
        origin[1] + math.ceil(bottom) + _MASK_PAD + 1,
    )
    mask = Image.new("L", size, 0)
    # origin + fraction is exact (the point less a whole number), so ImageDraw splits it into
    # the same whole part and fraction as it does the real point: the same glyph positions.
    ImageDraw.Draw(mask).text(
        (origin[0] + fraction[0], origin[1] + fraction[1]), text, fill=255, font=typeface
    )
    ink = mask.getbbox()
    if ink is None:
        return None
    return mask.crop(ink), (ink[0] - origin[0], ink[1] - origin[1])


def draw_text(
    image: Image.Image, xy: tuple[float, float], text: str, fill: Colour, typeface: Font
) -> None:
    """``ImageDraw.Draw(image).text(xy, text, fill=fill, font=typeface)``, pixel for pixel,
    from a remembered coverage mask (see :func:`text_length` for why)."""
    x, y = xy
    if x < 0 or y < 0 or "\n" in text or image.mode != "RGB":
        ImageDraw.Draw(image).text(xy, text, fill=fill, font=typeface)
        return
    whole_x, fraction_x = int(x), x - int(x)
    whole_y, fraction_y = int(y), y - int(y)
    cut = _text_mask(typeface, text, (fraction_x, fraction_y))
    if cut is None:
        return
    mask, (dx, dy) = cut
    # The same blend ImageDraw applies (ink through the glyphs' coverage).
    image.paste(fill, (whole_x + dx, whole_y + dy), mask)


def fit_text(
    text: str, width_px: float, typeface: Font
) -> str:
    """``text`` shortened with "..." so that it fits in ``width_px``."""
    if text_length(typeface, text) <= width_px:
        return text
    low, high = 0, len(text)  # binary search: the longest prefix that fits with the dots
    while low < high:
        middle = (low + high + 1) // 2
        if text_length(typeface, text[:middle] + "...") <= width_px:
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
    typeface: Font,
    max_lines: int = 3,
) -> list[str]:
    """``text`` broken at spaces into lines no wider than ``width_px``; the last of
    ``max_lines`` lines ends in "..." if the text is longer."""
    lines: list[str] = []
    words = text.split()
    # Each word measured once (a call costs about as much as measuring the whole text); a run
    # of words is as wide as its words and the spaces between them (the built-in font has no
    # kerning across a space).
    space = text_length(typeface, " ")
    ends = list(itertools.accumulate(text_length(typeface, word) + space for word in words))
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
