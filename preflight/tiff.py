"""The TIFF writer for print files and white masks: Deflate strips compressed in parallel.

Why our own writer: Pillow (through libtiff) compresses a TIFF on one thread, and its LZW was
the largest single step of a job (~270 ms for an iPad canvas). A TIFF is a list of strips
that are compressed independently, so we compress them on several threads (Deflate releases
the GIL) and lay the file out ourselves. The files are baseline TIFF 6.0 with the Adobe
Deflate compression (8) and the horizontal predictor (317 = 2) that every RIP, Photoshop
and libtiff read. The Deflate encoder is ISA-L's (the ``isal`` package) at its level 1: a
standard zlib stream that any inflater reads, made with vectorised matching. Measured on a
photographic iPad canvas (26 MB after the predictor): 63 ms of CPU and 9.4 MB, against
230 ms and 10.0 MB for zlib's fastest level with run-length matching, and 272 ms for
libtiff's LZW.

Exactly these tags and nothing else (no dates, no software name), so identical pixels give
identical bytes: size, bits per sample, compression, photometric interpretation, strips,
samples per pixel, rows per strip, resolution (in inches), planar configuration (chunky),
predictor, and the ICC profile when there is one.
"""

from __future__ import annotations

import struct
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from isal import isal_zlib
from PIL import Image

__all__ = ["encode_tiff"]

# TIFF field types
_SHORT, _LONG, _RATIONAL, _UNDEFINED = 3, 4, 5, 7
_COMPRESSION_ADOBE_DEFLATE = 8
_PREDICTOR_HORIZONTAL = 2
_PLANAR_CHUNKY = 1
_RESOLUTION_INCH = 2
_PHOTOMETRIC = {"L": 1, "CMYK": 5}  # min-is-black grey; separated (CMYK)
_DEFLATE_LEVEL = 1  # ISA-L's levels are 0-3; 1 is as fast as 0 and 10% smaller
_STRIP_BYTES = 512 * 1024  # uncompressed bytes per strip: enough strips to share out


def _strip(image: Image.Image, top: int, rows: int) -> bytes:
    # One strip's pixels at a time: no copy of the whole image is ever made.
    width = image.width
    bottom = min(image.height, top + rows)
    raw = image.crop((0, top, width, bottom)).tobytes()
    block = np.frombuffer(raw, dtype=np.uint8).reshape(bottom - top, width, -1)
    # Horizontal predictor: each sample minus the same channel's sample one pixel to the
    # left (modulo 256), row by row.
    difference = block.copy()
    np.subtract(block[:, 1:], block[:, :-1], out=difference[:, 1:])
    return isal_zlib.compress(difference.data, _DEFLATE_LEVEL)


def encode_tiff(image: Image.Image, dpi: int, icc_profile: bytes | None, threads: int = 2) -> bytes:
    """``image`` (mode CMYK or L, 8 bits) as a Deflate-compressed TIFF with resolution tags.

    Parameters
    ----------
    image
        The pixels; CMYK is written as separated (photometric 5), L as min-is-black.
    dpi
        Written as the X and Y resolution, in pixels per inch.
    icc_profile
        Embedded as the ICC profile tag (34675) when given.
    threads
        Strips are compressed on this many threads.
    """
    if image.mode not in _PHOTOMETRIC:
        raise ValueError(f"print TIFFs are CMYK or L, got {image.mode}")
    width, height = image.size
    if width < 1 or height < 1:
        raise ValueError("a TIFF needs at least one pixel")
    samples = len(image.getbands())
    rows_per_strip = max(1, min(height, _STRIP_BYTES // (width * samples)))
    tops = range(0, height, rows_per_strip)
    if threads > 1 and len(tops) > 1:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tiff-strip") as pool:
            strips = list(pool.map(lambda top: _strip(image, top, rows_per_strip), tops))
    else:
        strips = [_strip(image, top, rows_per_strip) for top in tops]

    # Layout: header, IFD, the IFD's out-of-line values, then the strips.
    entries: list[tuple[int, int, int, bytes]] = []  # tag, type, count, packed value

    def field(tag: int, kind: int, values: list[int] | bytes) -> None:
        if kind == _UNDEFINED:
            assert isinstance(values, bytes)
            entries.append((tag, kind, len(values), values))
            return
        assert isinstance(values, list)
        code = {_SHORT: "H", _LONG: "I", _RATIONAL: "I"}[kind]
        count = len(values) // 2 if kind == _RATIONAL else len(values)
        entries.append((tag, kind, count, struct.pack(f"<{len(values)}{code}", *values)))

    strip_counts = [len(s) for s in strips]
    field(256, _LONG, [width])
    field(257, _LONG, [height])
    field(258, _SHORT, [8] * samples)
    field(259, _SHORT, [_COMPRESSION_ADOBE_DEFLATE])
    field(262, _SHORT, [_PHOTOMETRIC[image.mode]])
    field(273, _LONG, [0] * len(strips))  # strip offsets: filled in below
    field(277, _SHORT, [samples])
    field(278, _LONG, [rows_per_strip])
    field(279, _LONG, strip_counts)
    field(282, _RATIONAL, [dpi, 1])
    field(283, _RATIONAL, [dpi, 1])
    field(284, _SHORT, [_PLANAR_CHUNKY])
    field(296, _SHORT, [_RESOLUTION_INCH])
    field(317, _SHORT, [_PREDICTOR_HORIZONTAL])
    if icc_profile:
        field(34675, _UNDEFINED, icc_profile)

    ifd_offset = 8
    ifd_size = 2 + 12 * len(entries) + 4
    extra_offset = ifd_offset + ifd_size
    # Where each out-of-line value goes (values of more than 4 bytes), word-aligned.
    placed: dict[int, int] = {}
    cursor = extra_offset
    for tag, _, _, value in entries:
        if len(value) > 4:
            placed[tag] = cursor
            cursor += len(value) + (len(value) & 1)
    offsets, position = [], cursor
    for count in strip_counts:
        offsets.append(position)
        position += count
    entries = [
        (tag, kind, n, struct.pack(f"<{len(offsets)}I", *offsets) if tag == 273 else value)
        for tag, kind, n, value in entries
    ]

    out = bytearray(b"II*\x00" + struct.pack("<I", ifd_offset))
    out += struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        inline = value.ljust(4, b"\x00") if len(value) <= 4 else struct.pack("<I", placed[tag])
        out += struct.pack("<HHI", tag, kind, count) + inline
    out += struct.pack("<I", 0)  # no further IFD
    for _, _, _, value in entries:
        if len(value) > 4:
            out += value + (b"\x00" if len(value) & 1 else b"")
    assert len(out) == cursor
    # One allocation of the file's size (appending 10-30 MB of strips to the bytearray and
    # copying it out would hold the compressed data three times over).
    return b"".join([out, *strips])
