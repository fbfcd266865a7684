"""Test helpers: fixtures generated in code (no downloads) and image assertions."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def png_bytes(image: Image.Image, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", **params)
    return out.getvalue()


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, body and its CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png16(pixels: np.ndarray) -> bytes:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit RGB): H×W×C uint16, C in 1–4."""
    height, width, channels = pixels.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def png_header_only(
    width: int, height: int, idat: bytes | None = None, colour_type: int = 0
) -> bytes:
    """An 8-bit PNG (grey unless ``colour_type`` says otherwise) declaring ``width``×``height``
    with the given (compressed) data: by default almost none, a header-only 'bomb'."""
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat if idat is not None else zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def corrupt_png_crc(data: bytes) -> bytes:
    """Flip one byte inside the IDAT payload, leaving its CRC stale."""
    at = data.index(b"IDAT") + 8
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def photo(size: tuple[int, int] | None = None) -> Image.Image:
    """A real photograph that ships with scikit-image (NASA astronaut, public domain)."""
    from skimage import data

    image = Image.fromarray(data.astronaut())
    return image.resize(size, Image.Resampling.LANCZOS) if size else image


def patches(
    colours: Sequence[tuple[int, ...]], size: tuple[int, int], mode: str = "RGB", columns: int = 4
) -> Image.Image:
    """Flat colour patches in a grid, each large enough that resampling leaves its interior."""
    image = Image.new(mode, size)
    rows = -(-len(colours) // columns)
    cell_w, cell_h = size[0] // columns, size[1] // rows
    for i, colour in enumerate(colours):
        x, y = (i % columns) * cell_w, (i // columns) * cell_h
        image.paste(colour, (x, y, x + cell_w, y + cell_h))
    return image


def patch_centres(count: int, size: tuple[int, int], columns: int = 4) -> list[tuple[int, int]]:
    rows = -(-count // columns)
    cell_w, cell_h = size[0] // columns, size[1] // rows
    return [
        ((i % columns) * cell_w + cell_w // 2, (i // columns) * cell_h + cell_h // 2)
        for i in range(count)
    ]


def save(image: Image.Image, path: Path, **params: Any) -> Path:
    image.save(path, **params)
    return path


def assert_images_close(actual: Image.Image, expected: Image.Image, max_diff: int = 0) -> None:
    assert actual.mode == expected.mode, (actual.mode, expected.mode)
    assert actual.size == expected.size, (actual.size, expected.size)
    diff = np.abs(np.asarray(actual, dtype=np.int16) - np.asarray(expected, dtype=np.int16))
    assert int(diff.max()) <= max_diff, f"max channel difference {diff.max()} > {max_diff}"


GOLDENS = Path(__file__).parent / "goldens"
UPDATE_GOLDENS = "PREFLIGHT_UPDATE_GOLDENS"


def assert_matches_golden(actual: Image.Image, name: str, max_mean_diff: float = 1.0) -> None:
    """Compare a rendered picture with ``tests/goldens/NAME`` by mean absolute difference per
    channel (0–255), tolerant of font rasteriser and resampler versions. With
    ``PREFLIGHT_UPDATE_GOLDENS=1`` the golden is rewritten instead. On failure the actual
    picture and an amplified difference are written to ``tests/goldens/failed/``."""
    import os

    import pytest

    path = GOLDENS / name
    if os.environ.get(UPDATE_GOLDENS) == "1":
        actual.save(path, optimize=True)
        return
    if not path.exists():
        pytest.fail(f"no golden picture {path}; create it with {UPDATE_GOLDENS}=1")
    with Image.open(path) as stored:
        expected = stored.convert(actual.mode)
    same_size = expected.size == actual.size
    mean = (
        float(
            np.abs(np.asarray(actual, dtype=np.int16) - np.asarray(expected, dtype=np.int16)).mean()
        )
        if same_size
        else float("inf")
    )
    if mean <= max_mean_diff:
        return
    failed = GOLDENS / "failed"
    failed.mkdir(exist_ok=True)
    actual.save(failed / name)
    if same_size:
        diff = np.abs(np.asarray(actual, dtype=np.int16) - np.asarray(expected, dtype=np.int16))
        Image.fromarray(np.clip(diff * 8, 0, 255).astype(np.uint8)).save(
            failed / name.replace(".png", "-diff.png")
        )
    pytest.fail(
        f"{name} differs from its golden: mean difference {mean:.2f} > {max_mean_diff} "
        f"(size {actual.size} vs {expected.size}); see {failed}. If the change is intended, "
        f"regenerate with {UPDATE_GOLDENS}=1 and look at the new picture before committing."
    )
