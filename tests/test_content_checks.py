"""Content, guide, device and colour checks on planted mistakes (codes, regions, numbers)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image

from preflight.checks import CheckConfig
from preflight.color import ProfileLibrary
from preflight.geometry import Box, mm_to_px
from preflight.job import JobRequest, run_job
from preflight.templates import Catalog, Template
from preflight.zones import content_safe_box, cutout_box
from tests.evaluation.cases import (
    _paste_at_canvas,
    _with_guides,
    background,
    badge,
    face,
    glyph_mark,
    logo,
)
from tests.imaging import encode


def _report(
    catalog: Catalog, profiles: ProfileLibrary, template_id: str, image: Image.Image
) -> dict[str, Any]:
    others = tuple(t for t in catalog if t.id != template_id)
    request = JobRequest(
        template=catalog.get(template_id),
        artwork_bytes=encode(image, "PNG"),
        checks=CheckConfig(other_templates=others),
        pictures=False,  # findings only: the pictures have their own tests
    )
    return run_job(request, profiles).report


def _codes(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["code"]: f for f in report["findings"]}


def _min_size(template: Template) -> tuple[int, int]:
    return template.min_artwork_px.width, template.min_artwork_px.height


def _intersects(region: dict[str, list[float]], box: Box) -> bool:
    x, y, w, h = region["px"]
    return x < box.right and box.x < x + w and y < box.bottom and box.y < y + h


def test_moving_a_face_into_the_cutout_adds_the_finding(
    catalog: Catalog, profiles: ProfileLibrary
) -> None:
    template = catalog.get("iphone-15")
    size_px = mm_to_px(24, template.print_dpi)
    w, h = template.canvas_size_px
    away = background("foliage", _min_size(template), seed=3)
    _paste_at_canvas(away, template, face(7, 256), (w / 2, h * 0.55), size_px)
    assert "content-in-cutout" not in _codes(_report(catalog, profiles, "iphone-15", away))

    under = background("foliage", _min_size(template), seed=3)
    zone = cutout_box(template, template.cutouts[0])
    planted = _paste_at_canvas(
        under, template, face(7, 256), (zone.x + zone.width / 2, zone.y + zone.height / 2), size_px
    )
    findings = [
        f
        for f in _report(catalog, profiles, "iphone-15", under)["findings"]
        if f["code"] == "content-in-cutout" and f["measured"]["kind"] == "face"
    ]
    assert findings, "the face under the camera is found as a face"
    assert _intersects(findings[0]["region"], planted)


@pytest.mark.parametrize("template_id", ["pixel-8-pro", "iphone-15"])
def test_a_face_cut_by_the_top_of_the_canvas_is_still_found_as_a_face(
    catalog: Catalog, profiles: ProfileLibrary, template_id: str
) -> None:
    """A head running off the top of the case, its face under the camera: the cascade needs
    the whole face in its window, so the search copy is widened past the canvas edge."""
    template = catalog.get(template_id)
    art = background("brick", _min_size(template), seed=4)
    size_px = mm_to_px(50, template.print_dpi)
    zone = cutout_box(template, template.cutouts[0])
    # Centred at 35% of its height: 15% of the face photo lies above the canvas.
    planted = _paste_at_canvas(
        art, template, face(2, 512), (zone.x + zone.width / 2, size_px * 0.35), size_px
    )
    assert planted.y < 0, "the planted face runs off the top of the canvas"
    report = _report(catalog, profiles, template_id, art)
    faces = [o for o in report["content"]["objects"] if o["kind"] == "face"]
    assert faces, "found as a face"
    assert all(o["box_px"][0] >= 0 and o["box_px"][1] >= 0 for o in faces), "boxes on canvas"
    findings = [
        f
        for f in report["findings"]
        if f["code"] == "content-in-cutout" and f["measured"]["kind"] == "face"
    ]
    assert findings and _intersects(findings[0]["region"], planted)


def test_the_readme_examples_face_is_under_the_camera(
    catalog: Catalog, profiles: ProfileLibrary
) -> None:
    """The README's API example: scikit-image's astronaut stretched to 1000×2000 px on an
    iPhone 15. Widening the face search past the canvas edge once lowered the search's
    resolution (it followed the widened area) and lost this face."""
    from skimage import data

    template = catalog.get("iphone-15")
    art = Image.fromarray(data.astronaut()).resize((1000, 2000))
    request = JobRequest(
        template=template, artwork_bytes=encode(art, "JPEG"), pictures=False
    )
    report = run_job(request, profiles).report
    kinds = [f["measured"]["kind"] for f in report["findings"] if f["code"] == "content-in-cutout"]
    assert "face" in kinds


@pytest.mark.parametrize("size_mm", [16, 22, 30])
def test_most_of_a_hundred_real_faces_are_found(size_mm: float) -> None:
    """scikit-image's 100 LFW faces (tight crops, some turned or in glasses), eight at a time
    on a grey iPhone-size canvas. A face whose size fell between two of the cascade's search
    scales used to be missed: with a scale step of 1.25, 81-86 were found; with 1.1, 94-96."""
    from preflight.content import _overlap, analyse_content

    size_px = round(mm_to_px(size_mm, 300))
    found = 0
    for first in range(0, 100, 8):
        art = Image.new("RGB", (886, 1784), (128, 128, 128))
        planted = []
        for k, index in enumerate(range(first, min(100, first + 8))):
            x, y = 80 + (k % 2) * 420, 80 + (k // 2) * 420
            art.paste(face(index, size_px), (x, y))
            planted.append(Box(x, y, size_px, size_px))
        faces = [o.box for o in analyse_content(art, 300).objects if o.kind == "face"]
        found += sum(any(_overlap(p, f) > 0.3 for f in faces) for p in planted)
    assert found >= 92, f"{found} of 100 faces found at {size_mm} mm"


def test_logo_across_the_safe_line_is_near_the_edge(
    catalog: Catalog, profiles: ProfileLibrary
) -> None:
    template = catalog.get("galaxy-s24")
    art = background("sky", _min_size(template), seed=5)
    safe = content_safe_box(template)
    size_px = mm_to_px(16, template.print_dpi)
    planted = _paste_at_canvas(
        art,
        template,
        logo(300),
        (safe.right + size_px / 3 - size_px / 2, safe.y + safe.height * 0.6),
        size_px,
    )
    finding = _codes(_report(catalog, profiles, "galaxy-s24", art))["content-near-edge"]
    assert finding["measured"]["outside_safe_share"] >= 0.1
    assert _intersects(finding["region"], planted)


def test_a_star_field_under_the_cameras_is_a_pattern_but_a_logo_on_it_is_not(
    catalog: Catalog, profiles: ProfileLibrary
) -> None:
    """Hubble's deep field (scikit-image) full-bleed on a phone with four openings: its
    galaxies are distinct from the black around them, but there are dozens of them of about
    one size, so none is the one important object; a logo planted on the same field is."""
    from PIL import ImageOps
    from skimage import data

    template = catalog.get("galaxy-s24-ultra")
    stars = Image.fromarray(data.hubble_deep_field()).convert("RGB")
    art = ImageOps.fit(stars, _min_size(template), Image.Resampling.BICUBIC)
    content_codes = {"content-in-cutout", "content-near-edge"}
    assert not content_codes & set(_codes(_report(catalog, profiles, template.id, art.copy())))

    zone = cutout_box(template, template.cutouts[0])
    centre = (zone.x + zone.width / 2, zone.y + zone.height / 2)
    planted = _paste_at_canvas(art, template, logo(300), centre, mm_to_px(20, template.print_dpi))
    findings = [
        f
        for f in _report(catalog, profiles, template.id, art)["findings"]
        if f["code"] == "content-in-cutout"
    ]
    assert any(_intersects(f["region"], planted) for f in findings)


# Places on scikit-image's photographs, full-bleed, where a distinct-looking part of the scene
# straddles the safe line (canvas px): it must not warn, a designed mark put there must. (On
# the retina a mark is not tested: the vessels are a field of blobs of one size, and a badge
# of their size among them is taken for one more; a known limit.)
_SCENE_NEAR_THE_EDGE = {
    "floodlight-glare": ("rocket", "iphone-15", (669.0, 1745.0)),  # a light's glow
    "launch-pad-corner": ("rocket", "ipad-10", (795.0, 2940.0)),  # core of ΔE ~30
    "vessel-crossing": ("retina", "ipad-10", (110.0, 1409.0)),  # core of ΔE ~28
}


@pytest.mark.parametrize(
    ("scene", "mark"),
    [
        (scene, mark)
        for scene in sorted(_SCENE_NEAR_THE_EDGE)
        # On the retina only the scene is checked (see above): one run is enough.
        for mark in (["none"] if _SCENE_NEAR_THE_EDGE[scene][0] == "retina" else ["badge", "logo"])
    ],
)
def test_scene_near_the_edge_is_not_a_subject_but_a_mark_in_its_place_is(
    catalog: Catalog, profiles: ProfileLibrary, scene: str, mark: str
) -> None:
    """A floodlight's glare is the glow of a light; the corner of a launch pad and a crossing
    of blood vessels are faint (their contrast never reaches the core threshold). None is
    content to keep from the cut; a badge or a logo at the same place is."""
    from PIL import ImageOps
    from skimage import data

    photo, template_id, centre = _SCENE_NEAR_THE_EDGE[scene]
    template = catalog.get(template_id)
    picture = Image.fromarray(getattr(data, photo)()).convert("RGB")
    art = ImageOps.fit(picture, _min_size(template), Image.Resampling.BICUBIC)
    assert "content-near-edge" not in _codes(_report(catalog, profiles, template.id, art.copy()))
    if mark == "none":
        return

    thing = badge(400) if mark == "badge" else logo(300)
    planted = _paste_at_canvas(art, template, thing, centre, mm_to_px(12, template.print_dpi))
    finding = _codes(_report(catalog, profiles, template.id, art))["content-near-edge"]
    assert _intersects(finding["region"], planted)


@pytest.mark.parametrize("stars", [1, 12])
def test_a_thin_one_colour_mark_under_the_camera_is_found_unless_it_is_a_pattern(
    catalog: Catalog, profiles: ProfileLibrary, stars: int
) -> None:
    """A 10 mm navy star on grass under an iPad's camera: its arms are too thin to stand out
    behind the object search's 1.5 mm blur, but its fill is flat and of a colour the picture
    has nowhere else, so it is a graphic mark. Twelve such stars over the case are a pattern
    (six or more marks of one size and colour), and the one under the camera is not singled
    out: their colour alone would still be rare (under 1% of the case)."""
    template = catalog.get("ipad-air-11")
    art = background("grass", _min_size(template), seed=6)
    size_px = mm_to_px(10, template.print_dpi)
    zone = cutout_box(template, template.cutouts[0])
    centre = (zone.x + zone.width / 2, zone.y + zone.height / 2)
    planted = _paste_at_canvas(art, template, glyph_mark(round(size_px)), centre, size_px)
    w, h = template.canvas_size_px
    for k in range(stars - 1):  # the rest of the pattern, in a loose 3 x 4 grid below
        spot = (w * (0.25 + 0.25 * (k % 3)), h * (0.3 + 0.15 * (k // 3)))
        _paste_at_canvas(art, template, glyph_mark(round(size_px)), spot, size_px)
    findings = [
        f
        for f in _report(catalog, profiles, template.id, art)["findings"]
        if f["code"] == "content-in-cutout"
    ]
    if stars == 1:
        assert any(_intersects(f["region"], planted) for f in findings)
    else:
        assert not findings


def test_a_photos_flat_black_corners_under_the_camera_are_background(
    catalog: Catalog, profiles: ProfileLibrary
) -> None:
    """scikit-image's retina full-bleed on an iPhone: the corners outside the round fundus
    are flat black, rare and crisp-edged, like a mark's fill, but they run off the canvas."""
    from PIL import ImageOps
    from skimage import data

    template = catalog.get("iphone-15")
    picture = Image.fromarray(data.retina()).convert("RGB")
    art = ImageOps.fit(picture, _min_size(template), Image.Resampling.BICUBIC)
    assert "content-in-cutout" not in _codes(_report(catalog, profiles, template.id, art))


