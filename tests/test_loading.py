from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from preflight.datapaths import default_profiles_dir
from preflight.errors import (
    CorruptImage,
    FileTooLarge,
    ImageTooLarge,
    PreflightError,
    UnsupportedColorMode,
    UnsupportedFormat,
)
from preflight.loading import LoadLimits, load_artwork, load_artwork_bytes, sniff_format
from tests.imaging import corrupt_png_crc, encode, photo, png16, png_bytes, png_header_only

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.mark.parametrize(
    ("mode", "fmt", "working", "params"),
    [
        ("1", "PNG", "L", {}),
        ("L", "PNG", "L", {}),
        ("LA", "PNG", "LA", {}),
        ("P", "PNG", "RGB", {}),
        ("RGB", "JPEG", "RGB", {"quality": 95}),
        ("RGBA", "PNG", "RGBA", {}),
        ("CMYK", "JPEG", "CMYK", {}),
        ("CMYK", "TIFF", "CMYK", {}),
        ("RGB", "TIFF", "RGB", {"compression": "tiff_lzw"}),
    ],
)
def test_modes_load_into_a_working_mode(
    mode: str, fmt: str, working: str, params: dict[str, object]
) -> None:
    base = photo((64, 48)).convert(mode)
    if working.endswith("A"):
        alpha = Image.linear_gradient("L").resize(base.size)
        base.putalpha(alpha)
    artwork = load_artwork_bytes(encode(base, fmt, **params), f"art.{fmt.lower()}")
    assert artwork.image.mode == working
    assert artwork.image.size == (64, 48)
    assert artwork.facts.format == fmt
    assert artwork.facts.mode == base.mode


