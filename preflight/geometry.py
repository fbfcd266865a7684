"""The one geometry convention of the project, and the placement maths.

Convention (everything else in the code relies on it):

* **Canvas** = the bleed box of a template rendered at the template's print dpi. Its origin is
  the **top-left corner of the bleed box**, x grows to the right, y grows **down**.
* Template dimensions are authored in **mm relative to the top-left of the trim box**, seen
  from the printed side (the back of the case, as the customer looks at it). Canvas mm = trim mm
  + bleed. ``mm_to_px`` is the only mm→px conversion; nothing else multiplies by 25.4.
* Pixel ``(i, j)`` covers ``[i, i+1) × [j, j+1)``; its centre is at ``(i + 0.5, j + 0.5)``.
* Points and sizes are written Pillow-style ``(x, y)`` / ``(width, height)``. NumPy arrays are
  indexed ``[row, col]`` = ``[y, x]``; convert at the boundary, never in between.
* Rotation is in **degrees clockwise** as seen on the canvas (y down). Pillow's
  ``Image.rotate`` is counter-clockwise, so code calling it negates the angle.
* A placement puts the artwork's centre at ``center`` (normalised 0–1 over the canvas) and
  scales it by ``fit scale × scale``, where the fit is computed on the bounding box of the
  *rotated* artwork: ``cover`` fills the canvas, ``contain`` shows the whole artwork.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from preflight.errors import InvalidPlacement

__all__ = [
    "MM_PER_INCH",
    "Box",
    "Placement",
    "ResolvedPlacement",
    "mm_to_px",
    "px_to_mm",
    "resolve_placement",
]

MM_PER_INCH = 25.4


def mm_to_px(mm: float, dpi: float) -> float:
    """Convert a length in millimetres to (fractional) pixels at ``dpi``."""
    return mm / MM_PER_INCH * dpi


def px_to_mm(px: float, dpi: float) -> float:
    """Convert a length in pixels at ``dpi`` to millimetres."""
    return px * MM_PER_INCH / dpi


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in canvas pixels: top-left ``(x, y)`` and size."""

    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height

    def to_px_list(self) -> list[float]:
        return [round(self.x, 2), round(self.y, 2), round(self.width, 2), round(self.height, 2)]

    def to_mm_list(self, dpi: float) -> list[float]:
        return [round(px_to_mm(v, dpi), 2) for v in (self.x, self.y, self.width, self.height)]


