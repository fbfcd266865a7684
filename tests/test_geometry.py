from __future__ import annotations

import pytest

from preflight.errors import InvalidPlacement
from preflight.geometry import Placement, mm_to_px, px_to_mm, resolve_placement


def test_mm_px_round_trip() -> None:
    assert mm_to_px(25.4, 300) == pytest.approx(300)
    assert px_to_mm(mm_to_px(12.3, 300), 300) == pytest.approx(12.3)


def test_cover_fills_and_contain_fits() -> None:
    canvas = (1000, 2000)
    cover = resolve_placement(Placement(fit="cover"), (500, 500), canvas, 300)
    assert cover.scale == pytest.approx(4.0)  # the long side decides
    assert cover.bounding_box.width == pytest.approx(2000)
    contain = resolve_placement(Placement(fit="contain"), (500, 500), canvas, 300)
    assert contain.scale == pytest.approx(2.0)
    assert contain.bounding_box.height == pytest.approx(1000)


def test_effective_ppi_follows_scale() -> None:
    placed = resolve_placement(Placement(scale=2.0), (1000, 2000), (1000, 2000), 300)
    assert placed.effective_ppi == pytest.approx(150.0)


def test_fit_uses_the_rotated_bounding_box() -> None:
    placed = resolve_placement(Placement(rotate_deg=90), (2000, 1000), (1000, 2000), 300)
    assert placed.scale == pytest.approx(1.0)
    box = placed.bounding_box
    assert (box.width, box.height) == (pytest.approx(1000), pytest.approx(2000))


def test_rotation_is_clockwise() -> None:
    # The artwork's top-left corner, turned 90° clockwise, ends at the top-right.
    placed = resolve_placement(Placement(rotate_deg=90), (200, 100), (100, 200), 300)
    top_left = placed.quad_px[0]
    assert top_left == (pytest.approx(100), pytest.approx(0))


def test_canvas_to_artwork_inverts_the_placement() -> None:
    placed = resolve_placement(
        Placement(rotate_deg=33, scale=1.3, center=(0.4, 0.6)), (640, 480), (900, 1800), 300
    )
    a, b, c, d, e, f = placed.canvas_to_artwork()
    for (x, y), expected in zip(
        placed.quad_px, [(0, 0), (640, 0), (640, 480), (0, 480)], strict=True
    ):
        assert (a * x + b * y + c, d * x + e * y + f) == (
            pytest.approx(expected[0], abs=1e-6),
            pytest.approx(expected[1], abs=1e-6),
        )


@pytest.mark.parametrize(
    "fields",
    [
        {"center": (1.5, 0.5)},
        {"scale": 0},
        {"scale": float("nan")},
        {"fit": "stretch"},
        {"rotate_deg": float("inf")},
        {"center": (float("nan"), 0.5)},
    ],
)
def test_invalid_placements_are_clear_errors(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidPlacement) as err:
        Placement.parse(**fields)
    assert err.value.code == "invalid-placement"