def test_palette_with_transparency_becomes_rgba() -> None:
    image = Image.new("P", (10, 10), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.paste(1, (0, 0, 5, 10))
    artwork = load_artwork_bytes(png_bytes(image, transparency=0), "p.png")
    assert artwork.image.mode == "RGBA"
    assert artwork.facts.has_alpha


def test_an_all_opaque_alpha_channel_is_dropped() -> None:
    artwork = load_artwork_bytes(png_bytes(photo((32, 32)).convert("RGBA")), "a.png")
    assert artwork.image.mode == "RGB"
    assert not artwork.facts.has_alpha


def test_16_bit_grey_png_keeps_its_tones() -> None:
    ramp = np.linspace(0, 65535, 256, dtype=np.uint16).reshape(1, 256, 1).repeat(4, axis=0)
    artwork = load_artwork_bytes(png16(ramp), "grey16.png")
    assert artwork.image.mode == "L"
    assert artwork.facts.bits_per_sample == 16
    row = np.asarray(artwork.image)[0]
    assert row[0] == 0 and row[-1] == 255
    assert np.all(np.diff(row.astype(int)) >= 0)


def test_16_bit_rgb_png_is_read_and_reported() -> None:
    pixels = np.zeros((4, 4, 3), np.uint16)
    pixels[..., 0], pixels[..., 1], pixels[..., 2] = 65535, 32896, 2570
    artwork = load_artwork_bytes(png16(pixels), "rgb16.png")
    assert artwork.facts.bits_per_sample == 16
    assert artwork.image.mode == "RGB"
    assert artwork.image.getpixel((0, 0)) == (255, 128, 10)


def test_embedded_profile_is_the_source() -> None:
    artwork = load_artwork_bytes(png_bytes(photo((16, 16)), icc_profile=SRGB), "tagged.png")
    assert artwork.facts.profile_source == "embedded"
    assert artwork.icc_profile == SRGB
    untagged = load_artwork_bytes(png_bytes(photo((16, 16))), "untagged.png")
    assert untagged.facts.profile_source == "assumed-srgb"
    assert untagged.icc_profile is None


def test_a_profile_that_does_not_match_the_pixels_is_ignored_and_reported() -> None:
    cmyk = Image.new("CMYK", (16, 16), (10, 20, 30, 40))
    artwork = load_artwork_bytes(encode(cmyk, "TIFF", icc_profile=SRGB), "mismatch.tif")
    assert artwork.facts.profile_source == "invalid-embedded"
    assert artwork.icc_profile is None
    garbage = load_artwork_bytes(png_bytes(photo((8, 8)), icc_profile=b"not a profile"), "g.png")
    assert garbage.facts.profile_source == "invalid-embedded"


def test_cmyk_with_the_output_profile_is_recognised() -> None:
    icc = (default_profiles_dir() / "chemical-proof.icc").read_bytes()
    cmyk = Image.new("CMYK", (16, 16), (10, 20, 30, 40))
    artwork = load_artwork_bytes(encode(cmyk, "TIFF", icc_profile=icc), "cmyk.tif")
    assert artwork.facts.profile_source == "embedded"
    assert artwork.facts.profile_description == "Chemical proof"


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_exif_orientation_is_applied(orientation: int) -> None:
    upright = photo((60, 40))
    # Store the pixels as a camera would: the inverse of the fix the tag asks for.
    stored = {
        2: upright.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        3: upright.transpose(Image.Transpose.ROTATE_180),
        4: upright.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
        5: upright.transpose(Image.Transpose.TRANSPOSE),
        6: upright.transpose(Image.Transpose.ROTATE_90),
        7: upright.transpose(Image.Transpose.TRANSVERSE),
        8: upright.transpose(Image.Transpose.ROTATE_270),
    }[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    artwork = load_artwork_bytes(png_bytes(stored, exif=exif), "camera.png")
    assert artwork.facts.exif_orientation == orientation
    assert artwork.facts.exif_orientation_applied
    assert artwork.image.size == (60, 40)
    diff = np.abs(np.asarray(artwork.image, int) - np.asarray(upright, int))
    assert diff.max() == 0


def test_malformed_exif_is_ignored_not_fatal() -> None:
    data = encode(photo((20, 20)), "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff")
    artwork = load_artwork_bytes(data, "odd-exif.jpg")
    assert not artwork.facts.exif_orientation_applied
    assert any("EXIF" in note for note in artwork.facts.notes)


def test_dpi_tag_is_reported_not_trusted() -> None:
    artwork = load_artwork_bytes(encode(photo((20, 20)), "PNG", dpi=(72, 72)), "a.png")
    assert artwork.facts.dpi_tag == (pytest.approx(72, abs=0.1), pytest.approx(72, abs=0.1))


# --- refusals: each a typed error with a stable code and the file's name -------------------


def _refused(
    data: bytes, name: str, error: type[PreflightError], limits: LoadLimits | None = None
) -> PreflightError:
    with pytest.raises(error) as caught:
        load_artwork_bytes(data, name, limits)
    assert name in caught.value.message
    return caught.value


def test_unsupported_formats_are_named() -> None:
    gif = encode(photo((20, 20)), "GIF")
    assert "GIF" in _refused(gif, "disguised.png", UnsupportedFormat).message
    assert "WebP" in _refused(encode(photo((20, 20)), "WEBP"), "x.png", UnsupportedFormat).message
    _refused(b"%PDF-1.7\n...", "artwork.pdf", UnsupportedFormat)
    _refused(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "logo.png", UnsupportedFormat)
    _refused(b"hello, this is text", "notes.jpg", UnsupportedFormat)
    assert sniff_format(encode(photo((8, 8)), "BMP")) == "BMP"


def test_disguised_but_allowed_content_is_read_by_content() -> None:
    artwork = load_artwork_bytes(encode(photo((20, 20)), "JPEG"), "really-a-jpeg.png")
    assert artwork.facts.format == "JPEG"


def test_empty_truncated_and_damaged_files_are_corrupt() -> None:
    assert _refused(b"", "empty.png", CorruptImage).code == "corrupt-image"
    jpeg = encode(photo((200, 200)), "JPEG")
    _refused(jpeg[: len(jpeg) // 2], "cut.jpg", CorruptImage)
    png = png_bytes(photo((200, 200)))
    _refused(png[: len(png) // 2], "cut.png", CorruptImage)
    _refused(corrupt_png_crc(png), "crc.png", CorruptImage)
    tiff = encode(photo((200, 200)), "TIFF")
    _refused(tiff[:300], "cut.tif", CorruptImage)
    _refused(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "header.png", CorruptImage)


def test_limits_are_enforced_before_decoding() -> None:
    data = png_bytes(photo((100, 100)))
    error = _refused(data, "big.png", FileTooLarge, LoadLimits(max_file_bytes=len(data) - 1))
    assert error.code == "file-too-large"
    _refused(data, "many.png", ImageTooLarge, LoadLimits(max_pixels=100 * 100 - 1))


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    bomb = png_header_only(100_000, 100_000)
    assert len(bomb) < 200
    assert _refused(bomb, "bomb.png", ImageTooLarge).code == "image-too-large"
    # A real one: 10 000 × 10 000 px of zeros, 100 MB decoded, about 100 kB on disk.
    import zlib

    rows = zlib.compress((b"\x00" + b"\x00" * 10_000) * 10_000, 9)
    real_bomb = png_header_only(10_000, 10_000, idat=rows)
    assert len(real_bomb) < 200_000
    _refused(real_bomb, "bomb2.png", ImageTooLarge, LoadLimits(max_pixels=50_000_000))


def test_unsupported_colour_modes_are_refused() -> None:
    floats = Image.fromarray(np.zeros((8, 8), np.float32), mode="F")
    _refused(encode(floats, "TIFF"), "float.tif", UnsupportedColorMode)


def test_file_path_loading_checks_size_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "art.png"
    path.write_bytes(png_bytes(photo((50, 50))))
    assert load_artwork(path).facts.file_name == "art.png"
    with pytest.raises(FileTooLarge):
        load_artwork(path, LoadLimits(max_file_bytes=10))


@pytest.mark.parametrize(
    ("shape", "photometric", "mode"),
    [((8, 8, 3), "rgb", "RGB"), ((8, 8), "minisblack", "L"), ((8, 8, 4), "separated", "CMYK")],
)
def test_16_bit_tiffs_are_read_and_reported(
    shape: tuple[int, ...], photometric: str, mode: str
) -> None:
    import io

    import tifffile  # ships with scikit-image

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, np.full(shape, 40000, np.uint16), photometric=photometric)
    artwork = load_artwork_bytes(buffer.getvalue(), "deep.tif")
    assert artwork.facts.bits_per_sample == 16
    assert artwork.image.mode == mode
    first = artwork.image.getpixel((0, 0))
    assert (first if isinstance(first, tuple) else (first,))[0] == round(40000 / 257)


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_large_jpeg_is_decoded_no_smaller_than_needed(orientation: int) -> None:
    stored = photo((2000, 1200))  # upright 1200×2000 when the camera says "turned" (6)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(stored, "JPEG", quality=90, exif=exif)
    upright = (1200, 2000) if orientation == 6 else (2000, 1200)
    asked: list[tuple[int, int]] = []

    def needed(size: tuple[int, int]) -> tuple[int, int]:
        asked.append(size)
        return (size[0] // 3, size[1] // 3)

    artwork = load_artwork_bytes(data, "big.jpg", needed_size=needed)
    assert asked == [upright]
    assert artwork.size == upright  # the facts keep the file's real size...
    assert (artwork.facts.width_px, artwork.facts.height_px) == upright
    # ...the pixels come at half scale: the largest DCT scale that is still enough.
    assert artwork.image.size == (upright[0] // 2, upright[1] // 2)
    full = load_artwork_bytes(data, "big.jpg")
    assert full.image.size == upright
    reduced = full.image.resize(artwork.image.size, Image.Resampling.BOX)
    difference = np.abs(np.asarray(reduced, np.int16) - np.asarray(artwork.image, np.int16))
    assert float(difference.mean()) < 2.0


def test_opaque_pngs_are_read_at_most_four_times_smaller_others_whole() -> None:
    def tiny(size: tuple[int, int]) -> tuple[int, int]:
        return (10, 10)

    opaque = load_artwork_bytes(png_bytes(photo((800, 600))), "art.png", needed_size=tiny)
    assert opaque.image.size == (200, 150) and opaque.size == (800, 600)
    # Transparency that matters: a clear band along the top.
    pixels = np.asarray(photo((800, 600)).convert("RGBA")).copy()
    pixels[:40, :, 3] = 0
    transparent = png_bytes(Image.fromarray(pixels))
    with_alpha = load_artwork_bytes(transparent, "a.png", needed_size=tiny)
    assert with_alpha.image.size == (800, 600) and with_alpha.facts.has_alpha
    tiff = load_artwork_bytes(encode(photo((800, 600)), "TIFF"), "art.tif", needed_size=tiny)
    assert tiff.image.size == (800, 600) == tiff.size
