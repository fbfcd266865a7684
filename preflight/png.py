"""The PNG writer for the pictures a job makes (proof, overlay, colour-shift map).

Why our own writer: Pillow tries the five PNG filters on every row and keeps the best, which
costs ~35 ms a megapixel before zlib even starts, and compresses on one thread. Six pictures
a job made that the largest part of a job's picture cost. Here every row uses the "Up" filter
(the row above subtracted: one NumPy operation; flat legend bands and photos both become
mostly small numbers), and the zlib stream is compressed in pieces on several threads, as
pigz does: each piece is raw Deflate ending on a byte boundary (a sync flush), the pieces are
concatenated under one zlib header and one Adler-32 of the whole data. The Deflate encoder is
ISA-L's (``isal``, level 1), about 3x zlib's fastest level for the same size (see
:mod:`preflight.tiff`). Any PNG reader reads the result; identical pixels give identical
bytes.
"""

from __future__ import annotations

import itertools
import struct
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from isal import isal_zlib
from PIL import Image

__all__ = ["encode_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPE = {"L": 0, "RGB": 2, "RGBA": 6}
_FILTER_UP = 2
_ZLIB_HEADER_FASTEST = b"\x78\x01"  # Deflate, 32 KiB window, "fastest" level, no dictionary
_DEFLATE_LEVEL = 1
# The data is cut into this many pieces (fewer if small), whatever the threads, so that the
# bytes do not depend on the machine.
_PIECES = 2
_MIN_PIECE_BYTES = 256 * 1024  # smaller pieces are not worth a thread


def _chunk(kind: bytes, body: bytes) -> bytes:
    # ISA-L's checksums: the same values as zlib's, 2-6x sooner (SIMD).
    checksum = isal_zlib.crc32(body, isal_zlib.crc32(kind))
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", checksum)


def _deflate_piece(data: memoryview, last: bool) -> bytes:
    # Raw Deflate (no header: wbits -15), ending on a byte boundary unless it is the last.
    piece = isal_zlib.compressobj(_DEFLATE_LEVEL, isal_zlib.DEFLATED, -15, 9)
    flush = isal_zlib.Z_FINISH if last else isal_zlib.Z_SYNC_FLUSH
    return piece.compress(data) + piece.flush(flush)


def encode_png(image: Image.Image, threads: int = 2) -> bytes:
    """``image`` (mode L, RGB or RGBA, 8 bits) as a PNG, compressed on ``threads`` threads
    (the same bytes whatever their number)."""
    if image.mode not in _COLOUR_TYPE:
        raise ValueError(f"encode_png writes L, RGB or RGBA, got {image.mode}")
    width, height = image.size
    rows = np.asarray(image).reshape(height, -1)
    filtered = np.empty((height, rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = _FILTER_UP  # each row starts with its filter type
    filtered[0, 1:] = rows[0]  # the first row's "row above" is zeros
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # modulo 256, as PNG wants
    data = memoryview(filtered.reshape(-1).data)
    count = max(1, min(_PIECES, len(data) // _MIN_PIECE_BYTES))
    bounds = [len(data) * i // count for i in range(count + 1)]
    pieces = [data[start:end] for start, end in itertools.pairwise(bounds)]
    lasts = [i == count - 1 for i in range(count)]
    if count > 1 and threads > 1:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="png-piece") as pool:
            deflated = list(pool.map(_deflate_piece, pieces, lasts))
    else:
        deflated = [_deflate_piece(piece, last) for piece, last in zip(pieces, lasts, strict=True)]
    stream = (
        _ZLIB_HEADER_FASTEST + b"".join(deflated) + struct.pack(">I", isal_zlib.adler32(data))
    )
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPE[image.mode], 0, 0, 0)
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", stream) + _chunk(b"IEND", b"")
