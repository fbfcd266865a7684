"""The proof mockup, findings overlay and colour-shift map: geometry and colour.

Geometry is checked against the template's millimetres, computed here from the template's
fields (not through the renderers' helpers); colour against an independent LittleCMS soft
proof of the job's own ``print.tif``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageDraw
from skimage.color import deltaE_ciede2000, rgb2lab

from preflight.annotate import (
    ANNOTATED_HEIGHT_PX,
    SEVERITY_COLOURS,
    reduce_canvas,
    render_color_shift_map,
    render_overlay,
)
from preflight.cli import main
from preflight.color import ColorSettings, ProfileLibrary, convert_to_output
from preflight.colorshift import measure_color_shift
from preflight.drawing import CUT_LINE, CUTOUT_EDGE, SAFE_LINE, draw_text, font, text_length
from preflight.findings import Finding, Region, Severity
from preflight.geometry import Box, Placement, resolve_placement
from preflight.job import JobRequest, JobResult, run_job
from preflight.proof import PROOF_HEIGHT_PX, THUMBNAIL_HEIGHT_PX, render_mockup
from preflight.render import flatten, place_on_canvas
from preflight.templates import Catalog, Template, load_catalog
from tests.imaging import assert_matches_golden, encode, photo

RED_INK = (0, 255, 255, 0)  # CMYK: full magenta and yellow
TEMPLATE_IDS = [t.id for t in load_catalog()]


def _px_per_mm(template: Template) -> float:
    return template.print_dpi / 25.4


def _is_red(pixel: np.ndarray) -> bool:
    r, g, b = (int(v) for v in pixel[:3])
    return r - max(g, b) > 40


def _is_neutral(pixel: np.ndarray) -> bool:
    r, g, b = (int(v) for v in pixel[:3])
    return r - max(g, b) < 20


@pytest.mark.parametrize("template_id", TEMPLATE_IDS)
def test_mockup_clips_the_print_to_the_cut_line_and_opens_every_cutout(
    template_id: str, catalog: Catalog, profiles: ProfileLibrary
) -> None:
    template = catalog.get(template_id)
    cmyk = Image.new("CMYK", template.canvas_size_px, RED_INK)
    coverage = Image.new("L", template.canvas_size_px, 255)
    mockup = render_mockup(cmyk, coverage, template, profiles.get("chemical-proof"))
    assert mockup.image.height == PROOF_HEIGHT_PX
    assert mockup.thumbnail.height == THUMBNAIL_HEIGHT_PX
    pixels = np.asarray(mockup.image)
    s = mockup.px_per_mm
    ox, oy = mockup.trim_origin_px
    w, h = template.trim_width_mm, template.trim_height_mm

    def at(x_mm: float, y_mm: float) -> np.ndarray:
        pixel: np.ndarray = pixels[round(oy + y_mm * s), round(ox + x_mm * s)]
        return pixel

    # The print reaches the cut line (2 mm inside it is printed)...
    for x_mm, y_mm in ((2, h / 2), (w - 2, h / 2), (w / 2, h - 2)):
        assert _is_red(at(x_mm, y_mm)), (x_mm, y_mm)
    # ...and stops there (1 mm outside is background or shadow), rounded corners included.
    for x_mm, y_mm in ((-1, h / 2), (w + 1, h / 2), (w / 2, -1), (w / 2, h + 1), (0.3, 0.3)):
        assert _is_neutral(at(x_mm, y_mm)), (x_mm, y_mm)
    # Every cutout is open: no print at its centre or part-way to its edges.
    for cut in template.cutouts:
        cx, cy = cut.x_mm + cut.width_mm / 2, cut.y_mm + cut.height_mm / 2
        for fx, fy in ((0, 0), (-0.3, 0), (0.3, 0), (0, -0.3), (0, 0.3)):
            point = (cx + fx * cut.width_mm, cy + fy * cut.height_mm)
            assert _is_neutral(at(*point)), (cut, point)


def _first(mask: np.ndarray) -> int:  # index of the first True
    hits = np.flatnonzero(mask)
    assert hits.size, "line not found"
    return int(hits[0])


@pytest.mark.parametrize("template_id", TEMPLATE_IDS)
def test_overlay_draws_the_template_lines_at_their_mm_positions(
    template_id: str, catalog: Catalog
) -> None:
    template = catalog.get(template_id)
    white = Image.new("RGB", template.canvas_size_px, (255, 255, 255))
    overlay = render_overlay(reduce_canvas(white), template, [])
    assert overlay.canvas_size_px[1] == ANNOTATED_HEIGHT_PX
    pixels = np.asarray(overlay.image)
    k = overlay.scale * _px_per_mm(template)  # overlay px per mm
    bleed = template.bleed_mm
    mid_y = round((bleed + template.trim_height_mm / 2) * k)
    mid_x = round((bleed + template.trim_width_mm / 2) * k)

    def is_colour(region: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
        matches: np.ndarray = np.all(region == colour, axis=-1)
        return matches

    # Cut line: left, right and bottom edges (the top may run behind a camera bar).
    assert abs(_first(is_colour(pixels[mid_y], CUT_LINE)) - bleed * k) <= 1
    right = pixels.shape[1] - 1 - _first(is_colour(pixels[mid_y, ::-1], CUT_LINE))
    assert abs(right - ((bleed + template.trim_width_mm) * k - 1)) <= 1
    bottom_col = pixels[: overlay.canvas_size_px[1], mid_x]
    bottom = len(bottom_col) - 1 - _first(is_colour(bottom_col[::-1], CUT_LINE))
    assert abs(bottom - ((bleed + template.trim_height_mm) * k - 1)) <= 1
    # Safe line (dashed: look over a band of rows for its leftmost dash).
    band = pixels[mid_y - 40 : mid_y + 40, : pixels.shape[1] // 2]
    safe_left = int(np.flatnonzero(is_colour(band, SAFE_LINE).any(axis=0))[0])
    assert abs(safe_left - (bleed + template.safe_inset_mm) * k) <= 1
    # Every cutout's outline: its left edge, found walking left from the cutout's centre
    # (cameras are stacked and touch vertically, never sideways).
    for cut in template.cutouts:
        row = pixels[round((bleed + cut.y_mm + cut.height_mm / 2) * k)]
        x = round((bleed + cut.x_mm + cut.width_mm / 2) * k)
        while not np.all(row[x] == CUTOUT_EDGE):
            x -= 1
        while np.all(row[x - 1] == CUTOUT_EDGE):
            x -= 1
        assert abs(x - (bleed + cut.x_mm) * k) <= 1, cut
    # The colour-shift map shares the scale and draws the same cut line.
    shift_map = np.asarray(render_color_shift_map(reduce_canvas(white), template, None).image)
    assert abs(_first(is_colour(shift_map[mid_y], CUT_LINE)) - bleed * k) <= 1


def test_overlay_outlines_each_finding_region(catalog: Catalog) -> None:
    template = catalog.get("iphone-15")
    white = Image.new("RGB", template.canvas_size_px, (255, 255, 255))
    region = Region(Box(300, 900, 250, 180), template.print_dpi)
    finding = Finding("content-near-edge", Severity.WARNING, "a face near the edge", region=region)
    overlay = render_overlay(reduce_canvas(white), template, [finding])
    pixels = np.asarray(overlay.image)
    colour = SEVERITY_COLOURS[Severity.WARNING]
    row = round((900 + 90) * overlay.scale)
    hits = np.flatnonzero(np.all(pixels[row] == colour, axis=-1))
    assert abs(hits[0] - 300 * overlay.scale) <= 1
    assert abs(hits[-1] - ((300 + 250) * overlay.scale - 1)) <= 1
    # The label (filled with the severity colour) sits on the region's top-left corner.
    top = round(900 * overlay.scale)
    label = pixels[top : top + 10, round(300 * overlay.scale) : round(300 * overlay.scale) + 40]
    assert np.all(label == colour, axis=-1).mean() > 0.3
    # Findings without a place are listed in the legend under the picture.
    assert overlay.image.height > overlay.canvas_size_px[1]


def _job(
    catalog: Catalog, profiles: ProfileLibrary, template_id: str, image: Image.Image, **kwargs: Any
) -> JobResult:
    request = JobRequest(
        template=catalog.get(template_id), artwork_bytes=encode(image, "PNG"), **kwargs
    )
    return run_job(request, profiles)


def _lab(image: Image.Image) -> np.ndarray:
    lab: np.ndarray = rgb2lab(np.asarray(image.convert("RGB")))
    return lab


def _proof_region_vs(result: JobResult, template: Template, reference: Image.Image) -> float:
    """Mean ΔE2000 between the proof's print area and ``reference`` (a canvas-size RGB
    image), over the interior where the proof shows the print unshaded."""
    facts = result.report["pictures"]["proof"]
    s = facts["px_per_mm"]
    ox, oy = facts["trim_origin_px"]
    tw, th = facts["trim_size_px"]
    trim = template.trim_box
    expected = reference.resize(
        (tw, th), Image.Resampling.BOX, box=(trim.x, trim.y, trim.right, trim.bottom)
    )
    proof = Image.open(io.BytesIO(result.files["proof.png"])).crop((ox, oy, ox + tw, oy + th))
    # Compare away from the shaded edge and the camera openings.
    inside = np.zeros((th, tw), dtype=bool)
    inset = round(4 * s)
    inside[inset:-inset, inset:-inset] = True
    for cut in template.cutouts:
        grow = cut.keep_out_mm + 2
        y0, x0 = round((cut.y_mm - grow) * s), round((cut.x_mm - grow) * s)
        y1 = round((cut.y_mm + cut.height_mm + grow) * s)
        x1 = round((cut.x_mm + cut.width_mm + grow) * s)
        inside[max(0, y0) : y1, max(0, x0) : x1] = False
    if template.substrate == "clear":  # only where the white underbase makes the print opaque
        white = Image.open(io.BytesIO(result.files["white.tif"])).resize(
            (tw, th), Image.Resampling.BOX, box=(trim.x, trim.y, trim.right, trim.bottom)
        )
        inside &= np.asarray(white) == 255
    assert inside.sum() > 0.3 * inside.size
    delta = deltaE_ciede2000(_lab(proof), _lab(expected))
    return float(delta[inside].mean())


def _independent_soft_proof(print_tif: bytes) -> Image.Image:
    tif = Image.open(io.BytesIO(print_tif))
    profile = ImageCms.ImageCmsProfile(io.BytesIO(tif.info["icc_profile"]))
    proofed = ImageCms.profileToProfile(
        tif,
        profile,
        ImageCms.createProfile("sRGB"),
        renderingIntent=ImageCms.Intent.ABSOLUTE_COLORIMETRIC,
        outputMode="RGB",
    )
    assert proofed is not None
    return proofed


@pytest.mark.parametrize(
    ("template_id", "placement"),
    [
        ("iphone-15", Placement()),
        ("iphone-15-clear", Placement(fit="contain", scale=0.8)),
        ("ipad-10", Placement()),
        ("galaxy-s24-ultra-tough", Placement()),
    ],
)
def test_proof_shows_the_print_file_as_littlecms_soft_proofs_it(
    template_id: str, placement: Placement, catalog: Catalog, profiles: ProfileLibrary
) -> None:
    template = catalog.get(template_id)
    artwork = photo((1200, 2400))
    result = _job(catalog, profiles, template_id, artwork, placement=placement)
    soft = _independent_soft_proof(result.files["print.tif"])
    assert _proof_region_vs(result, template, soft) < 1.0
    # The control: the artwork as the screen shows it is not what prints, and this
    # comparison tells them apart.
    if template.substrate == "opaque":
        resolved = resolve_placement(
            placement, artwork.size, template.canvas_size_px, template.print_dpi
        )
        screen = flatten(place_on_canvas(artwork, resolved))
        assert _proof_region_vs(result, template, screen) > 2.0


def test_color_shift_figures_follow_the_artwork(catalog: Catalog, profiles: ProfileLibrary) -> None:
    size = (1000, 2000)
    grey = _job(catalog, profiles, "iphone-15", Image.new("RGB", size, (128, 128, 128)))
    blue = _job(catalog, profiles, "iphone-15", Image.new("RGB", size, (0, 40, 255)))
    photo_job = _job(catalog, profiles, "iphone-15", photo(size))
    for result in (grey, blue, photo_job):
        shift = result.report["color_shift"]
        shares = [shift["share_over"][level] for level in ("2", "5", "10")]
        assert shares == sorted(shares, reverse=True)
        worst = [c["delta_e2000"] for c in shift["worst_colors"]]
        assert worst == sorted(worst, reverse=True)
    # Mid greys print ~3 ΔE darker through the shipped reference profile (its tables do not
    # round-trip exactly): visible side by side, never "clearly different".
    assert grey.report["color_shift"]["mean_delta_e2000"] < 4
    assert grey.report["color_shift"]["share_over"]["5"] == 0
    assert blue.report["color_shift"]["share_over"]["10"] > 0.9
    top = blue.report["color_shift"]["worst_colors"][0]
    assert top["artwork_rgb"] == "#0028ff"
    assert set(top) == {"artwork_rgb", "print_cmyk_percent", "predicted_rgb", "delta_e2000"}
    # The map paints the blue artwork in the top band and leaves the grey one grey.
    for result, painted in ((blue, True), (grey, False)):
        picture = np.asarray(Image.open(io.BytesIO(result.files["color-shift.png"])))
        scale = result.report["pictures"]["color_shift"]["scale"]
        centre = picture[round(1750 * scale / 2), round(880 * scale / 2)]
        assert _is_red(centre) is painted


def test_color_shift_map_without_a_comparison_still_renders(catalog: Catalog) -> None:
    template = catalog.get("pixel-8")
    white = Image.new("RGB", template.canvas_size_px, (255, 255, 255))
    picture = render_color_shift_map(reduce_canvas(white), template, None)
    assert picture.canvas_size_px[1] == ANNOTATED_HEIGHT_PX


def test_color_shift_bands_are_painted_as_pillow_pastes_them() -> None:
    from preflight.annotate import _SHIFT_BANDS, _painted_greys

    rng = np.random.default_rng(8)
    grey = rng.integers(110, 256, (40, 64), dtype=np.uint8)
    bands = rng.integers(0, len(_SHIFT_BANDS) + 1, grey.shape)
    # What the map used to do: a paste of each band's colour through its mask.
    expected = Image.fromarray(grey, "L").convert("RGB")
    for band, (_, colour, opacity, _) in enumerate(_SHIFT_BANDS):
        mask = ((bands > band) * round(255 * opacity)).astype(np.uint8)
        expected.paste(colour, (0, 0, *expected.size), Image.fromarray(mask, "L"))
    words = np.take(_painted_greys(), bands * 256 + grey)
    looked_up = words.view(np.uint8).reshape(*grey.shape, 4)[..., :3]
    assert np.array_equal(looked_up, np.asarray(expected))


def test_check_writes_every_picture(tmp_path: Path) -> None:
    artwork = tmp_path / "art.jpg"
    photo((1000, 2000)).save(artwork, quality=92)
    out = tmp_path / "out"
    assert main(["check", str(artwork), "--template", "iphone-15-clear", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    for name in (
        "proof.png",
        "proof.jpg",
        "proof-thumbnail.png",
        "proof-thumbnail.jpg",
        "overlay.png",
        "color-shift.png",
        "print.tif",
        "white.tif",
    ):
        assert (out / name).is_file(), name
        assert report["outputs"][name]["bytes"] == (out / name).stat().st_size
    with Image.open(out / "proof.jpg") as proof:
        assert proof.height == PROOF_HEIGHT_PX
    with Image.open(out / "proof-thumbnail.png") as thumb:
        assert thumb.height == THUMBNAIL_HEIGHT_PX
    assert set(report["pictures"]) == {"proof", "overlay", "color_shift"}


# --- golden pictures (STYLE rule 11): small renders compared with a tolerance ---------------


def _gradient_canvas(template: Template) -> Image.Image:
    width, height = template.canvas_size_px
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    cmyk = np.zeros((height, width, 4), dtype=np.uint8)
    cmyk[..., 0] = x.astype(np.uint8)
    cmyk[..., 1] = y.astype(np.uint8)
    cmyk[..., 2] = (255 - x).astype(np.uint8)
    cmyk[..., 3] = ((x + y) / 8).astype(np.uint8)
    return Image.fromarray(cmyk, "CMYK")


def test_golden_clear_case_proof(catalog: Catalog, profiles: ProfileLibrary) -> None:
    template = catalog.get("iphone-15-clear")
    width, height = template.canvas_size_px
    coverage = Image.new("L", (width, height), 0)
    coverage.paste(255, (width // 6, height // 5, width * 5 // 6, height * 4 // 5))
    mockup = render_mockup(
        _gradient_canvas(template), coverage, template, profiles.get("chemical-proof"), 480
    )
    assert_matches_golden(mockup.image, "proof-iphone-15-clear.png")


def test_golden_overlay_with_findings(catalog: Catalog) -> None:
    template = catalog.get("galaxy-s24-ultra-tough")
    canvas = Image.new("RGB", template.canvas_size_px, (200, 220, 240))
    dpi = template.print_dpi
    findings = [
        Finding(
            "bleed-not-covered",
            Severity.ERROR,
            "The artwork does not reach the edge.",
            region=Region(Box(0, 0, 60, 400), dpi),
        ),
        Finding(
            "content-in-cutout",
            Severity.WARNING,
            "A face under the camera.",
            region=Region(Box(90, 120, 220, 260), dpi),
        ),
        Finding("no-color-profile", Severity.INFO, "sRGB assumed."),
    ]
    overlay = render_overlay(reduce_canvas(canvas, 480), template, findings)
    assert_matches_golden(overlay.image, "overlay-galaxy-s24-ultra-tough.png")


def test_golden_color_shift_map(catalog: Catalog, profiles: ProfileLibrary) -> None:
    template = catalog.get("ipad-10")
    width, height = template.canvas_size_px
    artwork = Image.new("RGB", (width, height), (128, 128, 128))
    for i, colour in enumerate([(0, 40, 255), (0, 220, 90), (255, 120, 0), (250, 250, 250)]):
        artwork.paste(colour, (0, i * height // 4, width, (i + 1) * height // 4))
    output = profiles.get("chemical-proof")
    settings = ColorSettings()
    cmyk = convert_to_output(artwork, None, output, settings)
    coverage = Image.new("L", (width, height), 255)
    shift = measure_color_shift(artwork, cmyk, coverage, None, output, settings)
    picture = render_color_shift_map(reduce_canvas(artwork, 480), template, shift)
    assert_matches_golden(picture.image, "color-shift-ipad-10.png")


@pytest.mark.parametrize("size_px", [13, 17.6, 24])
def test_remembered_text_is_drawn_exactly_as_imagedraw_draws_it(size_px: float) -> None:
    """draw_text pastes a remembered coverage mask: the same pixels as ImageDraw.text, at
    whole and fractional positions, over a varied background, drawn again from the cache."""
    rng = np.random.default_rng(7)
    background = Image.fromarray(rng.integers(0, 256, (90, 420, 3), dtype=np.uint8), "RGB")
    typeface = font(size_px)
    texts = ["cut line", "warning low-effective-ppi: 212 ppi (threshold 300 ppi)", "gjpqy |_,", " "]
    points = [(0.0, 0.0), (4.0, 3.0), (7.25, 2.5), (3.6, 40.999), (150.3333, 51.75), (-2.5, 5.0)]
    for text in texts:
        for point in points:
            for _ in range(2):  # the first draw fills the cache, the second reads it
                expected = background.copy()
                ImageDraw.Draw(expected).text(point, text, fill=(20, 200, 90), font=typeface)
                drawn = background.copy()
                draw_text(drawn, point, text, (20, 200, 90), typeface)
                assert np.array_equal(np.asarray(drawn), np.asarray(expected)), (text, point)
    assert text_length(typeface, texts[1]) == typeface.getlength(texts[1])
