"""The designer's template guide: what partners download to design for a case.

Drawn from the template's geometry alone (see :mod:`preflight.geometry`): the bleed area
shaded, the cut line (trim), the safe line, and every cutout with its keep-out margin. The PNG
is at print size (canvas px at the print dpi); the SVG is in millimetres.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from xml.sax.saxutils import escape

from PIL import Image, ImageDraw, ImageFont

from preflight.drawing import (
    CUT_LINE,
    CUTOUT_EDGE,
    KEEP_OUT_LINE,
    SAFE_LINE,
    dashed_rounded_rect,
    inclusive,
)
from preflight.geometry import mm_to_px
from preflight.templates import Cutout, Template
from preflight.zones import cutout_box, cutout_radius_px

__all__ = ["render_guide_png", "render_guide_svg"]

_BLEED_FILL = (255, 228, 225)
_TEXT = (60, 60, 60)


@dataclass(frozen=True)
class _Legend:
    cut: str = "cut line (trim)"
    safe: str = "safe line: keep text and faces inside"
    bleed: str = "bleed: extend the background to the edge"
    keep_out: str = "camera keep-out: nothing important here"


def render_guide_png(template: Template) -> bytes:
    """The guide as a PNG at print size, with 300 dpi resolution tags."""
    width, height = template.canvas_size_px
    dpi = template.print_dpi
    image = Image.new("RGB", (width, height), _BLEED_FILL)
    draw = ImageDraw.Draw(image)
    line = max(2, round(mm_to_px(0.3, dpi)))
    trim = template.trim_box
    radius = mm_to_px(template.corner_radius_mm, dpi)
    draw.rounded_rectangle(inclusive(trim), radius=radius, fill=(255, 255, 255))
    draw.rounded_rectangle(inclusive(trim), radius=radius, outline=CUT_LINE, width=line)
    safe_radius = max(0.0, radius - mm_to_px(template.safe_inset_mm, dpi))
    dashed_rounded_rect(image, template.safe_box, safe_radius, SAFE_LINE, line)
    for cut in template.cutouts:
        keep = cutout_box(template, cut, cut.keep_out_mm)
        dashed_rounded_rect(
            image, keep, cutout_radius_px(template, cut, cut.keep_out_mm), KEEP_OUT_LINE, line
        )
        box = cutout_box(template, cut)
        draw.rounded_rectangle(
            inclusive(box),
            radius=cutout_radius_px(template, cut),
            fill=(200, 200, 200),
            outline=CUTOUT_EDGE,
            width=line,
        )
    font = ImageFont.load_default(size=max(12, round(mm_to_px(2.2, dpi))))
    legend = _Legend()
    # The legend sits in the middle of the safe area, clear of every line and cutout. ASCII
    # only: Pillow's built-in font has no glyphs for "×" or "—".
    step = mm_to_px(3.2, dpi)
    lines = [
        (f"{template.name} - {template.id}", _TEXT),
        (f"canvas {width}x{height} px at {dpi} dpi", _TEXT),
        (
            f"trim {template.trim_width_mm}x{template.trim_height_mm} mm, "
            f"bleed {template.bleed_mm} mm",
            _TEXT,
        ),
        (legend.cut, CUT_LINE),
        (legend.safe, SAFE_LINE),
        (legend.bleed, (176, 80, 80)),
        (legend.keep_out, KEEP_OUT_LINE),
    ]
    x = template.safe_box.x + mm_to_px(1.5, dpi)
    y = trim.y + trim.height / 2 - step * len(lines) / 2
    for i, (text, colour) in enumerate(lines):
        draw.text((x, y + i * step), text, fill=colour, font=font)
    out = io.BytesIO()
    image.save(out, format="PNG", dpi=(dpi, dpi), optimize=False)
    return out.getvalue()


def _svg_shape(template: Template, cut: Cutout, grow: float, attrs: str) -> str:
    off = template.bleed_mm
    x, y = cut.x_mm - grow + off, cut.y_mm - grow + off
    w, h = cut.width_mm + 2 * grow, cut.height_mm + 2 * grow
    if cut.shape == "circle":
        return f'<circle cx="{x + w / 2:.3f}" cy="{y + h / 2:.3f}" r="{w / 2:.3f}" {attrs}/>'
    r = cut.corner_radius_mm + grow if cut.shape == "rounded_rect" else grow
    return f'<rect x="{x:.3f}" y="{y:.3f}" width="{w:.3f}" height="{h:.3f}" rx="{r:.3f}" {attrs}/>'


def render_guide_svg(template: Template) -> bytes:
    """The guide as SVG in millimetres (1 user unit = 1 mm), canvas = bleed box."""
    b = template.bleed_mm
    cw, ch = template.trim_width_mm + 2 * b, template.trim_height_mm + 2 * b
    tw, th = template.trim_width_mm, template.trim_height_mm
    s = template.safe_inset_mm
    r = template.corner_radius_mm
    legend = _Legend()
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{cw:.3f}mm" height="{ch:.3f}mm" '
        f'viewBox="0 0 {cw:.3f} {ch:.3f}">',
        f"<title>{escape(template.name)} ({escape(template.id)}) print template</title>",
        f'<rect id="bleed" x="0" y="0" width="{cw:.3f}" height="{ch:.3f}" fill="#ffe4e1"/>',
        f'<rect id="trim" x="{b:.3f}" y="{b:.3f}" width="{tw:.3f}" height="{th:.3f}" '
        f'rx="{r:.3f}" fill="#ffffff" stroke="#dc1e1e" stroke-width="0.3"/>',
        f'<rect id="safe" x="{b + s:.3f}" y="{b + s:.3f}" width="{tw - 2 * s:.3f}" '
        f'height="{th - 2 * s:.3f}" rx="{max(0.0, r - s):.3f}" fill="none" stroke="#1478dc" '
        'stroke-width="0.3" stroke-dasharray="1.2 1.2"/>',
    ]
    for i, cut in enumerate(template.cutouts):
        parts.append(
            _svg_shape(
                template,
                cut,
                cut.keep_out_mm,
                f'id="keep-out-{i}" fill="none" stroke="#f09600" stroke-width="0.3" '
                'stroke-dasharray="1.2 1.2"',
            )
        )
        parts.append(
            _svg_shape(
                template,
                cut,
                0.0,
                f'id="cutout-{i}" fill="#c8c8c8" stroke="#282828" stroke-width="0.3"',
            )
        )
    text_x = b + s + 1.5
    text_y = b + th - s - 14
    for i, (text, colour) in enumerate(
        [
            (f"{template.name} — {template.id}", "#3c3c3c"),
            (legend.cut, "#dc1e1e"),
            (legend.safe, "#1478dc"),
            (legend.bleed, "#b05050"),
            (legend.keep_out, "#f09600"),
        ]
    ):
        parts.append(
            f'<text x="{text_x:.2f}" y="{text_y + i * 3:.2f}" font-family="sans-serif" '
            f'font-size="2.2" fill="{colour}">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return ("\n".join(parts) + "\n").encode("utf-8")
