"""The artwork PNG reader: the common PNG decoded at two to three times Pillow's speed.

Why our own reader: decoding a partner's PNG was the largest step before a job has a canvas
(56 ms for 1200×2400 px RGBA, 690 ms for 6000×8000), and every later step waits for it.
Pillow inflates with zlib and undoes the row filters on one thread. Here ISA-L inflates (about
2.3× zlib's speed, the same library the writers use) on one thread while a compiled loop
undoes the filters of the rows already inflated on another; each band of rows is then copied
into the image, so memory stays what Pillow's own decode needs. The pixels are Pillow's, byte
for byte (``tests/test_png_reader.py`` compares every filter type and colour type).

Only the PNGs partners send nearly always take this path: 8 bits per sample, not interlaced,
greyscale, grey with alpha, RGB or RGBA, without colour-key transparency (``tRNS``), not
animated, and with nothing but ``IEND`` after the image data (so every chunk Pillow would read
for metadata has been read when the header was). :func:`read_png` returns None for any other
PNG, and the loader lets Pillow decode it.

An opaque PNG much larger than the placement needs can be read 2 or 4 times smaller on each
side (``reduce``), averaged band by band on the reading thread, which waits for the inflater
most of the time anyway.

The caller has checked the header, the pixel cap and every chunk's checksum first
(:mod:`preflight.loading`); damaged compressed data raises :class:`PngDataError`.
"""

from __future__ import annotations

import queue
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from isal import isal_zlib
from numba import njit
from PIL import Image

