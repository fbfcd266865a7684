"""The artwork PNG reader: Pillow's pixels, byte for byte, or None for PNGs it leaves to Pillow;
damaged data refused; a decompression bomb stopped at the declared size."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from preflight import png_reader
from preflight.errors import CorruptImage
from preflight.loading import load_artwork_bytes
from preflight.png_reader import PngDataError, read_png
from tests.imaging import photo, png_bytes, png_chunk, png_header_only

_SAMPLES = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
_COLOUR_TYPE = {"L": 0, "LA": 4, "RGB": 2, "RGBA": 6}


def _paeth(left: int, up: int, corner: int) -> int:
    estimate = left + up - corner
    to_left, to_up, to_corner = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
    if to_left <= to_up and to_left <= to_corner:
        return left
    return up if to_up <= to_corner else corner


def _filtered_row(kind: int, row: bytes, above: bytes, bpp: int) -> bytes:
    """One row filtered as the PNG specification defines it (written out plainly, as the
    reference the compiled reader is compared against through Pillow)."""
    out = bytearray()
    for i, value in enumerate(row):
        left = row[i - bpp] if i >= bpp else 0
        corner = above[i - bpp] if i >= bpp else 0
        predictor = {
            0: 0,
            1: left,
            2: above[i],
            3: (left + above[i]) // 2,
            4: _paeth(left, above[i], corner),
        }[kind]
        out.append((value - predictor) % 256)
    return bytes([kind]) + bytes(out)


def _handmade_png(
    pixels: np.ndarray,
    mode: str,
    filters: list[int],
    after: bytes = b"",
    interlace: int = 0,
) -> bytes:
    """An 8-bit PNG whose rows use the given filter types; ``after`` chunks go between the
    image data and IEND. (With ``interlace`` set, only the header says so.)"""
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    above = bytes(rows.shape[1])
    data = bytearray()
    for y in range(height):
        row = rows[y].tobytes()
        data += _filtered_row(filters[y % len(filters)], row, above, _SAMPLES[mode])
        above = row
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPE[mode], 0, 0, interlace)
    compressed = zlib.compress(bytes(data), 6)
    half = len(compressed) // 2  # two IDAT chunks, as most writers split the data
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", compressed[:half])
        + png_chunk(b"IDAT", compressed[half:])
        + after
        + png_chunk(b"IEND", b"")
    )


def _pillow(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.copy()


def _pixels(mode: str, size: tuple[int, int]) -> np.ndarray:
    rgba = photo(size).convert("RGBA")
    alpha = np.linspace(0, 255, size[0] * size[1]).astype(np.uint8).reshape(size[1], size[0])
    rgba.putalpha(Image.fromarray(alpha))
    return np.asarray(rgba.convert(mode))


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
@pytest.mark.parametrize("filters", [[0], [1], [2], [3], [4], [4, 0, 3, 1, 2, 4, 3]])
@pytest.mark.parametrize("threads", [1, 2])
def test_every_filter_and_colour_type_gives_pillows_pixels(
    mode: str, filters: list[int], threads: int
) -> None:
    data = _handmade_png(_pixels(mode, (23, 17)), mode, filters)
    decoded = read_png(data, threads)
    assert decoded is not None
    ours, expected = decoded.image, _pillow(data)
    assert (ours.mode, ours.size) == (expected.mode, expected.size)
    assert ours.tobytes() == expected.tobytes()
    alpha = expected.getchannel("A").getextrema()[0] if "A" in mode else None
    assert decoded.alpha_min == alpha


@pytest.mark.parametrize("threads", [1, 2])
def test_pillows_own_pngs_read_the_same_in_many_bands(threads: int) -> None:
    # Pillow's writer picks a filter per row; 1500 px wide rows make many bands of rows.
    for mode in ("RGB", "RGBA"):
        image = Image.fromarray(_pixels(mode, (1500, 900)))
        data = png_bytes(image)
        decoded = read_png(data, threads)
        assert decoded is not None and decoded.image.tobytes() == image.tobytes()


def test_one_pixel_wide_and_one_row_high_images() -> None:
    for size in ((1, 40), (40, 1), (1, 1)):
        data = _handmade_png(_pixels("RGBA", size), "RGBA", [4, 3, 1])
        decoded = read_png(data)
        assert decoded is not None and decoded.image.tobytes() == _pillow(data).tobytes()


def test_pngs_outside_the_common_case_are_left_to_pillow() -> None:
    rgb = _pixels("RGB", (16, 12))
    image = Image.fromarray(rgb)
    declined = {
        "interlaced": _handmade_png(rgb, "RGB", [0], interlace=1),
        "palette": png_bytes(image.convert("P")),
        "16-bit": png_bytes(Image.fromarray(np.full((8, 8), 40000, np.uint16))),
        "colour key": png_bytes(image, transparency=(0, 0, 0)),
        "text after the pixels": _handmade_png(
            rgb, "RGB", [0], after=png_chunk(b"tEXt", b"Comment\x00late")
        ),
        "not a PNG": b"GIF89a",
    }
    for what, data in declined.items():
        assert read_png(data) is None, what
    # The loader still reads each of them (Pillow decodes the pixels).
    for what, data in declined.items():
        if what not in ("not a PNG", "interlaced"):  # (the interlaced one is only a header)
            assert load_artwork_bytes(data, f"{what}.png").image.size[0] > 0, what


def test_the_loader_keeps_the_headers_metadata() -> None:
    image = photo((40, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # the picture is stored turned: EXIF orientation 6
    data = png_bytes(image, exif=exif.tobytes(), dpi=(300, 300))
    assert read_png(data) is not None  # Pillow writes eXIf before the pixels: our reader's case
    artwork = load_artwork_bytes(data, "turned.png")
    assert artwork.facts.exif_orientation == 6 and artwork.facts.exif_orientation_applied
    assert artwork.image.size == (30, 40)
    assert artwork.facts.dpi_tag is not None and round(artwork.facts.dpi_tag[0]) == 300
    assert artwork.facts.format == "PNG" and artwork.facts.pages == 1


@pytest.mark.parametrize("threads", [1, 2])
def test_damaged_image_data_is_refused(threads: int) -> None:
    rgb = _pixels("RGB", (64, 48))
    whole = _handmade_png(rgb, "RGB", [4])
    raw = zlib.compress(b"".join(b"\x00" + row.tobytes() for row in rgb.reshape(48, -1)))

    def png_with(idat: bytes) -> bytes:
        return png_header_only(64, 48, idat, colour_type=2)

    with pytest.raises(PngDataError, match="ends after"):
        read_png(png_with(raw[: len(raw) // 2]), threads)  # data stops mid-image
    with pytest.raises(PngDataError, match="damaged"):
        read_png(png_with(raw[:2] + b"\xff" * 40 + raw[42:]), threads)  # not Deflate
    bad_filter = zlib.compress(b"\x07" + bytes(64 * 3) + b"\x00" + bytes(64 * 3) * 47)
    with pytest.raises(PngDataError, match="row 1 has an unknown filter type"):
        read_png(png_with(bad_filter), threads)
    assert read_png(whole, threads) is not None
    # Through the loader, each is the partner's clear corrupt-image error.
    with pytest.raises(CorruptImage) as error:
        load_artwork_bytes(png_with(raw[:100]), "cut.png")
    assert "cut.png" in error.value.message and "Export it again" in error.value.message


def test_a_stream_longer_than_the_image_is_not_inflated_past_it() -> None:
    # 100 × 100 grey declared, 200 MB of rows in the stream (about 200 kB compressed): the
    # reader stops inflating at the 10 100 bytes the image needs.
    stream = zlib.compressobj(9)
    rows = (b"\x00" + bytes(100)) * 20_000
    compressed = b"".join(stream.compress(rows) for _ in range(100)) + stream.flush()
    data = png_header_only(100, 100, compressed)
    decoded = read_png(data, threads=2)
    assert decoded is not None and decoded.image.size == (100, 100)


@pytest.mark.parametrize("factor", [2, 4])
@pytest.mark.parametrize("threads", [1, 2])
def test_an_opaque_png_reduced_while_read_is_pillows_reduce(factor: int, threads: int) -> None:
    for mode, size in (("RGB", (1503, 901)), ("L", (23, 17)), ("RGB", (5, 3))):
        image = Image.fromarray(_pixels(mode, size))
        decoded = read_png(png_bytes(image), threads, reduce=factor)
        assert decoded is not None
        expected = image.reduce(factor)  # odd sizes: the last blocks are partial
        assert decoded.image.size == expected.size
        assert decoded.image.tobytes() == expected.tobytes(), (mode, size)


def test_a_png_with_alpha_is_never_reduced() -> None:
    data = png_bytes(Image.fromarray(_pixels("RGBA", (40, 30))))
    decoded = read_png(data, reduce=2)
    assert decoded is not None and decoded.image.size == (40, 30)


def test_the_loader_reduces_a_large_png_only_as_far_as_the_placement_allows() -> None:
    data = png_bytes(Image.fromarray(_pixels("RGB", (1200, 800))))

    def needs(fraction: float) -> Callable[[tuple[int, int]], tuple[int, int]]:
        return lambda size: (round(size[0] * fraction), round(size[1] * fraction))

    for fraction, expected in ((0.2, (300, 200)), (0.3, (600, 400)), (0.6, (1200, 800))):
        artwork = load_artwork_bytes(data, "large.png", needed_size=needs(fraction))
        assert artwork.image.size == expected, fraction
        assert (artwork.facts.width_px, artwork.facts.height_px) == (1200, 800)
    # A turned picture (EXIF orientation 6: upright, it is 1200 × 400 px) is reduced as far
    # as its upright need allows: a quarter of the upright width on both sides is 300 px,
    # more than 400 / 2 across the stored file; read without the EXIF, 4x would do.
    exif = Image.Exif()
    exif[0x0112] = 6
    tall = Image.fromarray(_pixels("RGB", (400, 1200)))

    def quarter(size: tuple[int, int]) -> tuple[int, int]:
        return (size[0] // 4, size[0] // 4)

    turned = load_artwork_bytes(png_bytes(tall, exif=exif.tobytes()), "turned.png", None, quarter)
    assert turned.image.size == (1200, 400)
    plain = load_artwork_bytes(png_bytes(tall), "plain.png", None, quarter)
    assert plain.image.size == (100, 300)


def test_an_error_in_an_early_band_stops_the_inflating_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Six bands of rows. The reading thread is slowed down, so the inflating thread has
    # filled the hand-over queue and finished by the time the reader fails on band two: it
    # must not stay blocked handing over its end (the reader would wait for it for good).
    width, height = 1000, 1044
    rows = [b"\x00" + bytes(width * 3)] * height
    rows[200] = b"\x07" + bytes(width * 3)
    data = png_header_only(width, height, zlib.compress(b"".join(rows)), colour_type=2)
    unfilter = png_reader._unfilter_rows

    def slow_unfilter(raw: np.ndarray, above: np.ndarray, out: np.ndarray, bpp: int) -> int:
        time.sleep(0.3)
        return int(unfilter(raw, above, out, bpp))

    monkeypatch.setattr(png_reader, "_unfilter_rows", slow_unfilter)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            read_png(data, threads=2)
        except PngDataError as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=20)
    assert not reader.is_alive(), "the reader hung"
    assert len(outcome) == 1 and "row 201" in str(outcome[0])
