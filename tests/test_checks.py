"""Each check: produced on the mistake it names, silent on clean artwork (codes and numbers)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest
from PIL import Image

from preflight.checks import CHECKS, CheckConfig, PlacedArtwork, check_content_near_edge
from preflight.color import ProfileLibrary
from preflight.colorshift import ColorShift
from preflight.content import ContentAnalysis, ContentObject
from preflight.findings import Finding
from preflight.geometry import Box, Placement, ResolvedPlacement
from preflight.job import JobRequest, run_job
from preflight.templates import Catalog
from preflight.zones import content_safe_box
from tests.evaluation.cases import background
from tests.imaging import encode, photo

SILENT_ON_CLEAN = {"no-color-profile"}  # info about the file, not a mistake


def _findings(
    catalog: Catalog,
    profiles: ProfileLibrary,
    template: str,
    image: Image.Image,
    fmt: str = "PNG",
    **kwargs: Any,
) -> dict[str, dict[str, Any]]:
    request = JobRequest(
        template=catalog.get(template),
        artwork_bytes=encode(image, fmt),
        artwork_name=f"a.{fmt.lower()}",
        pictures=False,  # findings only: the pictures have their own tests
        **kwargs,
    )
    return {f["code"]: f for f in run_job(request, profiles).report["findings"]}


def test_check_table_is_explicit_and_documented() -> None:
    ids = [check.id for check in CHECKS]
    assert len(ids) == len(set(ids))
    for check in CHECKS:
        assert check.summary and check.rationale and check.id == check.id.lower()


@pytest.mark.parametrize(
    "template_id",
    [
        "iphone-15",
        "iphone-15-clear",
        "iphone-15-tough",
        "galaxy-s24-ultra",
        "pixel-8",
        "ipad-10",
        "ipad-mini-clear",
    ],
)
def test_clean_artwork_raises_no_warning(
    catalog: Catalog, profiles: ProfileLibrary, template_id: str
) -> None:
    template = catalog.get(template_id)
    size = (template.min_artwork_px.width, template.min_artwork_px.height)
    others = tuple(t for t in catalog if t.id != template_id)
    for name in ("foliage", "gravel"):
        found = _findings(
            catalog,
            profiles,
            template_id,
            background(name, size),
            "JPEG",
            checks=CheckConfig(other_templates=others),
        )
        assert set(found) <= SILENT_ON_CLEAN, (name, found.keys())


# --- resolution -------------------------------------------------------------------------


def test_low_effective_ppi_warning_then_error(catalog: Catalog, profiles: ProfileLibrary) -> None:
    warn = _findings(catalog, profiles, "iphone-15", photo((640, 1280)))["low-effective-ppi"]
    assert warn["severity"] == "warning"
    assert 150 <= warn["measured"]["effective_ppi"] < 300
    assert warn["region"]["px"] == [0, 0, 945, 1843]
    error = _findings(catalog, profiles, "iphone-15", photo((400, 800)))["low-effective-ppi"]
    assert error["severity"] == "error"
    assert error["measured"]["effective_ppi"] < 150


def test_scaling_up_a_good_file_lowers_effective_ppi(
    catalog: Catalog, profiles: ProfileLibrary
) -> None:
    found = _findings(
        catalog, profiles, "iphone-15", photo((1000, 2000)), placement=Placement(scale=1.5)
    )
    assert "low-effective-ppi" in found
    assert "low-resolution" not in found


def test_less_resolution_never_gives_fewer_resolution_findings(
    catalog: Catalog, profiles: ProfileLibrary
) -> None:
    severity_rank = {"info": 0, "warning": 1, "error": 2}
    previous: tuple[int, int] = (0, 0)
    for width in (1400, 1000, 800, 600, 450, 300, 200):
        found = _findings(catalog, profiles, "iphone-15", photo((width, width * 2)))
        resolution = [found[c] for c in ("low-resolution", "low-effective-ppi") if c in found]
        current = (
            len(resolution),
            max((severity_rank[f["severity"]] for f in resolution), default=0),
        )
        assert current >= previous, (width, current, previous)
        previous = current
    assert previous == (2, 2)


def test_thresholds_are_configurable(catalog: Catalog, profiles: ProfileLibrary) -> None:
    lenient = CheckConfig(warn_ppi=150, error_ppi=100)
    found = _findings(catalog, profiles, "iphone-15", photo((640, 1280)), checks=lenient)
    assert "low-effective-ppi" not in found
    strict = CheckConfig(warn_ppi=600)
    finding = _findings(catalog, profiles, "iphone-15", photo((1000, 2000)), checks=strict)[
        "low-effective-ppi"
    ]
    ppi = finding["measured"]["effective_ppi"]
    assert finding["measured"]["enlarge_by"] == pytest.approx(600 / ppi, abs=0.01)


# --- bleed ------------------------------------------------------------------------------


def test_contain_fit_leaves_the_bleed_uncovered(catalog: Catalog, profiles: ProfileLibrary) -> None:
    found = _findings(
        catalog, profiles, "iphone-15", photo((1800, 1800)), placement=Placement(fit="contain")
    )
    bleed = found["bleed-not-covered"]
    assert bleed["severity"] == "error"
    assert set(bleed["measured"]["uncovered_sides_mm"]) == {"top", "bottom"}
    # Canvas 156 mm tall, artwork 80 mm: (156 - 80) / 2 = 38 mm blank at top and bottom.
    assert bleed["measured"]["uncovered_sides_mm"]["top"] == pytest.approx(38, abs=0.2)


def test_off_centre_placement_reports_the_gap_in_mm(
    catalog: Catalog, profiles: ProfileLibrary
) -> None:
    found = _findings(
        catalog,
        profiles,
        "iphone-15",
        photo((1000, 2000)),
        placement=Placement(center=(0.45, 0.5), scale=1.0),
    )
    sides = found["bleed-not-covered"]["measured"]["uncovered_sides_mm"]
    # Moving the centre left uncovers the right side: the artwork is exactly as wide as the
    # canvas (cover is set by the width, 945 px), so a 0.05 × 80 mm shift leaves 4 mm.
    assert set(sides) == {"right"}
    assert sides["right"] == pytest.approx(4.0, abs=0.3)
    region = found["bleed-not-covered"]["region"]
    assert region["px"][0] + region["px"][2] == pytest.approx(945, abs=1)


def test_free_rotation_uncovers_the_corners(catalog: Catalog, profiles: ProfileLibrary) -> None:
    found = _findings(
        catalog, profiles, "iphone-15", photo((1000, 2000)), placement=Placement(rotate_deg=15)
    )
    measured = found["bleed-not-covered"]["measured"]
    assert len(measured["uncovered_corners"]) == 4
    # Along the middle half of each side the wedge is shallow, not the full canvas width.
    assert all(mm < 25 for mm in measured["uncovered_sides_mm"].values())  # was 80 mm


def test_clear_cases_may_leave_areas_unprinted(catalog: Catalog, profiles: ProfileLibrary) -> None:
    found = _findings(
        catalog,
        profiles,
        "iphone-15-clear",
        photo((1800, 1800)),
        placement=Placement(fit="contain"),
    )
    assert "bleed-not-covered" not in found


# --- transparency and ink ---------------------------------------------------------------


def test_semi_transparent_artwork_on_an_opaque_case(
    catalog: Catalog, profiles: ProfileLibrary
) -> None:
    art = photo((1000, 2000)).convert("RGBA")
    art.putalpha(Image.new("L", art.size, 128))
    found = _findings(catalog, profiles, "iphone-15", art)
    assert found["transparency-in-print"]["measured"]["semi_transparent_share"] > 0.9
    assert "transparency-in-print" not in _findings(catalog, profiles, "iphone-15-clear", art)


def test_antialiased_edges_are_not_transparency(catalog: Catalog, profiles: ProfileLibrary) -> None:
    art = photo((1000, 2000)).convert("RGBA")
    art.putalpha(Image.new("L", art.size, 255).crop((0, 0, 999, 2000)).resize(art.size))
    found = _findings(
        catalog, profiles, "iphone-15", art, placement=Placement(rotate_deg=3, scale=1.2)
    )
    assert "transparency-in-print" not in found


def _cmyk_with_patch(size: tuple[int, int], patch: tuple[int, int, int, int]) -> Image.Image:
    art = Image.new("CMYK", size, (0, 0, 0, 60))
    art.paste(patch, (100, 100, 400, 400))
    return art


def test_ink_limit(catalog: Catalog, profiles: ProfileLibrary) -> None:
    size = catalog.get("iphone-15").canvas_size_px
    heavy = _findings(catalog, profiles, "iphone-15", _cmyk_with_patch(size, (255,) * 4), "TIFF")
    ink = heavy["ink-limit-exceeded"]
    assert ink["measured"]["max_ink_percent"] == pytest.approx(400)
    assert ink["region"]["px"] == [100, 100, 300, 300]
    moderate = _cmyk_with_patch(size, (160, 160, 160, 160))  # 251 %
    assert "ink-limit-exceeded" not in _findings(catalog, profiles, "iphone-15", moderate, "TIFF")
    strict = CheckConfig(ink_limit_percent=240)
    assert "ink-limit-exceeded" in _findings(
        catalog, profiles, "iphone-15", moderate, "TIFF", checks=strict
    )


def test_total_ink_matches_a_plain_sum() -> None:
    from preflight.color import total_ink_units

    pixels = np.random.default_rng(1).integers(0, 256, (37, 53, 4), dtype=np.uint8)
    pixels[0] = 255  # the largest total, 1020, must not spill out of its 16-bit lane
    packed = pixels.view(np.uint32)[..., 0]
    out, scratch = np.empty_like(packed), np.empty_like(packed)
    assert np.array_equal(total_ink_units(packed, out, scratch), pixels.sum(axis=2))


# --- orientation ------------------------------------------------------------------------


def test_landscape_photo_on_a_portrait_case(catalog: Catalog, profiles: ProfileLibrary) -> None:
    found = _findings(catalog, profiles, "iphone-15", photo((2400, 1200)))
    assert found["orientation-mismatch"]["threshold"]["suggested_rotate_deg"] == 90
    rotated = _findings(
        catalog, profiles, "iphone-15", photo((2400, 1200)), placement=Placement(rotate_deg=90)
    )
    assert "orientation-mismatch" not in rotated
    square = _findings(catalog, profiles, "iphone-15", photo((2000, 2000)))
    assert "orientation-mismatch" not in square


def test_template_thresholds_apply_to_its_jobs(catalog: Catalog, profiles: ProfileLibrary) -> None:
    lenient = catalog.get("iphone-15").model_copy(
        update={"checks": catalog.get("iphone-15").checks.model_copy(update={"warn_ppi": 150.0})}
    )
    request = JobRequest(template=lenient, artwork_bytes=encode(photo((640, 1280)), "PNG"))
    codes = {f["code"] for f in run_job(request, profiles).report["findings"]}
    assert "low-effective-ppi" not in codes


# --- colour shift -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_distinct_pixel_pairs_give_back_every_pixel(mode: str) -> None:
    from preflight.colorshift import _distinct_pixels

    rng = np.random.default_rng(2)
    bands = len(mode)
    art = (rng.integers(0, 4, (60, 40, bands), dtype=np.uint8) * 60).squeeze()
    ink = rng.integers(0, 3, (60, 40, 4), dtype=np.uint8) * 100
    artwork = Image.fromarray(art, mode)
    cmyk = Image.fromarray(ink, "CMYK")
    colours, inks, pair_of_pixel = _distinct_pixels(artwork, cmyk)
    assert colours.size == inks.size and colours.height == 1
    assert colours.width < 60 * 40  # pairs repeat, so fewer are converted
    back = np.asarray(colours).reshape(colours.width, bands)[pair_of_pixel]
    assert np.array_equal(back, art.reshape(60 * 40, bands))
    assert np.array_equal(np.asarray(inks).reshape(-1, 4)[pair_of_pixel], ink.reshape(-1, 4))
    # Each pair once: the conversions and ΔE run once a pair.
    pairs = np.concatenate(
        [np.asarray(colours).reshape(colours.width, bands), np.asarray(inks).reshape(-1, 4)], axis=1
    )
    assert len(np.unique(pairs, axis=0)) == len(pairs)


def test_black_point_table_maps_exactly_as_the_direct_mapping(profiles: ProfileLibrary) -> None:
    from preflight.color import ColorSettings
    from preflight.colorshift import (
        _LAB8_L,
        _black_point_table,
        _black_points,
        _map_black_point,
    )

    key = ("RGB", None, profiles.get("chemical-proof"), ColorSettings())
    table = _black_point_table(*key)
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 256, (50_000, 3))
    lab = np.stack(
        [_LAB8_L[codes[:, 0]], codes[:, 1] - 128.0, codes[:, 2] - 128.0], axis=-1
    ).astype(np.float32)
    lab = lab[table.b_tabulated[codes[:, 0], codes[:, 2]]][None]
    mapped = table.map(lab)
    assert mapped is not None
    assert np.array_equal(mapped, _map_black_point(lab, *_black_points(*key)))
    assert table.map(np.array([[[50.1, 0.0, 0.0]]], dtype=np.float32)) is None  # not 8-bit


def test_one_colour_is_one_pair_whatever_pillow_keeps_in_the_padding_byte() -> None:
    from preflight.colorshift import _distinct_pixels

    # Flattening pastes through the alpha, which Pillow leaves in an RGB pixel's fourth byte:
    # white artwork of every opacity over white paper is still one colour.
    flat = Image.new("RGB", (64, 4), (255, 255, 255))
    art = Image.new("RGBA", (64, 4), (255, 255, 255, 0))
    art.putalpha(Image.fromarray(np.tile((np.arange(64) * 4).astype(np.uint8), (4, 1))))
    flat.paste(art, (0, 0), art)
    padding = np.frombuffer(flat.tobytes("raw", "RGBX"), dtype=np.uint8)[3::4]
    assert len(np.unique(padding)) > 1  # the premise: the padding byte does vary
    colours, _, _ = _distinct_pixels(flat, Image.new("CMYK", flat.size, (0, 0, 0, 0)))
    assert colours.width == 1


def test_a_distinct_object_within_a_millimetre_of_the_canvas_edge_runs_off_it(
    catalog: Catalog,
) -> None:
    """The object detector knows a blob's edge to about 1 mm: a blob ending closer than that
    to the canvas edge is scene running off the photo, not something placed near the cut."""
    template = catalog.get("iphone-15")
    px_per_mm = template.print_dpi / 25.4
    safe = content_safe_box(template)

    def near_edge_findings(left_mm: float) -> list[Finding]:
        blob = Box(left_mm * px_per_mm, safe.y + safe.height / 2, 15 * px_per_mm, 15 * px_per_mm)
        content = ContentAnalysis((ContentObject("object", blob, 30.0),), 0, {})
        artwork = cast(PlacedArtwork, SimpleNamespace(content=content))
        placement = cast(ResolvedPlacement, None)  # not read by this check
        return list(check_content_near_edge(artwork, template, placement, CheckConfig()))

    assert near_edge_findings(0.5) == []
    assert [f.code for f in near_edge_findings(2.0)] == ["content-near-edge"]


def _worst_by_sorting_every_pixel(shift: ColorShift) -> list[tuple[int, int]]:
    """The definition: pixels by falling shift, the first of each colour family, five."""
    ys, xs = np.nonzero(shift.printed)
    picked: list[tuple[int, int]] = []
    seen: set[tuple[int, ...]] = set()
    for i in np.argsort(-shift.delta[ys, xs], kind="stable"):
        family = tuple(int(v) // 32 for v in shift.rgb[ys[i], xs[i]])
        if family not in seen:
            seen.add(family)
            picked.append((int(ys[i]), int(xs[i])))
    return picked[:5]


@pytest.mark.parametrize("one_family_on_top", [False, True])
def test_worst_colours_are_the_most_shifted_pixel_of_the_most_shifted_families(
    profiles: ProfileLibrary, one_family_on_top: bool
) -> None:
    rng = np.random.default_rng(11)
    height, width = 120, 100  # more pixels than the candidates looked at first
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    delta = rng.permutation(height * width).astype(np.float32).reshape(height, width) / 500
    if one_family_on_top:  # the 5000 largest shifts all in one family: the long way round
        top = delta >= np.sort(delta, axis=None)[-5000]
        rgb[top] = (10, 10, 10)
    shift = ColorShift(
        delta=delta,
        printed=np.ones((height, width), bool),
        scale=1.0,
        rgb=rgb,
        cmyk=rng.integers(0, 256, (height, width, 4), dtype=np.uint8),
        output=profiles.get("chemical-proof"),
    )
    expected = [
        ("#" + "".join(f"{int(v):02x}" for v in rgb[y, x]), round(float(delta[y, x]), 1))
        for y, x in _worst_by_sorting_every_pixel(shift)
    ]
    assert [(w["artwork_rgb"], w["delta_e2000"]) for w in shift.worst_colours()] == expected