class Placement(BaseModel):
    """How the partner asks the artwork to sit on the canvas (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fit: Literal["cover", "contain"] = Field(
        "cover", description="cover fills the canvas (may crop); contain shows all the artwork"
    )
    rotate_deg: float = Field(
        0.0, ge=-360.0, le=360.0, description="rotation in degrees, clockwise, any angle"
    )
    scale: float = Field(
        1.0, gt=0.05, le=20.0, description="size relative to the fit (1 = exactly the fit)"
    )
    center: tuple[float, float] = Field(
        (0.5, 0.5), description="artwork centre, normalised 0–1 over the canvas (x, y)"
    )

    @field_validator("center")
    @classmethod
    def _center_on_canvas(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= v <= 1.0 for v in value):  # also refuses NaN
            raise ValueError(
                f"center {value} is off the canvas: x and y go from 0 to 1 (0.5,0.5 is the middle)"
            )
        return value

    @field_validator("rotate_deg", "scale")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @classmethod
    def parse(cls, **fields: object) -> Placement:
        """Build a placement from user input, turning validation errors into one clear error."""
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'placement'}: {err['msg']}"
                for err in exc.errors()
            )
            raise InvalidPlacement(f"invalid placement ({problems})") from exc


@dataclass(frozen=True)
class ResolvedPlacement:
    """A placement worked out for one artwork size on one canvas.

    ``scale`` is canvas pixels per artwork pixel after fit and the partner's scale: above 1 the
    artwork is enlarged. ``effective_ppi`` is artwork pixels per printed inch.
    """

    placement: Placement
    artwork_size: tuple[int, int]
    canvas_size: tuple[int, int]
    print_dpi: float
    fit_scale: float
    scale: float
    center_px: tuple[float, float]

    @property
    def quad_px(self) -> tuple[tuple[float, float], ...]:
        """The four artwork corners on the canvas: top-left, top-right, bottom-right,
        bottom-left."""
        a, b, c, d, e, f = self.artwork_to_canvas()
        aw, ah = self.artwork_size
        return tuple(
            (a * x + b * y + c, d * x + e * y + f) for x, y in ((0, 0), (aw, 0), (aw, ah), (0, ah))
        )

    @property
    def rotate_deg(self) -> float:
        return self.placement.rotate_deg

    @property
    def effective_ppi(self) -> float:
        return self.print_dpi / self.scale

    @property
    def bounding_box(self) -> Box:
        xs = [p[0] for p in self.quad_px]
        ys = [p[1] for p in self.quad_px]
        return Box(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))

    def artwork_to_canvas(self) -> tuple[float, float, float, float, float, float]:
        """Affine coefficients ``(a, b, c, d, e, f)`` mapping an artwork pixel to the canvas:
        ``q = c + s·R(θ)·(p − a_c)``, i.e. ``x = a·px + b·py + c``, ``y = d·px + e·py + f``."""
        theta = math.radians(self.rotate_deg)
        cos_t, sin_t = math.cos(theta), math.sin(theta)
        s = self.scale
        cx, cy = self.center_px
        aw, ah = self.artwork_size
        a, b = s * cos_t, -s * sin_t
        d, e = s * sin_t, s * cos_t
        return (a, b, cx - a * aw / 2 - b * ah / 2, d, e, cy - d * aw / 2 - e * ah / 2)

    def canvas_to_artwork(self) -> tuple[float, float, float, float, float, float]:
        """Affine coefficients ``(a, b, c, d, e, f)`` mapping a canvas point to artwork pixels.

        ``x_art = a·x + b·y + c``, ``y_art = d·x + e·y + f`` (Pillow's ``Image.transform`` form).
        """
        theta = math.radians(self.rotate_deg)
        cos_t, sin_t = math.cos(theta), math.sin(theta)
        inv = 1.0 / self.scale
        cx, cy = self.center_px
        aw, ah = self.artwork_size
        # Inverse of q = c + s·R(θ)·(p − a_c): p = a_c + (1/s)·R(−θ)·(q − c).
        a, b = inv * cos_t, inv * sin_t
        d, e = -inv * sin_t, inv * cos_t
        return (a, b, aw / 2 - a * cx - b * cy, d, e, ah / 2 - d * cx - e * cy)

    def to_dict(self) -> dict[str, object]:
        return {
            "fit": self.placement.fit,
            "rotate_deg": self.placement.rotate_deg,
            "scale": self.placement.scale,
            "center": list(self.placement.center),
            "fit_scale": round(self.fit_scale, 6),
            "canvas_px_per_artwork_px": round(self.scale, 6),
            "effective_ppi": round(self.effective_ppi, 1),
            "artwork_box_px": self.bounding_box.to_px_list(),
            "artwork_box_mm": self.bounding_box.to_mm_list(self.print_dpi),
        }


def resolve_placement(
    placement: Placement,
    artwork_size: tuple[int, int],
    canvas_size: tuple[int, int],
    print_dpi: float,
) -> ResolvedPlacement:
    """Work out scale, centre and corner positions of ``artwork_size`` on ``canvas_size``."""
    aw, ah = artwork_size
    cw, ch = canvas_size
    if aw <= 0 or ah <= 0:
        raise InvalidPlacement(f"artwork has no pixels ({aw}×{ah})")
    theta = math.radians(placement.rotate_deg)
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    rotated_w = abs(aw * cos_t) + abs(ah * sin_t)
    rotated_h = abs(aw * sin_t) + abs(ah * cos_t)
    fit = max if placement.fit == "cover" else min
    fit_scale = fit(cw / rotated_w, ch / rotated_h)
    scale = fit_scale * placement.scale
    cx, cy = placement.center[0] * cw, placement.center[1] * ch
    return ResolvedPlacement(
        placement=placement,
        artwork_size=artwork_size,
        canvas_size=canvas_size,
        print_dpi=print_dpi,
        fit_scale=fit_scale,
        scale=scale,
        center_px=(cx, cy),
    )
