"""Annotated pictures of the placed artwork: the findings overlay and the colour-shift map.

Both show the whole canvas (bleed box) reduced to ``ANNOTATED_HEIGHT_PX`` tall, with a legend
band underneath, so a person understands them without the report:

* ``overlay.png``: the artwork as placed, the bleed washed out (it is cut away), the cut line,
  the safe line, each camera cutout (darkened: nothing prints there) with its keep-out line,
  and every finding's region outlined in its severity's colour and labelled with its code.
* ``color-shift.png``: the artwork in grey with the predicted colour difference between
  artwork and print (CIEDE2000) painted over it in four bands, with the figures and the worst
  colours side by side (artwork and predicted print).

Picture coordinates: canvas px × ``scale`` (same origin and axes as :mod:`preflight.geometry`),
so a finding's ``region.px`` maps straight onto either picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from preflight.colorshift import SHIFT_LEVELS, ColorShift
from preflight.drawing import (
    CUT_LINE,
    CUTOUT_EDGE,
    KEEP_OUT_LINE,
    SAFE_LINE,
    Colour,
    ascii_text,
    dashed_rounded_rect,
    draw_text,
    font,
    inclusive,
    scaled,
    text_length,
    wrap_text,
)
from preflight.findings import Finding, Severity
from preflight.geometry import mm_to_px
from preflight.resample import BOX, from_pixels, resize, to_pixels
from preflight.templates import Template
from preflight.zones import cutout_box, cutout_radius_px

__all__ = [
    "ANNOTATED_HEIGHT_PX",
    "Annotated",
    "reduce_canvas",
    "render_color_shift_map",
    "render_overlay",
]

ANNOTATED_HEIGHT_PX = 1200  # the canvas part; the legend band is added below
SEVERITY_COLOURS: dict[Severity, Colour] = {
    Severity.ERROR: (200, 0, 40),
    Severity.WARNING: (235, 120, 0),
    Severity.INFO: (40, 110, 200),
}
_BLEED_WASH = 0.55  # how much the bleed (cut away) fades towards white
_CUTOUT_SHADE = 0.55  # how much a cutout (nothing prints) darkens
_LEGEND_BG = (250, 250, 250)
_TEXT = (40, 40, 40)
# Colour-shift bands: (lower ΔE2000 bound, colour, opacity, meaning). Below the first bound
# the artwork shows through in grey: a difference nobody sees.
_SHIFT_BANDS: tuple[tuple[float, Colour, float, str], ...] = (
    (SHIFT_LEVELS[0], (250, 215, 0), 0.55, "visible side by side"),
    (SHIFT_LEVELS[1], (245, 130, 0), 0.70, "clearly different"),
    (SHIFT_LEVELS[2], (215, 0, 60), 0.80, "a different colour"),
)
# The colour-shift map's background: the artwork's lightness, lightened (110–255).
_LIGHT_GREY = [110 + v * 145 // 255 for v in range(256)]


@lru_cache(maxsize=1)
def _painted_greys() -> np.ndarray:
    """Every grey level as the colour-shift map paints it for a pixel in none, one, two or
    all three bands (they nest): RGBX words, indexed by bands × 256 + grey.

    Made by Pillow's own pastes of the bands' colours through their masks, so a map made by
    one lookup per pixel has the bytes those pastes give (they took 4 ms of a phone job,
    a paste per band over most of the picture, plus the grey's conversion to RGB).
    """
    greys = Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (4, 1)), "L")
    painted = greys.convert("RGB")
    for band, (_, colour, opacity, _) in enumerate(_SHIFT_BANDS):
        mask = np.zeros((4, 256), np.uint8)
        mask[band + 1 :] = round(255 * opacity)  # the rows of pixels in this band and more
        painted.paste(colour, (0, 0, 256, 4), Image.fromarray(mask, "L"))
    words: np.ndarray = to_pixels(painted).view(np.uint32).reshape(-1)
    words.setflags(write=False)
    return words


@dataclass(frozen=True)
class Annotated:
    """An annotated picture and its scale (picture px per canvas px)."""

    image: Image.Image
    scale: float
    canvas_size_px: tuple[int, int]  # the canvas part of the picture, without the legend

    def to_dict(self) -> dict[str, object]:
        return {
            "size_px": list(self.image.size),
            "canvas_part_px": list(self.canvas_size_px),
            "scale": round(self.scale, 6),
        }


def reduce_canvas(display: Image.Image, height_px: int = ANNOTATED_HEIGHT_PX) -> Image.Image:
    """The canvas (RGB, L or CMYK) reduced to ``height_px`` tall, once for both pictures. A
    box filter: each picture pixel is the mean of the canvas pixels it covers (no ringing).
    Reduced first, converted after: the full canvas is never copied."""
    scale = height_px / display.height
    size = (round(display.width * scale), height_px)
    reduced = resize(display, size, BOX)  # Pillow's BOX resize, compiled (the same bytes)
    return reduced if reduced.mode in ("RGB", "CMYK") else reduced.convert("RGB")


def _scale_of(picture: Image.Image, template: Template) -> float:
    return picture.height / template.canvas_size_px[1]


def _wash(layer: Image.Image, mask: Image.Image, colour: Colour, amount: float) -> None:
    """Put ``colour`` at opacity ``amount`` on the RGBA ``layer`` where ``mask`` is set."""
    layer.paste((*colour, round(255 * amount)), (0, 0), mask)


def _template_lines(image: Image.Image, template: Template, scale: float) -> Image.Image:
    """Bleed washed, cutouts darkened, cut/safe/keep-out lines: the guide at ``scale``."""
    layer = _guide_layer(template, image.size, scale)
    return Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB")


@lru_cache(maxsize=32)
def _guide_layer(template: Template, size: tuple[int, int], scale: float) -> Image.Image:
    # The same for every job of a template (and picture size): drawn once, as a transparent
    # layer composited over each job's picture. The dashed lines alone cost several
    # full-picture masks each.
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    dpi = template.print_dpi
    width = max(2, round(size[1] / 600))
    trim = scaled(template.trim_box, scale)
    radius = mm_to_px(template.corner_radius_mm, dpi) * scale
    outside_trim = Image.new("L", size, 255)
    ImageDraw.Draw(outside_trim).rounded_rectangle(inclusive(trim), radius=radius, fill=0)
    _wash(layer, outside_trim, (255, 255, 255), _BLEED_WASH)
    holes = Image.new("L", size, 0)
    for cut in template.cutouts:
        ImageDraw.Draw(holes).rounded_rectangle(
            inclusive(scaled(cutout_box(template, cut), scale)),
            radius=cutout_radius_px(template, cut) * scale,
            fill=255,
        )
    _wash(layer, holes, (0, 0, 0), _CUTOUT_SHADE)
    draw = ImageDraw.Draw(layer)
    draw.rounded_rectangle(inclusive(trim), radius=radius, outline=CUT_LINE, width=width)
    safe_radius = max(0.0, radius - mm_to_px(template.safe_inset_mm, dpi) * scale)
    dashed_rounded_rect(layer, scaled(template.safe_box, scale), safe_radius, SAFE_LINE, width)
    # Every keep-out line first, then every opening, so no dashed line crosses an opening.
    for cut in template.cutouts:
        keep = scaled(cutout_box(template, cut, cut.keep_out_mm), scale)
        keep_radius = cutout_radius_px(template, cut, cut.keep_out_mm) * scale
        dashed_rounded_rect(layer, keep, keep_radius, KEEP_OUT_LINE, width)
    for cut in template.cutouts:
        draw.rounded_rectangle(
            inclusive(scaled(cutout_box(template, cut), scale)),
            radius=cutout_radius_px(template, cut) * scale,
            outline=CUTOUT_EDGE,
            width=width,
        )
    return layer


LegendItem = tuple[str, Colour | None]  # a text, after a colour swatch (or none)


def _with_legend(picture: Image.Image, paragraphs: list[list[LegendItem]]) -> Image.Image:
    """``picture`` with a legend band underneath. Each paragraph starts on a new line; its
    items flow left to right and wrap; a long text wraps onto up to three lines."""
    size = max(13.0, picture.height / 70)
    typeface = font(size)
    line_height = round(size * 1.45)
    pad = round(size * 0.6)
    swatch = round(size * 0.9)
    usable = picture.width - 2 * pad
    placed: list[tuple[float, float, str, Colour | None]] = []  # x, y, text, swatch colour
    y = float(pad)
    for paragraph in paragraphs:
        x = float(pad)
        for text, colour in paragraph:
            text = ascii_text(text)
            shown = min(text_length(typeface, text), usable / 2)
            need = (swatch + pad / 2 if colour else 0) + shown
            if x > pad and x + need > pad + usable:
                x, y = float(pad), y + line_height
            if colour is not None:
                placed.append((x, y, "", colour))
                x += swatch + pad / 2
            lines = wrap_text(text, pad + usable - x, typeface) if text else [""]
            for i, line in enumerate(lines):
                placed.append((x, y + i * line_height, line, None))
            y += line_height * (len(lines) - 1)
            x += text_length(typeface, lines[-1]) + pad
        y += line_height
    band_height = round(y + pad)
    result = Image.new("RGB", (picture.width, picture.height + band_height), _LEGEND_BG)
    result.paste(picture, (0, 0))
    draw = ImageDraw.Draw(result)
    top = picture.height
    for x, line_y, text, colour in placed:
        if colour is not None:
            offset = (line_height - swatch) / 2
            draw.rectangle(
                (x, top + line_y + offset, x + swatch, top + line_y + offset + swatch),
                fill=colour,
                outline=_TEXT,
            )
        else:
            draw_text(result, (x, top + line_y + (line_height - size) / 2), text, _TEXT, typeface)
    return result


def render_overlay(reduced: Image.Image, template: Template, findings: list[Finding]) -> Annotated:
    """The placed artwork (``reduced``: the canvas from :func:`reduce_canvas`) with the
    template's lines and every finding's region outlined and labelled with its code."""
    scale, size, height_px = _scale_of(reduced, template), reduced.size, reduced.height
    image = _template_lines(reduced.copy(), template, scale)
    draw = ImageDraw.Draw(image)
    width = max(3, round(height_px / 400))
    typeface = font(max(13, height_px / 75))
    label_height = round(max(13, height_px / 75) * 1.45)
    taken: list[tuple[float, float]] = []  # label corners used, to stack labels that coincide
    whole_file: list[Finding] = []
    ordered = sorted(findings, key=lambda f: -f.severity.rank)
    for finding in ordered:
        if finding.region is None:
            whole_file.append(finding)
            continue
        colour = SEVERITY_COLOURS[finding.severity]
        box = scaled(finding.region.box, scale)
        left = min(max(box.x, 0.0), size[0] - 1.0)
        top = min(max(box.y, 0.0), size[1] - 1.0)
        right = min(max(box.right - 1, left + 1), size[0] - 1.0)
        bottom = min(max(box.bottom - 1, top + 1), size[1] - 1.0)
        draw.rectangle((left, top, right, bottom), outline=colour, width=width)
        label = finding.code
        label_width = text_length(typeface, label) + 8
        x = min(left, size[0] - label_width)
        y = top
        while any(abs(x - tx) < label_width and abs(y - ty) < label_height for tx, ty in taken):
            y += label_height
        taken.append((x, y))
        draw.rectangle((x, y, x + label_width, y + label_height - 1), fill=colour)
        draw_text(image, (x + 4, y + 2), label, (255, 255, 255), typeface)
    rows: list[list[LegendItem]] = [
        [
            ("cut line", CUT_LINE),
            ("safe line", SAFE_LINE),
            ("camera keep-out", KEEP_OUT_LINE),
            ("bleed: cut away", (230, 230, 230)),
            ("camera hole", (90, 90, 90)),
        ],
    ]
    if not findings:
        rows.append([("No findings: nothing to fix.", None)])
    for finding in ordered:
        where = "" if finding.region else " (whole file)"
        rows.append(
            [
                (
                    f"{finding.severity.value} {finding.code}{where}: {finding.message}",
                    SEVERITY_COLOURS[finding.severity],
                )
            ]
        )
    return Annotated(_with_legend(image, rows), scale, size)


def render_color_shift_map(
    reduced: Image.Image, template: Template, shift: ColorShift | None
) -> Annotated:
    """The predicted colour difference between artwork and print, over the artwork (from
    :func:`reduce_canvas`) in light grey."""
    scale, size, height_px = _scale_of(reduced, template), reduced.size, reduced.height
    grey = reduced.convert("L").point(_LIGHT_GREY)
    legend: list[LegendItem] = [("below 2: not visible", (200, 200, 200))]
    legend += [(f"{lower:g}+: {meaning}", colour) for lower, colour, _, meaning in _SHIFT_BANDS]
    rows = [legend]
    if shift is None:
        image = grey.convert("RGB")
        rows.append([("CMYK artwork without a profile prints as supplied: no shift.", None)])
    else:
        delta = Image.fromarray(shift.delta.astype(np.float32), "F").resize(
            size, Image.Resampling.BILINEAR
        )
        delta_px = np.asarray(delta)
        printed = (
            np.asarray(
                Image.fromarray(shift.printed.astype(np.uint8) * 255, "L").resize(
                    size, Image.Resampling.NEAREST
                )
            )
            > 0
        )
        # How many bands each pixel is in (they nest: 10+ is also 5+ and 2+), as an index
        # into the painted colours of its grey level.
        index = np.asarray(grey, dtype=np.uint16)
        for lower, _, _, _ in _SHIFT_BANDS:
            index += ((delta_px >= lower) & printed).astype(np.uint16) << 8
        words = np.take(_painted_greys(), index)
        image = from_pixels(words.view(np.uint8).reshape(*index.shape, 4), "RGB")
        shares = ", ".join(
            f"above {level:g}: {shift.share_over(level) * 100:.1f}%" for level in SHIFT_LEVELS
        )
        rows.append(
            [
                (
                    f"Colour difference artwork vs print (CIEDE2000): mean {shift.mean:.1f}; "
                    f"share of the print {shares}",
                    None,
                )
            ]
        )
        worst = shift.worst_colours(above=SHIFT_LEVELS[0])
        if worst:
            row: list[LegendItem] = [("Worst colours, artwork then print:", None)]
            for entry in worst[:4]:
                row.append(("", _rgb(str(entry["artwork_rgb"]))))
                row.append((f"dE {entry['delta_e2000']}", _rgb(str(entry["predicted_rgb"]))))
            rows.append(row)
    draw = ImageDraw.Draw(image)
    trim = scaled(template.trim_box, scale)
    radius = mm_to_px(template.corner_radius_mm, template.print_dpi) * scale
    draw.rounded_rectangle(
        inclusive(trim), radius=radius, outline=CUT_LINE, width=max(2, round(height_px / 600))
    )
    return Annotated(_with_legend(image, rows), scale, size)


def _rgb(hex_colour: str) -> Colour:
    value = int(hex_colour.lstrip("#"), 16)
    return ((value >> 16) & 255, (value >> 8) & 255, value & 255)
