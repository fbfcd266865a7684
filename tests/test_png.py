"""The picture PNG writer: readers get exactly the pixels, whatever the threads."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from preflight.png import encode_png
from tests.imaging import photo


def _decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.copy()


@pytest.mark.parametrize(
    ("mode", "size", "threads"),
    [
        ("RGB", (1, 1), 2),
        ("RGB", (1200, 900), 2),  # several pieces compressed side by side
        ("RGB", (1200, 900), 4),
        ("RGB", (333, 1), 1),
        ("L", (1000, 700), 2),
        ("RGBA", (640, 480), 2),
    ],
)
def test_pixels_read_back_exactly(mode: str, size: tuple[int, int], threads: int) -> None:
    image = photo(size).convert(mode)
    data = encode_png(image, threads=threads)
    decoded = _decoded(data)
    assert decoded.mode == mode and decoded.size == size
    assert decoded.tobytes() == image.tobytes()


def test_the_stream_is_one_valid_zlib_stream_with_correct_checksums() -> None:
    image = photo((1500, 1000))
    data = encode_png(image, threads=3)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat = 8, b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        if kind == b"IDAT":
            idat += body
        position += 12 + length
    raw = zlib.decompress(idat)  # verifies the Adler-32 of the pieces put together
    rows = np.frombuffer(raw, np.uint8).reshape(1000, -1)
    assert rows.shape[1] == 1500 * 3 + 1 and set(rows[:, 0]) == {2}


def test_identical_pixels_give_identical_bytes_whatever_the_threads() -> None:
    image = photo((900, 700))  # 1.9 MB of rows: cut into pieces
    one = encode_png(image, threads=1)
    assert one == encode_png(image, threads=2) == encode_png(image, threads=3)


def test_other_modes_are_refused() -> None:
    with pytest.raises(ValueError, match="L, RGB or RGBA"):
        encode_png(Image.new("CMYK", (2, 2)))
