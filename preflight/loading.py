"""Safe artwork loading: limits before decoding, formats by content, one working mode out.

Order matters (untrusted bytes): size cap → magic-byte sniffing against an allow-list → header
parse (lazy) → pixel-count cap → integrity check (PNG CRCs) → decode → EXIF orientation (our own
code: Pillow's helper raises on some malformed EXIF) → normalisation to a working mode.
Every failure is a typed :mod:`preflight.errors` error with one sentence a partner can act on.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from preflight.color import describe_icc
from preflight.errors import (
    CorruptImage,
    FileTooLarge,
    ImageTooLarge,
    InvalidProfile,
    UnsupportedColorMode,
    UnsupportedFormat,
)
from preflight.png_reader import DecodedPng, PngDataError, read_png

__all__ = [
    "ALLOWED_FORMATS",
    "Artwork",
    "ArtworkFacts",
    "ArtworkSummary",
    "LoadLimits",
    "inspect_artwork_bytes",
    "load_artwork",
    "load_artwork_bytes",
    "sniff_format",
]

# PNG (lossless, alpha), JPEG (photos), TIFF (print industry's raster exchange format, CMYK).
# Everything else is refused: each extra decoder is attack surface, and formats such as GIF
# (256 colours) or WebP/HEIC (lossy screen formats, patchy ICC support) are not print masters.
ALLOWED_FORMATS = ("PNG", "JPEG", "TIFF")

# Pillow refuses images above 2 × MAX_IMAGE_PIXELS outright; our own cap must stay below that
# so that every refusal is ours, with our message.
PILLOW_HARD_PIXEL_LIMIT = 2 * (Image.MAX_IMAGE_PIXELS or 89_478_485)

# Colour modes Pillow may report from a header that _to_working_mode can turn into a working
# mode (16-bit grey appears as I;16, I;16B, ...).
_HEADER_MODES = frozenset(
    {"RGB", "RGBA", "L", "LA", "CMYK", "1", "P", "PA", "RGBX", "RGBa", "La", "YCbCr", "I"}
)

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"II+\x00", 0, "BigTIFF"),
    (b"MM\x00+", 0, "BigTIFF"),
    (b"GIF8", 0, "GIF"),
    (b"BM", 0, "BMP"),
    (b"%PDF", 0, "PDF"),
    (b"8BPS", 0, "Photoshop PSD"),
    (b"%!PS", 0, "PostScript/EPS"),
    (b"\xc5\xd0\xd3\xc6", 0, "EPS"),
    (b"PK\x03\x04", 0, "ZIP archive"),
    (b"\x00\x00\x00\x0cjP  ", 0, "JPEG 2000"),
    (b"WEBP", 8, "WebP"),
    (b"ftypheic", 4, "HEIC"),
    (b"ftypheix", 4, "HEIC"),
    (b"ftypmif1", 4, "HEIF"),
    (b"ftypavif", 4, "AVIF"),
)

_EXIF_ORIENTATION_TAG = 0x0112
# EXIF orientation value → the Pillow transpose that displays the image upright.
_ORIENTATION_FIX: dict[int, tuple[Image.Transpose, ...]] = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}
_TURNED_ORIENTATIONS = frozenset({5, 6, 7, 8})  # a quarter turn: width and height swap


@dataclass(frozen=True)
class LoadLimits:
    """Caps applied before decoding. Callers take them from settings."""

    max_file_bytes: int = 150 * 1024 * 1024
    max_pixels: int = 120_000_000

    def __post_init__(self) -> None:
        if not 0 < self.max_pixels <= PILLOW_HARD_PIXEL_LIMIT:
            raise ValueError(f"max_pixels must be between 1 and {PILLOW_HARD_PIXEL_LIMIT}")
        if self.max_file_bytes <= 0:
            raise ValueError("max_file_bytes must be positive")


@dataclass(frozen=True)
class ArtworkFacts:
    """What we learnt about the file; reported as the report's ``artwork`` section."""

    file_name: str
    file_bytes: int
    sha256: str
    format: str
    width_px: int  # after EXIF orientation
    height_px: int
    mode: str  # as stored in the file
    bits_per_sample: int
    has_alpha: bool  # the alpha channel has at least one non-opaque pixel
    profile_source: str  # "embedded" | "assumed-srgb" | "assumed-output" | "invalid-embedded"
    profile_description: str | None
    exif_orientation: int | None  # the raw tag, when present
    exif_orientation_applied: bool
    pages: int = 1
    dpi_tag: tuple[float, float] | None = None  # reported only: resolution is computed, never read
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file_name,
            "bytes": self.file_bytes,
            "sha256": self.sha256,
            "format": self.format,
            "width_px": self.width_px,
            "height_px": self.height_px,
            "mode": self.mode,
            "bits_per_sample": self.bits_per_sample,
            "has_alpha": self.has_alpha,
            "color_profile": {
                "source": self.profile_source,
                "description": self.profile_description,
            },
            "exif_orientation": self.exif_orientation,
            "exif_orientation_applied": self.exif_orientation_applied,
            "pages": self.pages,
            "dpi_tag": list(self.dpi_tag) if self.dpi_tag else None,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Artwork:
    """Decoded, upright artwork in a working mode (RGB, RGBA, L, LA or CMYK).

    ``image`` may be smaller than the file (``facts`` has the file's size) when the caller
    allowed the decoder to scale it down (see :func:`load_artwork_bytes`).
    """

    facts: ArtworkFacts
    image: Image.Image
    icc_profile: bytes | None  # the source profile, when it is embedded and usable

    @property
    def size(self) -> tuple[int, int]:
        """The artwork's real size in px (upright), whatever size it was decoded at."""
        return (self.facts.width_px, self.facts.height_px)