@pytest.mark.parametrize(("size_mm", "important"), [(4.0, False), (6.0, True)])
def test_a_distinct_object_is_important_from_about_five_millimetres(
    catalog: Catalog, profiles: ProfileLibrary, size_mm: float, important: bool
) -> None:
    """Below 12 mm² a contrasting blob is a speck; a logo from about 5 mm across under the
    camera is reported."""
    template = catalog.get("iphone-15")
    art = background("grass", _min_size(template), seed=3)
    zone = cutout_box(template, template.cutouts[0])
    centre = (zone.x + zone.width / 2, zone.y + zone.height / 2)
    _paste_at_canvas(art, template, logo(300), centre, mm_to_px(size_mm, template.print_dpi))
    codes = _codes(_report(catalog, profiles, template.id, art))
    assert ("content-in-cutout" in codes) == important


def test_guides_left_in_the_artwork(catalog: Catalog, profiles: ProfileLibrary) -> None:
    template = catalog.get("pixel-8")
    w, h = template.canvas_size_px
    art = _with_guides(background("gravel", (round(w * 1.1), round(h * 1.1)), seed=1), template)
    codes = _codes(_report(catalog, profiles, "pixel-8", art))
    assert codes["template-guides-present"]["severity"] == "error"
    assert "wrong-device" not in codes, "our own guide is not another device's"


