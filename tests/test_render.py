from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from preflight import render
from preflight.geometry import Placement, resolve_placement
from preflight.render import _resize_in_bands, flatten, place_on_canvas
from tests.imaging import assert_images_close, photo


def _place(image: Image.Image, canvas: tuple[int, int], **fields: object):  # type: ignore[no-untyped-def]
    placed = resolve_placement(Placement.parse(**fields), image.size, canvas, 300)
    return place_on_canvas(image, placed)


def test_identity_placement_is_exact() -> None:
    image = photo((300, 600))
    result = _place(image, (300, 600))
    assert_images_close(result.image, image)
    assert result.coverage.getextrema() == (255, 255)


@pytest.mark.parametrize(
    ("angle", "transpose"),
    [
        (90, Image.Transpose.ROTATE_270),
        (180, Image.Transpose.ROTATE_180),
        (-90, Image.Transpose.ROTATE_90),
        (270, Image.Transpose.ROTATE_90),
    ],
)
def test_quarter_turns_are_lossless(angle: int, transpose: Image.Transpose) -> None:
    image = photo((600, 300)) if angle % 180 else photo((300, 600))
    result = _place(image, (300, 600), rotate_deg=angle)
    assert_images_close(result.image, image.transpose(transpose))


def test_contain_leaves_white_and_uncovered_margins() -> None:
    image = Image.new("RGB", (400, 400), (10, 20, 30))
    result = _place(image, (400, 800), fit="contain")
    coverage = np.asarray(result.coverage)
    assert coverage[:190].max() == 0 and coverage[210:590].min() == 255
    flat = np.asarray(flatten(result))
    assert tuple(flat[50, 200]) == (255, 255, 255)
    assert tuple(flat[400, 200]) == (10, 20, 30)


def test_free_rotation_covers_the_expected_area() -> None:
    image = Image.new("RGB", (400, 400), (0, 0, 0))
    result = _place(image, (800, 800), fit="contain", rotate_deg=45, scale=0.5)
    # A 45° square of side 400 × (800/565.7) × 0.5 covers half its bounding box... exactly:
    side = 400 * (800 / (400 * 2**0.5)) * 0.5
    expected_area = side * side
    measured = np.asarray(result.coverage, dtype=np.float64).sum() / 255
    assert measured == pytest.approx(expected_area, rel=0.01)


def test_downscaling_does_not_alias() -> None:
    # A one-pixel checkerboard shrunk 7.3× must come out as flat mid-grey, not moiré.
    board = (np.indices((1460, 730)).sum(axis=0) % 2 * 255).astype(np.uint8)
    image = Image.fromarray(board, mode="L").convert("RGB")
    result = np.asarray(_place(image, (100, 200)).image, dtype=np.float64)
    interior = result[5:-5, 5:-5]
    assert abs(interior.mean() - 127.5) < 3
    assert interior.std() < 3


def test_transparent_pixels_leave_no_dark_fringe() -> None:
    # Transparent black around a white disc: a naive resample would darken the edge.
    image = Image.new("RGBA", (800, 800), (0, 0, 0, 0))
    from PIL import ImageDraw

    ImageDraw.Draw(image).ellipse((100, 100, 700, 700), fill=(255, 255, 255, 255))
    for fields in ({}, {"rotate_deg": 30}):
        flat = np.asarray(flatten(_place(image, (173, 173), **fields)).convert("L"))
        assert flat.min() >= 250, f"dark fringe with {fields}: min {flat.min()}"


