"""The proof mockup: the case as it will come off the printer, seen from the back.

Drawn from the template's geometry alone (every device in the catalog gets one, no photos):
the case body with its rounded corners, the camera cutouts open onto the phone, a soft shadow,
and the print **from the CMYK print file** through the output profile with paper white
(absolute colorimetric soft proof, :func:`preflight.color.soft_proof`). So the partner sees
what production prints, not the RGB screen image.

* Opaque cases: the print covers the back; uncovered artwork prints nothing and shows paper
  white, as it will.
* Clear cases: where the white mask has no white the substrate stays clear and the phone
  shows through (a dark graphite body); printed areas sit on the white underbase.

Shading touches only a band along the case edge (and, on wrap products, the side walls that
bend away): inside it the proof's pixels are the soft proof itself, which the tests check
against an independent LittleCMS soft proof of ``print.tif``.

Proof coordinates: ``px_per_mm`` px per trim millimetre, the trim box's top-left at
``trim_origin_px``; y down, as in :mod:`preflight.geometry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from preflight.color import OutputProfile, soft_proof
from preflight.drawing import antialiased_mask, ascii_text, font, inclusive, scaled, wrap_text
from preflight.geometry import Box, mm_to_px
from preflight.resample import BOX, LANCZOS, resize
from preflight.templates import Template
from preflight.zones import cutout_box, cutout_radius_px

__all__ = [
    "PROOF_HEIGHT_PX",
    "THUMBNAIL_HEIGHT_PX",
    "Mockup",
    "ProofPrint",
    "cut_print",
    "mockup_of",
    "render_mockup",
]

PROOF_HEIGHT_PX = 1200
THUMBNAIL_HEIGHT_PX = 320
_MARGIN_MM = 7.0  # room round the case for its shadow
_CAPTION_SHARE = 0.075  # of the proof height, for up to three caption lines under the case
_EDGE_SHADE_MM = 1.0  # the rounded edge of the case catches less light...
_EDGE_SHADE_DEPTH = 0.35  # ...darkening its outermost pixels by up to this much
_WALL_SHADE_DEPTH = 0.45  # wrap side walls turn away from the viewer: darker still
_BACKGROUND = (236, 236, 238)
_SHADOW_DEPTH = 0.35
_PHONE_BODY = (58, 60, 66)  # graphite: the phone under a clear case, and in the camera holes
_CLEAR_GLOSS = 0.10  # clear plastic over the phone lightens it a little...
_CLEAR_SHEEN = 0.22  # ...and reflects a soft diagonal band of light
_LENS_RING = (72, 72, 78)
_LENS_GLASS = (12, 12, 16)
_LENS_GLINT = (140, 150, 170)
_CAPTION = (70, 70, 70)


@dataclass(frozen=True)
class Mockup:
    """The proof picture, its thumbnail, and where the trim box landed in it."""

    image: Image.Image  # RGB
    thumbnail: Image.Image  # RGB
    px_per_mm: float
    trim_origin_px: tuple[int, int]
    trim_size_px: tuple[int, int]

    def mm_to_px(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        """A point in trim-box mm as proof pixels."""
        return (
            self.trim_origin_px[0] + x_mm * self.px_per_mm,
            self.trim_origin_px[1] + y_mm * self.px_per_mm,
        )

    def pictures(self) -> dict[str, Image.Image]:
        """``proof`` and ``proof-thumbnail`` as PNG and JPEG, by file name."""
        return {
            "proof.png": self.image,
            "proof.jpg": self.image,
            "proof-thumbnail.png": self.thumbnail,
            "proof-thumbnail.jpg": self.thumbnail,
        }

    def to_dict(self) -> dict[str, object]:
        return {
            "size_px": list(self.image.size),
            "thumbnail_px": list(self.thumbnail.size),
            "px_per_mm": round(self.px_per_mm, 4),
            "trim_origin_px": list(self.trim_origin_px),
            "trim_size_px": list(self.trim_size_px),
            "rendering": "soft proof of print.tif, absolute colorimetric (paper white)",
        }


@dataclass(frozen=True)
class _Stage:
    """Everything in a proof that depends on the template alone, made once per template:
    the background with the case's shadow and the caption, the case outline, the edge
    shading, and the camera openings (a transparent layer with the phone in the holes)."""

    s: float  # proof px per mm
    background: Image.Image  # RGB, the whole proof without the case
    origin: tuple[int, int]
    trim_px: tuple[int, int]
    body_mask: Image.Image  # L, the case outline, antialiased
    shade: np.ndarray  # float32 (h, w, 1): 1 inside, less towards the edge and on the walls
    openings: Image.Image  # RGBA over the body: the phone and lenses in each cutout
    phone: Image.Image | None  # RGB, the phone seen through a clear case


def _px_per_mm(template: Template, height_px: int) -> float:
    caption_px = round(height_px * _CAPTION_SHARE)
    return (height_px - caption_px) / (template.trim_height_mm + 2 * _MARGIN_MM)


def _trim_px(template: Template, s: float) -> tuple[int, int]:
    return (round(template.trim_width_mm * s), round(template.trim_height_mm * s))


@lru_cache(maxsize=32)
def _stage(template: Template, height_px: int, profile_description: str) -> _Stage:
    caption_px = round(height_px * _CAPTION_SHARE)
    s = _px_per_mm(template, height_px)
    size = (round((template.trim_width_mm + 2 * _MARGIN_MM) * s), height_px)
    origin = (round(_MARGIN_MM * s), round(_MARGIN_MM * s))
    trim_px = _trim_px(template, s)
    radius = template.corner_radius_mm * s
    body_mask = antialiased_mask(trim_px, [(Box(0, 0, trim_px[0], trim_px[1]), radius)])
    background = Image.new("RGB", size, _BACKGROUND)
    _cast_shadow(background, body_mask, origin, s)
    _caption(background, template, profile_description, caption_px)
    return _Stage(
        s=s,
        background=background,
        origin=origin,
        trim_px=trim_px,
        body_mask=body_mask,
        shade=_edge_shade(body_mask, template, s),
        openings=_openings(trim_px, template, s),
        phone=_clear_substrate(trim_px) if template.substrate == "clear" else None,
    )


@dataclass(frozen=True)
class ProofPrint:
    """The print file's pixels cut to the trim box and reduced to the proof's size (CMYK),
    and on clear cases the white mask the same way (L): all a proof reads of the canvas."""

    cmyk: Image.Image
    white: Image.Image | None
    height_px: int


def cut_print(
    cmyk_canvas: Image.Image,
    coverage: Image.Image,
    template: Template,
    height_px: int = PROOF_HEIGHT_PX,
) -> ProofPrint:
    """The part of the print file (``cmyk_canvas``, the whole canvas) and of the artwork's
    coverage (the white mask on clear cases) that a proof shows, at the proof's size.

    Reduced in CMYK, soft-proofed after (:func:`mockup_of`): the colour transform then sees
    only the proof's pixels. A step of its own in a job, so that the canvas-sized CMYK image
    can be let go while the proof is still being drawn.
    """
    trim_px = _trim_px(template, _px_per_mm(template, height_px))
    trim = template.trim_box
    crop = (trim.x, trim.y, trim.right, trim.bottom)
    return ProofPrint(
        # Pillow's BOX resizes, compiled (the same bytes: preflight.resample).
        cmyk=resize(cmyk_canvas, trim_px, BOX, box=crop),
        white=(
            resize(coverage, trim_px, BOX, box=crop)
            if template.substrate == "clear"
            else None
        ),
        height_px=height_px,
    )


def mockup_of(printed_part: ProofPrint, template: Template, output: OutputProfile) -> Mockup:
    """The proof of ``printed_part`` (from :func:`cut_print`) on ``template``'s case."""
    height_px = printed_part.height_px
    stage = _stage(template, height_px, output.info.description)
    printed = soft_proof(printed_part.cmyk, output)
    if stage.phone is not None:
        if printed_part.white is None:
            raise ValueError("a clear case's proof needs the white mask (cut_print's white)")
        printed = Image.composite(printed, stage.phone, printed_part.white)
    body = Image.fromarray(_shaded(np.asarray(printed), stage.shade), "RGB").convert("RGBA")
    body = Image.alpha_composite(body, stage.openings).convert("RGB")
    proof = stage.background.copy()
    proof.paste(body, stage.origin, stage.body_mask)
    size = proof.size
    thumb_size = (max(1, round(size[0] * THUMBNAIL_HEIGHT_PX / height_px)), THUMBNAIL_HEIGHT_PX)
    return Mockup(
        image=proof,
        # Averaged 2 x 2 first, then Lanczos for the rest (3.75x in all): 3 ms instead of 8,
        # 0.4 levels from a Lanczos of the whole step on average (6 at most).
        thumbnail=resize(proof, thumb_size, LANCZOS, reducing_gap=1.8),
        px_per_mm=stage.s,
        trim_origin_px=stage.origin,
        trim_size_px=stage.trim_px,
    )


