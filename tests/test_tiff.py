"""The print-file TIFF writer: every reader we know gets the same pixels, tags and profile."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, TiffImagePlugin

from preflight.tiff import encode_tiff

EXPECTED_TAGS = {256, 257, 258, 259, 262, 273, 277, 278, 279, 282, 283, 284, 296, 317, 34675}


def _noise(mode: str, size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(7)
    shape = (size[1], size[0], 4) if mode == "CMYK" else (size[1], size[0])
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    pixels[: size[1] // 2] //= 32  # a smoother half, so strips differ in how they compress
    return Image.fromarray(pixels, mode)


@pytest.mark.parametrize(
    ("mode", "size", "threads"),
    [
        ("CMYK", (1, 1), 2),
        ("CMYK", (1, 700), 2),  # one pixel wide: the predictor has nothing to subtract
        ("CMYK", (1111, 377), 2),  # rows do not divide into whole strips
        ("CMYK", (1111, 377), 1),
        ("L", (2048, 1000), 2),
    ],
)
def test_pillow_and_tifffile_read_back_the_same_pixels(
    tmp_path: Path, mode: str, size: tuple[int, int], threads: int
) -> None:
    image = _noise(mode, size)
    icc = b"fake profile bytes, odd length" if mode == "CMYK" else None
    data = encode_tiff(image, 300, icc, threads=threads)
    with Image.open(io.BytesIO(data)) as read:
        assert isinstance(read, TiffImagePlugin.TiffImageFile)
        read.load()
        assert read.mode == mode and read.size == size
        assert read.tobytes() == image.tobytes()
        assert read.info["dpi"] == (300, 300)
        assert read.info["compression"] == "tiff_adobe_deflate"
        assert read.info.get("icc_profile") == icc
        tags = set(read.tag_v2.keys())
        assert tags == (EXPECTED_TAGS if icc else EXPECTED_TAGS - {34675})
    path = tmp_path / "out.tif"
    path.write_bytes(data)
    assert np.array_equal(tifffile.imread(path), np.asarray(image))


def test_the_same_pixels_give_the_same_bytes_whatever_the_threads() -> None:
    image = _noise("CMYK", (900, 1500))
    assert encode_tiff(image, 300, b"icc", threads=1) == encode_tiff(image, 300, b"icc", threads=2)


def test_only_print_modes_are_written() -> None:
    with pytest.raises(ValueError, match="CMYK or L"):
        encode_tiff(Image.new("RGB", (4, 4)), 300, None)