def test_another_devices_guides_name_that_device(
    catalog: Catalog, profiles: ProfileLibrary
) -> None:
    other = catalog.get("pixel-8")
    art = _with_guides(background("brick", other.canvas_size_px, seed=2), other)
    codes = _codes(_report(catalog, profiles, "iphone-15", art))
    assert codes["wrong-device"]["measured"]["looks_like"] == "pixel-8"
    assert "template-guides-present" in codes


def test_artwork_sized_for_a_tablet_on_a_phone(catalog: Catalog, profiles: ProfileLibrary) -> None:
    ipad = catalog.get("ipad-10")
    art = background("foliage", ipad.canvas_size_px, seed=4)
    codes = _codes(_report(catalog, profiles, "iphone-15", art))
    assert codes["wrong-device"]["measured"]["looks_like"] == "ipad-10"


def test_upside_down_faces(catalog: Catalog, profiles: ProfileLibrary) -> None:
    template = catalog.get("iphone-15")
    w, h = template.canvas_size_px
    art = background("sky", _min_size(template), seed=8)
    for k, cy in enumerate((0.45, 0.62, 0.8)):
        _paste_at_canvas(art, template, face(k, 256), (w / 2, h * cy), mm_to_px(26, 300))
    upright = _codes(_report(catalog, profiles, "iphone-15", art))
    assert "orientation-mismatch" not in upright
    turned = _codes(
        _report(catalog, profiles, "iphone-15", art.transpose(Image.Transpose.ROTATE_180))
    )
    assert turned["orientation-mismatch"]["threshold"]["suggested_rotate_deg"] == 180