def render_mockup(
    cmyk_canvas: Image.Image,
    coverage: Image.Image,
    template: Template,
    output: OutputProfile,
    height_px: int = PROOF_HEIGHT_PX,
) -> Mockup:
    """Render the proof from the print file's pixels (``cmyk_canvas``, the whole canvas) and
    the artwork's coverage (the white mask on clear cases)."""
    return mockup_of(cut_print(cmyk_canvas, coverage, template, height_px), template, output)


_SHADE_BAND_ROWS = 128


def _shaded(pixels: np.ndarray, shade: np.ndarray) -> np.ndarray:
    """``round(pixels × shade)`` as 8-bit, a band of rows at a time: the float32 copies of the
    whole proof (13 MB each on a tablet proof) were the peak of a job's memory."""
    out = np.empty(pixels.shape, np.uint8)
    for top in range(0, pixels.shape[0], _SHADE_BAND_ROWS):
        rows = slice(top, top + _SHADE_BAND_ROWS)
        band = pixels[rows].astype(np.float32)
        band *= shade[rows]
        out[rows] = np.round(band, out=band)
    return out


def _clear_substrate(size: tuple[int, int]) -> Image.Image:
    """The phone seen through clear plastic: lightened a little, with a diagonal sheen so it
    reads as a glossy transparent case and not as a grey one."""
    width, height = size
    across = (
        np.arange(width)[None, :] / max(1, width) + np.arange(height)[:, None] / max(1, height)
    ) / 2
    sheen = _CLEAR_GLOSS + _CLEAR_SHEEN * np.exp(-(((across - 0.35) / 0.12) ** 2))
    phone = np.array(_PHONE_BODY, dtype=np.float32)
    pixels = phone + (255.0 - phone) * sheen[..., None]
    return Image.fromarray(np.round(pixels).astype(np.uint8), "RGB")


