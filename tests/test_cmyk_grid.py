"""The soft proof's grid against LittleCMS itself (preflight/cmyk_grid.py)."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageCms

from preflight import color
from preflight.cmyk_grid import CmykGrid
from preflight.color import (
    ColorSettings,
    ProfileLibrary,
    convert_to_output,
    soft_proof,
    srgb_profile_bytes,
)
from preflight.resample import BOX, resize
from tests.imaging import photo


def _soft_proof_transform(
    profiles: ProfileLibrary, flags: ImageCms.Flags = ImageCms.Flags.NONE
) -> ImageCms.ImageCmsTransform:
    return ImageCms.buildTransform(
        ImageCms.ImageCmsProfile(io.BytesIO(profiles.get("chemical-proof").data)),
        ImageCms.ImageCmsProfile(io.BytesIO(srgb_profile_bytes())),
        "CMYK",
        "RGB",
        renderingIntent=ImageCms.Intent.ABSOLUTE_COLORIMETRIC,
        flags=flags,
    )


def _sampler(
    transform: ImageCms.ImageCmsTransform,
) -> Callable[[Image.Image], Image.Image]:
    def convert(image: Image.Image) -> Image.Image:
        converted = ImageCms.applyTransform(image, transform)
        assert converted is not None
        return converted

    return convert


def _levels_off(a: Image.Image, b: Image.Image) -> np.ndarray:
    return np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16))


def test_random_colours_are_within_one_level_of_littlecms(profiles: ProfileLibrary) -> None:
    transform = _soft_proof_transform(profiles)
    grid = CmykGrid.build(_sampler(transform))
    assert grid is not None
    rng = np.random.default_rng(11)
    # Other colours than the build's own check; every ink level and the grid's nodes included.
    colours = rng.integers(0, 256, (400, 500, 4), dtype=np.uint8)
    colours[0, :256] = np.arange(256, dtype=np.uint8)[:, None]
    colours[1, :256, 3] = np.arange(256, dtype=np.uint8)
    image = Image.fromarray(colours, "CMYK")
    expected = ImageCms.applyTransform(image, transform)
    assert expected is not None
    off = _levels_off(grid.convert(image), expected)
    assert off.max() <= 1
    assert (off.max(axis=-1) == 0).mean() > 0.6  # most pixels identical


def test_a_proofs_pixels_are_within_one_level_of_littlecms(profiles: ProfileLibrary) -> None:
    output = profiles.get("chemical-proof")
    printed = convert_to_output(photo((800, 1600)), None, output, ColorSettings())
    proof_print = resize(printed, (400, 800), BOX)  # as the proof reduces it: averaged inks
    transform = _soft_proof_transform(profiles)
    expected = ImageCms.applyTransform(proof_print, transform)
    assert expected is not None
    off = _levels_off(soft_proof(proof_print, output), expected)
    assert off.max() <= 1
    assert off.mean() < 0.2


@pytest.mark.parametrize("flags", [ImageCms.Flags.HIGHRESPRECALC, ImageCms.Flags.NOOPTIMIZE])
def test_a_transform_evaluated_otherwise_gets_no_grid(
    profiles: ProfileLibrary, flags: ImageCms.Flags
) -> None:
    # A finer grid (23 nodes) or the unoptimised pipeline: our 17 nodes miss it by more than
    # a level somewhere, and the check at build time says so.
    assert CmykGrid.build(_sampler(_soft_proof_transform(profiles, flags))) is None


def test_without_a_grid_the_soft_proof_is_littlecms_byte_for_byte(
    profiles: ProfileLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = profiles.get("chemical-proof")
    monkeypatch.setitem(color._GRIDS, color._profile_digest(output.data), None)
    printed = convert_to_output(photo((300, 500)), None, output, ColorSettings())
    expected = ImageCms.applyTransform(printed, _soft_proof_transform(profiles))
    assert expected is not None
    assert soft_proof(printed, output).tobytes() == expected.tobytes()


def test_the_grid_samples_cmyk_to_rgb_only(profiles: ProfileLibrary) -> None:
    with pytest.raises(ValueError, match="not to CMYK"):
        CmykGrid.build(lambda image: image)  # CMYK back: not a soft proof
    grid = CmykGrid.build(_sampler(_soft_proof_transform(profiles)))
    assert grid is not None
    with pytest.raises(ValueError, match="not RGB"):
        grid.convert(Image.new("RGB", (2, 2)))