__all__ = ["DecodedPng", "PngDataError", "prepare_png_reader", "read_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Colour type → (Pillow mode, samples per pixel), for 8-bit samples.
_COLOUR_TYPES = {0: ("L", 1), 2: ("RGB", 3), 4: ("LA", 2), 6: ("RGBA", 4)}
_BAND_BYTES = 512 * 1024  # inflated bytes handed over at a time: a few bands stay in cache
_INPUT_PIECE = 256 * 1024  # compressed bytes fed to the inflater at a time
# Chunks that make a PNG something this reader does not handle: colour-key transparency,
# animation, and Apple's non-standard "CgBI" PNGs.
_DECLINED_CHUNKS = frozenset({b"tRNS", b"acTL", b"fcTL", b"fdAT", b"CgBI"})


class PngDataError(ValueError):
    """The PNG's compressed image data is damaged or incomplete."""


@njit(nogil=True, cache=True)
def _unfilter_rows(
    raw: np.ndarray, previous: np.ndarray, out: np.ndarray, bpp: int
) -> int:  # pragma: no cover (compiled)
    """Undo the PNG row filters of ``raw`` (rows of filter byte + filtered bytes) into
    ``out``; ``previous`` is the decoded row above the first one (zeros at the top).

    Returns the index of the first row with an unknown filter type, or -1.
    """
    rows, stride = out.shape
    above = previous
    for r in range(rows):
        kind = raw[r, 0]
        source = raw[r, 1:]
        row = out[r]
        if kind == 0:  # None
            for i in range(stride):
                row[i] = source[i]
        elif kind == 1:  # Sub: plus the byte one pixel to the left
            for i in range(bpp):
                row[i] = source[i]
            for i in range(bpp, stride):
                row[i] = (source[i] + row[i - bpp]) & 255
        elif kind == 2:  # Up: plus the byte above
            for i in range(stride):
                row[i] = (source[i] + above[i]) & 255
        elif kind == 3:  # Average of left and above, rounded down
            for i in range(bpp):
                row[i] = (source[i] + (above[i] >> 1)) & 255
            for i in range(bpp, stride):
                row[i] = (source[i] + ((np.int32(row[i - bpp]) + np.int32(above[i])) >> 1)) & 255
        elif kind == 4:  # Paeth: of left, above, above-left, the nearest to left+above-aboveleft
            for i in range(bpp):
                row[i] = (source[i] + above[i]) & 255
            for i in range(bpp, stride):
                left = np.int32(row[i - bpp])
                up = np.int32(above[i])
                corner = np.int32(above[i - bpp])
                to_left = abs(up - corner)
                to_up = abs(left - corner)
                to_corner = abs(left + up - corner - corner)
                if to_left <= to_up and to_left <= to_corner:
                    predicted = left
                elif to_up <= to_corner:
                    predicted = up
                else:
                    predicted = corner
                row[i] = (np.int32(source[i]) + predicted) & 255
        else:
            return r
        above = row
    return -1


def prepare_png_reader() -> None:
    """Load the compiled unfilter loop now (compiled on a machine's first run, ~0.5 s; loaded
    from the on-disk cache ~0.1 s), so that a worker's first PNG does not wait for it."""
    _unfilter_rows(np.zeros((1, 2), np.uint8), np.zeros(1, np.uint8), np.zeros((1, 1), np.uint8), 1)


def _chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(type, start of body, length) of each chunk; stops at IEND or the end of the data."""
    position = len(_SIGNATURE)
    while position + 8 <= len(data):
        (length,) = struct.unpack_from(">I", data, position)
        kind = data[position + 4 : position + 8]
        yield kind, position + 8, length
        if kind == b"IEND":
            return
        position += 12 + length


@dataclass(frozen=True)
class DecodedPng:
    """A PNG's pixels, and the lowest alpha among them (None without an alpha channel):
    measured band by band while the next band inflates, where it costs nothing."""

    image: Image.Image
    alpha_min: int | None


def read_png(data: bytes, threads: int = 1, reduce: int = 1) -> DecodedPng | None:
    """The pixels of a PNG this reader handles (see the module docstring), or None.

    With ``threads`` ≥ 2, inflating and unfiltering run side by side on two threads. With
    ``reduce`` > 1, an opaque PNG (grey or RGB) comes out that many times smaller on each
    side, every block of ``reduce`` × ``reduce`` pixels averaged as Pillow's ``reduce()``
    averages them, band by band while the next band inflates: a large artwork for a small
    case then never exists at full size (a JPEG's DCT scaling does the same). PNGs with
    alpha always come out whole (averaging them needs premultiplied colours, and costs more
    than it saves).
    """
    if not data.startswith(_SIGNATURE):
        return None
    header: tuple[int, ...] | None = None
    image_data: list[memoryview] = []
    after_image_data = False
    view = memoryview(data)
    for kind, start, length in _chunks(data):
        if header is None:
            if kind != b"IHDR" or length != 13:
                return None
            header = struct.unpack_from(">IIBBBBB", data, start)
        elif kind in _DECLINED_CHUNKS:
            return None
        elif kind == b"IDAT":
            if after_image_data:  # image data split by another chunk: not a valid PNG
                return None
            image_data.append(view[start : start + length])
        elif image_data:
            after_image_data = True
            if kind != b"IEND":  # metadata after the pixels: Pillow reads it while decoding
                return None
    if header is None or not image_data:
        return None
    width, height, bit_depth, colour_type, _, _, interlace = header
    if bit_depth != 8 or interlace != 0 or colour_type not in _COLOUR_TYPES:
        return None
    mode, samples = _COLOUR_TYPES[colour_type]
    has_alpha = mode in ("LA", "RGBA")
    alpha_min = 255
    # Not cleared first (every row is written below): clearing 192 MB took 160 ms.
    factor = 1 if has_alpha else max(1, reduce)
    image = Image.new(mode, (-(-width // factor), -(-height // factor)), None)
    stride = width * samples
    row_bytes = stride + 1
    # Whole blocks of rows per band (the last band takes what is left).
    band_rows = max(1, _BAND_BYTES // row_bytes // factor) * factor
    above = np.zeros(stride, np.uint8)
    row = 0
    pending = bytearray()
    for piece in _inflated(image_data, height * row_bytes, band_rows * row_bytes, threads):
        pending += piece
        rows = min(len(pending) // row_bytes, height - row)
        if row + rows < height:
            rows -= rows % factor
        if rows == 0:
            continue
        raw = np.frombuffer(pending, np.uint8, rows * row_bytes).reshape(rows, row_bytes)
        band = np.empty((rows, stride), np.uint8)
        bad_row = _unfilter_rows(raw, above, band, samples)
        del raw  # the bytearray cannot shrink while a view of it exists
        if bad_row >= 0:
            raise PngDataError(f"row {row + bad_row + 1} has an unknown filter type")
        if has_alpha:
            alpha_min = min(alpha_min, int(band[:, samples - 1 :: samples].min()))
        pixels = Image.frombuffer(mode, (width, rows), band, "raw", mode, 0, 1)
        image.paste(pixels.reduce(factor) if factor > 1 else pixels, (0, row // factor))
        above = band[-1]
        row += rows
        del pending[: rows * row_bytes]
    if row < height:
        raise PngDataError(f"the image data ends after {row} of {height} rows")
    return DecodedPng(image, alpha_min if has_alpha else None)


def _inflated(
    compressed: list[memoryview], needed: int, band: int, threads: int
) -> Iterator[bytes]:
    """The inflated image data in pieces of at most ``band`` bytes, never more than
    ``needed`` in all (a decompression bomb stops there), inflated on a second thread when
    ``threads`` ≥ 2."""
    if threads < 2:
        yield from _inflate(compressed, needed, band)
        return
    handover: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=4)
    stop = threading.Event()

    def offer(item: bytes | BaseException | None) -> bool:
        # Never blocks for good: the reading thread may have stopped reading (an error).
        while not stop.is_set():
            try:
                handover.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for piece in _inflate(compressed, needed, band):
                if not offer(piece):
                    return
            offer(None)
        except BaseException as exc:  # handed to the reading thread, which raises it
            offer(exc)

    producer = threading.Thread(target=produce, name="png-inflate", daemon=True)
    producer.start()
    try:
        while True:
            item = handover.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        producer.join()


def _inflate(compressed: list[memoryview], needed: int, band: int) -> Iterator[bytes]:
    """Inflate the IDAT bodies in turn, in input pieces of at most ``_INPUT_PIECE`` bytes (so
    the inflater's unconsumed input, copied on every call, stays small)."""
    inflater = isal_zlib.decompressobj()
    pieces = (
        body[start : start + _INPUT_PIECE]
        for body in compressed
        for start in range(0, len(body), _INPUT_PIECE)
    )
    tail: bytes | memoryview = b""
    produced = 0
    try:
        while produced < needed:
            if not tail:
                next_piece = next(pieces, None)
                if next_piece is None or inflater.eof:
                    return  # the caller sees the missing rows
                tail = next_piece
            piece = inflater.decompress(tail, min(band, needed - produced))
            tail = inflater.unconsumed_tail
            if piece:
                produced += len(piece)
                yield piece
    except isal_zlib.error as exc:  # type: ignore[misc]  # isal's stub types it loosely
        raise PngDataError(f"the compressed image data is damaged ({exc})") from exc