def _edge_shade(body_mask: Image.Image, template: Template, s: float) -> np.ndarray:
    # How far inside the case each pixel is, softly: a blurred copy of the body mask is 255
    # well inside and falls off towards the edge. Pixels at full value are left untouched.
    darkness = np.zeros((body_mask.height, body_mask.width), dtype=np.float32)
    edge = np.asarray(body_mask.filter(ImageFilter.GaussianBlur(_EDGE_SHADE_MM * s)), np.float32)
    darkness += _EDGE_SHADE_DEPTH * (1.0 - edge / 255.0)
    if template.print_mode == "wrap" and template.wrap_mm > 0:
        wall = np.asarray(
            body_mask.filter(ImageFilter.GaussianBlur(template.wrap_mm * s / 2)), np.float32
        )
        darkness += _WALL_SHADE_DEPTH * (1.0 - wall / 255.0)
    shade: np.ndarray = np.clip(1.0 - darkness, 0.0, 1.0)[..., None]
    return shade


def _openings(size: tuple[int, int], template: Template, s: float) -> Image.Image:
    # The case is see-through at each cutout: the phone's camera island and lenses show.
    bleed = mm_to_px(template.bleed_mm, template.print_dpi)
    to_proof = s * 25.4 / template.print_dpi  # canvas px → proof px
    holes = [
        (
            cut,
            scaled(cutout_box(template, cut), to_proof, -bleed * to_proof, -bleed * to_proof),
            cutout_radius_px(template, cut) * to_proof,
        )
        for cut in template.cutouts
    ]
    # The phone's colour everywhere, opaque only in the holes (antialiased edges blend).
    layer = Image.new("RGBA", size, (*_PHONE_BODY, 0))
    layer.putalpha(antialiased_mask(size, [(h, r) for _, h, r in holes]))
    draw = ImageDraw.Draw(layer)
    for cut, hole, radius in holes:
        # The case wall round the hole: a thin darker ring.
        wall = max(1, round(0.5 * s))
        draw.rounded_rectangle(inclusive(hole), radius, outline=(35, 35, 38), width=wall)
        for cx, cy, r in _lenses(hole, round_hole=cut.shape == "circle"):
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_LENS_RING)
            inner = r * 0.68
            draw.ellipse((cx - inner, cy - inner, cx + inner, cy + inner), fill=_LENS_GLASS)
            glint = max(1.0, r * 0.16)
            gx, gy = cx - inner * 0.35, cy - inner * 0.35
            draw.ellipse((gx - glint, gy - glint, gx + glint, gy + glint), fill=_LENS_GLINT)
    return layer