@contextmanager
def _decoder_warnings(notes: list[str]) -> Iterator[None]:
    """Record Pillow's warnings (corrupt EXIF, odd chunks...) as notes instead of raising.

    Our own pixel cap replaces Pillow's decompression-bomb warning (its hard error stays).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        if issubclass(warning.category, Image.DecompressionBombWarning):
            continue
        text = f"decoder warning: {str(warning.message).strip()}"
        if text not in notes:
            notes.append(text)


def sniff_format(head: bytes) -> str | None:
    """Name the format the first bytes announce (allowed or not), or ``None``."""
    for magic, offset, name in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return name
    stripped = head.lstrip()[:256].lower()
    if stripped.startswith(b"<svg") or (stripped.startswith(b"<?xml") and b"<svg" in head.lower()):
        return "SVG"
    return None


# Given the artwork's upright size in px, the fewest pixels (width, height) the job needs.
NeededSize = Callable[[tuple[int, int]], tuple[int, int]]


def load_artwork(
    path: Path,
    limits: LoadLimits | None = None,
    needed_size: NeededSize | None = None,
    threads: int = 1,
) -> Artwork:
    """Load artwork from a file; see :func:`load_artwork_bytes`."""
    limits = limits or LoadLimits()
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CorruptImage(f"{path.name}: the file cannot be read ({exc.strerror}).") from exc
    if size > limits.max_file_bytes:
        raise FileTooLarge(_too_big_message(path.name, size, limits.max_file_bytes))
    with path.open("rb") as handle:
        data = handle.read(limits.max_file_bytes + 1)  # the file may grow while we read
    return load_artwork_bytes(data, path.name, limits, needed_size, threads)


def _too_big_message(name: str, size: int, limit: int) -> str:
    return (
        f"{name}: the file is {size / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB. "
        "Export a smaller file (at 300 ppi a case never needs more)."
    )


def load_artwork_bytes(
    data: bytes,
    file_name: str,
    limits: LoadLimits | None = None,
    needed_size: NeededSize | None = None,
    threads: int = 1,
) -> Artwork:
    """Validate and decode untrusted image bytes into an upright :class:`Artwork`.

    With ``needed_size``, a JPEG much larger than that is decoded at 1/2, 1/4 or 1/8 scale
    (the decoder's DCT scaling: nearly free, and antialiased), never below the needed size.
    A common PNG is decoded by our own reader (:mod:`preflight.png_reader`, the same pixels
    as Pillow's, faster), on two threads when ``threads`` allows; with ``needed_size``, an
    opaque one much larger than that comes out 2 or 4 times smaller, never below it.
    """
    limits = limits or LoadLimits()
    sniffed = _allowed_format(data, file_name, limits)
    notes: list[str] = []
    image = _checked_header(data, file_name, sniffed, limits, notes)
    file_size = image.size
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="artwork-digest") as beside:
        # The file's digest (40 ms for 86 MB) is taken beside the decode when the job has a
        # second thread; hashlib lets go of the GIL while it hashes.
        digest = beside.submit(_sha256, data) if threads > 1 else None
        image, decoded = _decoded(image, data, file_name, needed_size, notes, threads)
        sha256 = digest.result() if digest is not None else _sha256(data)
    return _normalise(image, decoded, data, sha256, file_name, sniffed, notes, file_size)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _decoded(
    image: Image.Image,
    data: bytes,
    file_name: str,
    needed_size: NeededSize | None,
    notes: list[str],
    threads: int,
) -> tuple[Image.Image, _DecodeFacts]:
    """The pixels, decoded by our PNG reader where it can, else by Pillow."""
    if needed_size is not None and image.format in ("JPEG", "MPO"):
        _draft(image, needed_size, _exif_orientation(image, []))
    png = None
    if image.format == "PNG":
        reduce = 1
        if needed_size is not None:
            reduce = _png_reduction(image.size, needed_size, _png_orientation(image))
        png = _read_png(data, file_name, threads, reduce)
    if png is not None:
        # Pillow's header object has read the metadata (profile, EXIF, resolution; our
        # reader declines files with more after the pixels), and must not decode them again.
        png.image.info = dict(image.info)
        image.close()
        image = png.image
        # The reader declines animated PNGs, and has measured the alpha while decoding.
        facts = _DecodeFacts(format="PNG", pages=1, alpha_min=png.alpha_min)
    else:
        image = _decode(image, file_name, notes)
        facts = _DecodeFacts(
            format="JPEG" if image.format == "MPO" else str(image.format),
            pages=getattr(image, "n_frames", 1),
        )
    return image, facts


@dataclass(frozen=True)
class _DecodeFacts:
    """What decoding told about the file besides its pixels: from Pillow's image or, when
    our reader decoded the pixels, from that reader."""

    format: str
    pages: int
    alpha_min: int | None = None  # the lowest alpha, when the decoder measured it


def _png_orientation(image: Image.Image) -> int | None:
    """A PNG's EXIF orientation read from the metadata chunks before the pixels (Pillow's own
    PNG object would decode the whole image to look for more after them; our reader declines
    PNGs that have any)."""
    metadata_only = Image.new("L", (1, 1))
    metadata_only.info = dict(image.info)
    return _exif_orientation(metadata_only, [])


def _png_reduction(
    size: tuple[int, int], needed_size: NeededSize, orientation: int | None
) -> int:
    """How many times smaller on each side a PNG may be decoded: never below the needed
    size (the rule the JPEG decoder's scaling follows, see :func:`_draft`)."""
    width, height = size
    need_w, need_h = _stored_need(size, needed_size, orientation)
    for factor in (4, 2):
        if -(-width // factor) >= need_w and -(-height // factor) >= need_h:
            return factor
    return 1


def _read_png(data: bytes, file_name: str, threads: int, reduce: int) -> DecodedPng | None:
    try:
        return read_png(data, threads, reduce)
    except PngDataError as exc:
        raise CorruptImage(
            f"{file_name}: the image data is damaged or incomplete ({exc}). Export it again."
        ) from exc
    except MemoryError as exc:
        raise ImageTooLarge(f"{file_name}: not enough memory to decode this image.") from exc


def _stored_need(
    size: tuple[int, int], needed_size: NeededSize, orientation: int | None
) -> tuple[int, int]:
    """The pixels needed across and down the image as stored (``needed_size`` speaks of the
    upright picture, which the EXIF orientation may turn a quarter)."""
    turned = orientation in _TURNED_ORIENTATIONS  # upright width is the stored height
    width, height = size
    need_w, need_h = needed_size((height, width) if turned else (width, height))
    return (need_h, need_w) if turned else (need_w, need_h)


def _draft(image: Image.Image, needed_size: NeededSize, orientation: int | None) -> None:
    width, height = image.size
    need_w, need_h = _stored_need(image.size, needed_size, orientation)
    if need_w < width or need_h < height:
        image.draft(image.mode, (max(1, need_w), max(1, need_h)))


@dataclass(frozen=True)
class ArtworkSummary:
    """What the header says, checked without decoding pixels: enough to accept an upload."""

    format: str
    width_px: int  # after EXIF orientation
    height_px: int
    mode: str  # as stored in the file
    bits_per_sample: int
    has_embedded_profile: bool
    exif_orientation: int | None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "format": self.format,
            "width_px": self.width_px,
            "height_px": self.height_px,
            "mode": self.mode,
            "bits_per_sample": self.bits_per_sample,
            "has_embedded_profile": self.has_embedded_profile,
            "exif_orientation": self.exif_orientation,
            "notes": list(self.notes),
        }


def inspect_artwork_bytes(
    data: bytes, file_name: str, limits: LoadLimits | None = None
) -> ArtworkSummary:
    """Every check :func:`load_artwork_bytes` makes before decoding (size and pixel caps,
    format by content, header, colour mode, PNG checksums), and the header's facts.

    Damage inside compressed image data (a truncated JPEG) only shows when decoding; the job
    reports it as ``corrupt-image``.
    """
    limits = limits or LoadLimits()
    sniffed = _allowed_format(data, file_name, limits)
    notes: list[str] = []
    image = _checked_header(data, file_name, sniffed, limits, notes)
    orientation = _exif_orientation(image, notes)
    width, height = image.size
    if orientation in (5, 6, 7, 8):  # these orientations turn the picture a quarter
        width, height = height, width
    return ArtworkSummary(
        format="JPEG" if sniffed == "JPEG" else sniffed,
        width_px=width,
        height_px=height,
        mode=image.mode,
        bits_per_sample=_bits_per_sample(image, data, sniffed),
        has_embedded_profile=bool(image.info.get("icc_profile")),
        exif_orientation=orientation,
        notes=tuple(notes),
    )


def _allowed_format(data: bytes, file_name: str, limits: LoadLimits) -> str:
    if len(data) > limits.max_file_bytes:
        raise FileTooLarge(_too_big_message(file_name, len(data), limits.max_file_bytes))
    if not data:
        raise CorruptImage(f"{file_name}: the file is empty.")
    sniffed = sniff_format(data[:512])
    if sniffed not in ALLOWED_FORMATS:
        what = f"a {sniffed} file" if sniffed else "not an image we recognise"
        raise UnsupportedFormat(
            f"{file_name}: this is {what}; accepted formats are PNG, JPEG and TIFF "
            "(recognised by content, not by file name). Export the artwork as PNG or TIFF."
        )
    return sniffed


def _checked_header(
    data: bytes, file_name: str, sniffed: str, limits: LoadLimits, notes: list[str]
) -> Image.Image:
    """Everything that can be refused without decoding pixels: header, pixel cap, PNG CRCs."""
    image = _open_header(data, file_name, sniffed, notes)
    width, height = image.size
    if width <= 0 or height <= 0:
        raise CorruptImage(f"{file_name}: the header declares an empty image ({width}×{height}).")
    if width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"{file_name}: {width}×{height} px is {width * height / 1e6:.0f} megapixels; the "
            f"limit is {limits.max_pixels / 1e6:.0f} megapixels. Reduce it to the template's "
            "size at 300 ppi."
        )
    if image.mode not in _HEADER_MODES and not image.mode.startswith("I;16"):
        raise UnsupportedColorMode(
            f"{file_name}: colour mode {image.mode} is not supported; save it as RGB, "
            "greyscale or CMYK."
        )
    if sniffed == "PNG":
        _verify_png(data, file_name, notes)
    return image


def _open_header(data: bytes, file_name: str, sniffed: str, notes: list[str]) -> Image.Image:
    # A JPEG from a phone camera may be an MPO (several frames); Pillow names it "MPO".
    formats = ["JPEG", "MPO"] if sniffed == "JPEG" else [sniffed]
    try:
        with _decoder_warnings(notes):
            image = Image.open(io.BytesIO(data), formats=formats)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(
            f"{file_name}: the image declares more pixels than can be safely decoded ({exc})."
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptImage(
            f"{file_name}: it starts like a {sniffed} file but its header cannot be read "
            f"({_short(exc)}). Export it again."
        ) from exc
    if image.format not in ("PNG", "JPEG", "MPO", "TIFF"):
        raise UnsupportedFormat(f"{file_name}: decoded as {image.format}, which is not accepted.")
    return image


def _verify_png(data: bytes, file_name: str, notes: list[str]) -> None:
    # Pillow decodes a PNG whose chunk checksums are wrong without complaint; only verify()
    # reads every chunk's CRC. A damaged file must not become a silently damaged print.
    try:
        with _decoder_warnings(notes):
            Image.open(io.BytesIO(data), formats=["PNG"]).verify()
    except Exception as exc:  # any decoder complaint means "damaged file"
        raise CorruptImage(
            f"{file_name}: the PNG is damaged ({_short(exc)}). Export it again."
        ) from exc


def _decode(image: Image.Image, file_name: str, notes: list[str]) -> Image.Image:
    try:
        with _decoder_warnings(notes):
            image.load()
    except MemoryError as exc:
        raise ImageTooLarge(f"{file_name}: not enough memory to decode this image.") from exc
    except Exception as exc:  # truncated data, bad Huffman tables, libtiff errors, ...
        raise CorruptImage(
            f"{file_name}: the image data is damaged or incomplete ({_short(exc)}). "
            "Export it again."
        ) from exc
    return image


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _bits_per_sample(image: Image.Image, data: bytes, fmt: str) -> int:
    if fmt == "PNG" and len(data) > 24:
        return data[24]  # IHDR bit depth: Pillow reduces 16-bit RGB PNGs without saying so
    if fmt == "TIFF":
        bits = getattr(image, "tag_v2", {}).get(258)
        if isinstance(bits, tuple | list) and bits:
            return int(bits[0])
        if isinstance(bits, int):
            return bits
    if image.mode.startswith("I;16") or image.mode == "I":
        return 16
    return 1 if image.mode == "1" else 8


def _exif_orientation(image: Image.Image, notes: list[str]) -> int | None:
    try:
        with _decoder_warnings(notes):
            value = image.getexif().get(_EXIF_ORIENTATION_TAG)
    except Exception:  # malformed EXIF: treat as absent rather than refuse the artwork
        return None
    return value if isinstance(value, int) else None


def _to_working_mode(image: Image.Image, file_name: str) -> Image.Image:
    mode = image.mode
    if mode in ("RGB", "RGBA", "L", "LA", "CMYK"):
        return image
    if mode == "1":
        return image.convert("L")
    if mode in ("P", "PA"):
        has_transparency = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_transparency else "RGB")
    if mode == "RGBX":
        return image.convert("RGB")
    if mode == "RGBa":
        return image.convert("RGBA")
    if mode == "La":
        return image.convert("LA")
    if mode == "YCbCr":
        return image.convert("RGB")
    if mode.startswith("I;16") or mode == "I":
        # 16-bit grey: keep the top 8 bits (the print file is 8 bits per channel).
        values = np.asarray(image, dtype=np.uint32)
        top = 65535 if mode.startswith("I;16") or values.max(initial=0) > 255 else 255
        scaled = (values * 255 + top // 2) // top
        return Image.fromarray(scaled.clip(0, 255).astype(np.uint8), mode="L")
    raise UnsupportedColorMode(
        f"{file_name}: colour mode {mode} is not supported; save it as RGB, greyscale or CMYK."
    )


def _normalise(
    image: Image.Image,
    decoded: _DecodeFacts,
    data: bytes,
    sha256: str,
    file_name: str,
    fmt: str,
    notes: list[str],
    file_size: tuple[int, int],
) -> Artwork:
    stored_mode = image.mode
    bits = _bits_per_sample(image, data, fmt)
    pages = decoded.pages
    if pages > 1:
        notes.append(f"the file has {pages} pages or frames; only the first is used")
    dpi = image.info.get("dpi")
    dpi_tag = (float(dpi[0]), float(dpi[1])) if isinstance(dpi, tuple) and len(dpi) == 2 else None
    icc = image.info.get("icc_profile") or None
    orientation = _exif_orientation(image, notes)

    working = _to_working_mode(image, file_name)
    applied = False
    if orientation in _ORIENTATION_FIX:
        for step in _ORIENTATION_FIX[orientation]:
            working = working.transpose(step)
        applied = True

    has_alpha = False
    if working.mode in ("RGBA", "LA"):
        alpha_min: object = decoded.alpha_min
        if alpha_min is None:
            alpha_min = working.getchannel("A").getextrema()[0]
        has_alpha = isinstance(alpha_min, int | float) and alpha_min < 255
        if not has_alpha:  # an all-opaque alpha channel only costs time downstream
            working = working.convert(working.mode[:-1])

    base_mode = "CMYK" if working.mode == "CMYK" else ("L" if working.mode[0] == "L" else "RGB")
    expected_space = {"CMYK": "CMYK", "L": "GRAY", "RGB": "RGB"}[base_mode]
    profile_source, description, usable_icc = _profile_facts(icc, expected_space, base_mode)
    if profile_source == "invalid-embedded":
        notes.append(f"the embedded colour profile was ignored: {description}")

    upright_size = file_size[::-1] if orientation in _TURNED_ORIENTATIONS else file_size
    facts = ArtworkFacts(
        file_name=file_name,
        file_bytes=len(data),
        sha256=sha256,
        format=decoded.format,
        width_px=upright_size[0],
        height_px=upright_size[1],
        mode=stored_mode,
        bits_per_sample=bits,
        has_alpha=has_alpha,
        profile_source=profile_source,
        profile_description=description,
        exif_orientation=orientation,
        exif_orientation_applied=applied,
        pages=pages,
        dpi_tag=dpi_tag,
        notes=tuple(notes),
    )
    return Artwork(facts=facts, image=working, icc_profile=usable_icc)


def _profile_facts(
    icc: bytes | None, expected_space: str, base_mode: str
) -> tuple[str, str | None, bytes | None]:
    assumed = "assumed-output" if base_mode == "CMYK" else "assumed-srgb"
    if icc is None:
        return assumed, None, None
    try:
        info = describe_icc(icc)
    except InvalidProfile as exc:
        return "invalid-embedded", f"unreadable profile ({exc.message})", None
    if info.color_space != expected_space:
        return (
            "invalid-embedded",
            f"a {info.color_space} profile ({info.description}) on {expected_space} pixels",
            None,
        )
    return "embedded", info.description, icc