def test_cmyk_artwork_keeps_its_separations_and_gets_a_coverage_mask() -> None:
    image = Image.new("CMYK", (200, 200), (0, 0, 0, 255))
    result = _place(image, (200, 400), fit="contain")
    assert result.image.mode == "CMYK"
    assert result.image.getpixel((100, 200)) == (0, 0, 0, 255)
    assert result.image.getpixel((100, 10)) == (0, 0, 0, 0)
    assert result.coverage.getpixel((100, 10)) == 0


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"rotate_deg": 90.0, "scale": 1.3, "center": (0.4, 0.55)},
        {"rotate_deg": 12.0, "fit": "contain"},
        {"fit": "contain", "scale": 0.7, "center": (0.3, 0.3)},
    ],
)
def test_artwork_decoded_at_half_scale_lands_where_the_full_one_does(
    fields: dict[str, object],
) -> None:
    # 2001 px: the reduced copy is not an exact half, as with a JPEG decoded at 1/2 scale.
    full = photo((2001, 3000))
    half = full.resize((1001, 1500), Image.Resampling.BOX)
    placed = resolve_placement(Placement.parse(**fields), full.size, (600, 900), 300)
    from_full = place_on_canvas(full, placed)
    from_half = place_on_canvas(half, placed)
    coverage_full = np.asarray(from_full.coverage, np.int16)
    coverage_half = np.asarray(from_half.coverage, np.int16)
    assert np.abs(coverage_full - coverage_half).max() <= 1
    full_pixels = np.asarray(from_full.image, np.int16)
    half_pixels = np.asarray(from_half.image, np.int16)
    assert float(np.abs(full_pixels - half_pixels).mean()) < 1.5


@pytest.mark.parametrize("fields", [{}, {"rotate_deg": 8.0}])
def test_threads_change_nothing_and_a_cover_fit_is_one_resize(fields: dict[str, object]) -> None:
    image = photo((1000, 2000))
    placed = resolve_placement(Placement.parse(**fields), image.size, (700, 1400), 300)
    one = place_on_canvas(image, placed, threads=1)
    two = place_on_canvas(image, placed, threads=2)
    assert one.image.tobytes() == two.image.tobytes()
    assert one.coverage.tobytes() == two.coverage.tobytes()
    if not fields:  # a plain cover fit is one Lanczos resize of the whole artwork
        whole = image.resize((700, 1400), Image.Resampling.LANCZOS)
        difference = np.abs(np.asarray(one.image, np.int16) - np.asarray(whole, np.int16))
        assert int(difference.max()) == 0


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "CMYK"])
@pytest.mark.parametrize(
    ("source", "size", "box"),
    [
        ((600, 400), (540, 398), (30.5, 0.0, 570.5, 400.0)),  # a cover fit, scale ~0.9
        ((400, 600), (700, 300), (12.25, 40.75, 380.5, 512.0)),  # wider, shorter: a crop
        ((500, 500), (180, 900), (0.0, 0.0, 500.0, 500.0)),  # down across, up along
        ((300, 700), (300, 650), (0.0, 20.0, 300.0, 670.0)),  # whole columns: no across pass
        ((1300, 900), (100, 70), (10.5, 3.0, 1290.0, 897.5)),  # reduced by whole blocks first
    ],
)
def test_banded_resize_is_the_same_whatever_the_bands_and_close_to_one_call(
    mode: str,
    source: tuple[int, int],
    size: tuple[int, int],
    box: tuple[float, float, float, float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = photo(source).convert(mode)
    if mode == "RGBA":  # alpha that varies, so premultiplying matters
        ramp = np.linspace(0, 255, source[0], dtype=np.float32)[None, :].repeat(source[1], 0)
        image.putalpha(Image.fromarray(ramp.astype(np.uint8)))
    with ThreadPoolExecutor(max_workers=3) as pool:
        bands = [_resize_in_bands(image, size, box, pool, count) for count in (1, 2, 3)]
        # Large sources are cut into more bands than threads (memory): as if this one were.
        monkeypatch.setattr(render, "_BAND_SOURCE_BYTES", 64 * 1024)
        bands.append(_resize_in_bands(image, size, box, pool, 2))
    assert bands[0].tobytes() == bands[3].tobytes()
    assert bands[0].tobytes() == bands[1].tobytes() == bands[2].tobytes()
    # Pillow's one call may run the two passes in the other order (the 8-bit image between
    # them then rounds differently): a rounding difference, never a seam or a shift.
    whole = image.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
    if mode == "RGBA":  # compared as seen: a colour under alpha 2 is rounding noise
        ours, theirs = (np.asarray(im.convert("RGBa"), np.int16) for im in (bands[0], whole))
    else:
        ours, theirs = np.asarray(bands[0], np.int16), np.asarray(whole, np.int16)
    difference = np.abs(ours - theirs)
    assert float(difference.mean()) < 0.3
    assert int(difference.max()) <= 16