def _lenses(hole: Box, round_hole: bool) -> list[tuple[float, float, float]]:
    """Schematic lens positions in a hole: one in a round hole, a 2×2 island in a squarish
    one, two in a row along a long one. Illustration only; the hole outline is the geometry."""
    cx, cy = hole.x + hole.width / 2, hole.y + hole.height / 2
    short = min(hole.width, hole.height)
    aspect = hole.width / hole.height if hole.height else 1.0
    if round_hole:
        return [(cx, cy, short * 0.36)]
    if 0.8 <= aspect <= 1.25:
        step = short * 0.25
        return [(cx + dx * step, cy + dy * step, short * 0.19) for dx in (-1, 1) for dy in (-1, 1)]
    if aspect > 1.25:
        step = hole.width * 0.25
        return [(cx - step, cy, short * 0.36), (cx + step, cy, short * 0.36)]
    step = hole.height * 0.25
    return [(cx, cy - step, short * 0.36), (cx, cy + step, short * 0.36)]


def _cast_shadow(
    proof: Image.Image, body_mask: Image.Image, origin: tuple[int, int], s: float
) -> None:
    shadow = Image.new("L", proof.size, 0)
    shadow.paste(body_mask, (origin[0], origin[1] + round(0.8 * s)))
    shadow = shadow.filter(ImageFilter.GaussianBlur(2.0 * s))
    dark = Image.new("RGB", proof.size, (0, 0, 0))
    proof.paste(dark, (0, 0), shadow.point(lambda v: round(v * _SHADOW_DEPTH)))


def _caption(proof: Image.Image, template: Template, profile_description: str, height: int) -> None:
    text = (
        f"{template.name}"
        + (
            ": the phone shows through where nothing is printed."
            if template.substrate == "clear"
            else "."
        )
        + f" Soft proof of print.tif on {profile_description}, paper white included."
    )
    typeface = font(height * 0.22)
    margin = height * 0.3
    draw = ImageDraw.Draw(proof)
    lines = wrap_text(ascii_text(text), proof.width - 2 * margin, typeface, max_lines=3)
    for i, line in enumerate(lines):
        y = proof.height - height + height * (0.05 + 0.3 * i)
        draw.text((margin, y), line, fill=_CAPTION, font=typeface)