@pytest.mark.parametrize("colour", [(0, 70, 255), (0, 210, 70)])
def test_saturated_blue_or_green_is_out_of_gamut(
    catalog: Catalog, profiles: ProfileLibrary, colour: tuple[int, int, int]
) -> None:
    template = catalog.get("iphone-15")
    art = background("foliage", _min_size(template), seed=6)
    art.paste(colour, (0, 0, art.width, art.height // 2))
    finding = _codes(_report(catalog, profiles, "iphone-15", art))["out-of-gamut"]
    assert finding["measured"]["share_over"] > 0.4
    worst = finding["measured"]["worst_colors"][0]
    assert worst["delta_e2000"] > 5
    assert len(worst["print_cmyk_percent"]) == 4


# --- the content analysis' fast paths give what the library calls give -----------------------


def _astronaut_grey(size: tuple[int, int]) -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut()).convert("L").resize(size, Image.Resampling.BOX)


@pytest.mark.parametrize(
    ("name", "size", "grouped"),
    [
        ("astronaut", (263, 360), True),  # a face pass on a tablet canvas
        ("faces", (180, 150), True),  # two faces on foliage, a confirmation window's size
        ("moon", (231, 169), False),  # craters fool it now and then: every hit, ungrouped
        ("astronaut", (20, 30), True),  # smaller than the cascade's window
    ],
)
@pytest.mark.parametrize("step", [1.25, 1.1])  # the turned and the upright searches' steps
def test_face_cascade_finds_what_scikit_image_finds(
    name: str, size: tuple[int, int], grouped: bool, step: float
) -> None:
    from skimage.data import lbp_frontal_face_cascade_filename
    from skimage.feature import Cascade

    from preflight.content import _cascade

    if name == "astronaut":
        grey = _astronaut_grey(size)
    elif name == "faces":
        grey = background("foliage", size, seed=1).convert("L")
        for k, x in enumerate((10, 90)):
            grey.paste(face(k, 70).convert("L"), (x, 40))
    else:
        grey = background(name, size, seed=2).convert("L")
    pixels = np.asarray(grey, dtype=np.float64) / 255.0
    side = min(grey.size)
    # Without grouping: a cluster of one, and no two hits ever overlap by more than 2.
    neighbours, overlap = (4, 0.5) if grouped else (1, 2.0)
    expected = Cascade(lbp_frontal_face_cascade_filename()).detect_multi_scale(
        img=pixels,
        scale_factor=step,
        step_ratio=1,
        min_size=(16, 16),
        max_size=(side, side),
        min_neighbor_number=neighbours,
        intersection_score_threshold=overlap,
    )
    found = _cascade().detect(pixels, step, (16, 16), (side, side), neighbours, overlap)
    assert found == [(d["r"], d["c"], d["width"], d["height"]) for d in expected]
    assert found or size == (20, 30)


def test_square_filters_are_scipys_erosion_and_dilation() -> None:
    from scipy import ndimage

    from preflight.content import _square_filter

    values = np.random.default_rng(3).integers(0, 256, (41, 29)).astype(np.uint8)
    for size in (3, 5, 7, 9, 13):
        erosion = ndimage.grey_erosion(values, size=(size, size))
        dilation = ndimage.grey_dilation(values, size=(size, size))
        assert np.array_equal(_square_filter(values, size, np.minimum), erosion)
        assert np.array_equal(_square_filter(values, size, np.maximum), dilation)


def test_wide_gaussian_is_scipys_up_to_rounding() -> None:
    from scipy import ndimage

    from preflight.content import _wide_gaussian

    rng = np.random.default_rng(4)
    image = ndimage.gaussian_filter((rng.random((90, 61, 3)) * 100).astype(np.float32), 1)
    for sigma in (3.0, 11.9, 40.0):  # the last reaches past the image: edges repeat
        expected = np.stack(
            [ndimage.gaussian_filter(image[..., c], sigma, mode="nearest") for c in range(3)], -1
        )
        assert np.abs(_wide_gaussian(image, sigma) - expected).max() < 1e-4
