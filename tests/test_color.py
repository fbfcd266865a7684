from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage.color import deltaE_ciede2000

from preflight.color import (
    ColorSettings,
    ProfileLibrary,
    convert_to_output,
    print_to_lab,
    source_to_lab,
)


def _lab(rgb: tuple[int, int, int]) -> np.ndarray:
    lab: np.ndarray = source_to_lab(Image.new("RGB", (1, 1), rgb), None)[0, 0]
    return lab


def test_source_lab_has_signed_a_and_b() -> None:
    # sRGB primaries in CIELAB (D50): red ≈ (54, 81, 70), blue ≈ (29, 68, -112).
    assert _lab((255, 0, 0)) == pytest.approx([54.1, 81, 70], abs=1.5)
    assert _lab((0, 0, 255)) == pytest.approx([29.4, 68, -112], abs=1.5)
    assert _lab((255, 255, 255)) == pytest.approx([100, 0, 0], abs=0.5)


def test_predicted_print_shift_is_large_for_blue_and_small_for_skin(
    profiles: ProfileLibrary,
) -> None:
    output = profiles.get("chemical-proof")

    def shift(rgb: tuple[int, int, int]) -> float:
        image = Image.new("RGB", (1, 1), rgb)
        printed = print_to_lab(convert_to_output(image, None, output, ColorSettings()), output)
        return float(deltaE_ciede2000(source_to_lab(image, None), printed)[0, 0])

    assert shift((0, 0, 255)) > 10
    assert shift((224, 172, 140)) < 2
