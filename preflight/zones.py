"""Template zones as canvas-pixel masks: where content is hidden, cut or at risk.

* a **cutout zone** is a cutout grown by its keep-out margin (the hole plus the rim where
  content looks cut or hidden);
* the **content-safe box** is the trim inset by the safe margin, and on wrap products also by
  the side walls (they are for backgrounds only: their content bends round the edge).

Shapes follow :mod:`preflight.geometry` and are drawn with Pillow, like the designer's guide.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from preflight.geometry import Box, mm_to_px
from preflight.templates import Cutout, Template

__all__ = ["content_safe_box", "cutout_box", "cutout_radius_px", "cutout_zone_masks"]


def cutout_box(template: Template, cut: Cutout, grow_mm: float = 0.0) -> Box:
    """A cutout's bounding box in canvas px, grown by ``grow_mm`` on every side."""
    return template.mm_box(
        cut.x_mm - grow_mm,
        cut.y_mm - grow_mm,
        cut.width_mm + 2 * grow_mm,
        cut.height_mm + 2 * grow_mm,
    )


def cutout_radius_px(template: Template, cut: Cutout, grow_mm: float = 0.0) -> float:
    """Corner radius of a (grown) cutout in canvas px; a circle's is half its width."""
    if cut.shape == "circle":
        return mm_to_px(cut.width_mm / 2 + grow_mm, template.print_dpi)
    if cut.shape == "rounded_rect":
        return mm_to_px(cut.corner_radius_mm + grow_mm, template.print_dpi)
    return mm_to_px(grow_mm, template.print_dpi)


def content_safe_box(template: Template) -> Box:
    """Where important content is safe from the cut (and, on wraps, from the side walls)."""
    inset = template.safe_inset_mm + template.wrap_mm
    return template.mm_box(
        inset, inset, template.trim_width_mm - 2 * inset, template.trim_height_mm - 2 * inset
    )


@lru_cache(maxsize=64)
def cutout_zone_masks(template: Template) -> tuple[np.ndarray, ...]:
    """One boolean canvas mask per cutout: the opening plus its keep-out margin."""
    masks = []
    for cut in template.cutouts:
        mask = Image.new("1", template.canvas_size_px, 0)
        box = cutout_box(template, cut, cut.keep_out_mm)
        ImageDraw.Draw(mask).rounded_rectangle(
            (box.x, box.y, box.right - 1, box.bottom - 1),
            radius=cutout_radius_px(template, cut, cut.keep_out_mm),
            fill=1,
        )
        masks.append(np.asarray(mask, dtype=bool))
    return tuple(masks)
