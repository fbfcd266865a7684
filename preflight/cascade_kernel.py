"""The LBP face cascade's inner loop, compiled (Numba).

Every window of every scale goes through the stages one after another until one rejects it,
exactly as scikit-image's ``Cascade.detect_multi_scale`` does, with the same float32
arithmetic: block sums from the integral image as ``((bottom-right + top-left) - top-right)
- bottom-left``, each outer block compared ``>=`` with the centre block, the stumps' values
added in stump order, the stage rejecting when its sum is below the threshold. So it finds
the very windows skimage finds (``tests/test_content_checks.py`` compares them).

Why compiled: a window is rejected after 1–20 stages of 3–10 stumps, so the work per window is
a few dozen scalar operations that branch early. Written with NumPy arrays, the same windows
cost ~80 ns per stump in gathers and temporaries, and held Python's GIL between the array
calls; here a stump costs ~10 ns and the GIL is released (``nogil``), so the analysis runs
beside a job's other steps. Compiled code is cached beside this file (``cache=True``): a
process after the first loads it (~0.5 s) instead of compiling it (~8 s).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["cascade_hits"]

# The first stages reject most windows but pass ~30% or more of them: they run on a whole row
# of windows at a time, where neighbouring windows read neighbouring pixels and the loop has
# no branch, so the compiler evaluates several windows per instruction. Later stages see few
# windows and run one window at a time, stopping at the first stage that rejects it. (Rows of
# windows for the first 1, 2 and 3 stages, and none: 2 was fastest, 1.6x the none.)
_DENSE_STAGES = 2


@njit(nogil=True, cache=True, inline="always")
def _lbp_code(table: np.ndarray, y: int, x: int, w: int, h: int) -> int:  # pragma: no cover
    """The LBP code of the 3 × 3 blocks of ``w`` × ``h`` px whose top left is ``(y, x)``."""
    # The 4 × 4 corners of the blocks, each read once. Unsigned indices: no test for
    # negative ones (which count from the end) on each of the 16 reads. (Sums, not products
    # with a literal: a signed literal would make the index a float.)
    top, left, bw, bh = np.uint64(y), np.uint64(x), np.uint64(w), np.uint64(h)
    ya, yb, yc, yd = top, top + bh, top + bh + bh, top + bh + bh + bh
    xa, xb, xc, xd = left, left + bw, left + bw + bw, left + bw + bw + bw
    aa, ab, ac, ad = table[ya, xa], table[ya, xb], table[ya, xc], table[ya, xd]
    ba, bb, bc, bd = table[yb, xa], table[yb, xb], table[yb, xc], table[yb, xd]
    ca, cb, cc, cd = table[yc, xa], table[yc, xb], table[yc, xc], table[yc, xd]
    da, db, dc, dd = table[yd, xa], table[yd, xb], table[yd, xc], table[yd, xd]
    centre = ((cc + bb) - bc) - cb
    # Outer blocks clockwise from the top left: bit 7 down to bit 0.
    code = 128 * int(((bb + aa) - ab) - ba >= centre)
    code |= 64 * int(((bc + ab) - ac) - bb >= centre)
    code |= 32 * int(((bd + ac) - ad) - bc >= centre)
    code |= 16 * int(((cd + bc) - bd) - cc >= centre)
    code |= 8 * int(((dd + cc) - cd) - dc >= centre)
    code |= 4 * int(((dc + cb) - cc) - db >= centre)
    code |= 2 * int(((db + ca) - cb) - da >= centre)
    code |= 1 * int(((cb + ba) - bb) - ca >= centre)
    return code


@njit(nogil=True, cache=True)
def cascade_hits(
    table: np.ndarray,
    geometry: np.ndarray,
    row_stops: np.ndarray,
    col_stops: np.ndarray,
    steps: np.ndarray,
    stage_stops: np.ndarray,
    thresholds: np.ndarray,
    features: np.ndarray,
    values: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled; its results are compared with skimage's
    """``(scale, row, col)`` of the windows that pass every stage, ordered by scale, row,
    column.

    ``table``: the float32 integral image with a zero first row and column, so that
    ``table[y, x]`` is the sum above and left of pixel ``(y, x)``; ``geometry``: (scales,
    features, 4) row, column, block width and block height of each feature at each scale;
    windows start at rows ``0, step, …`` below ``row_stops`` (and columns likewise);
    ``stage_stops[k]`` ends stage ``k``'s stumps in ``features`` (feature index per stump)
    and ``values`` (stumps, 256: what each stump adds for each LBP code).
    """
    capacity = 1024
    hits = np.empty((capacity, 3), np.int64)
    found = 0
    n_stages = thresholds.shape[0]
    n_dense = min(_DENSE_STAGES, n_stages)
    dense = np.empty((n_dense, table.shape[1]), np.float32)
    codes = np.empty(table.shape[1], np.int32)
    for scale in range(geometry.shape[0]):
        step = steps[scale]
        n_cols = (col_stops[scale] + step - 1) // step if col_stops[scale] > 0 else 0
        for row in range(0, row_stops[scale], step):
            dense[:, :n_cols] = 0
            for stage in range(n_dense):
                start = stage_stops[stage - 1] if stage else 0
                for stump in range(start, stage_stops[stage]):
                    feature = features[stump]
                    y = row + geometry[scale, feature, 0]
                    x = geometry[scale, feature, 1]
                    w = geometry[scale, feature, 2]
                    h = geometry[scale, feature, 3]
                    # Codes first (neighbouring reads, no branch), then the lookups.
                    for index in range(n_cols):
                        codes[index] = _lbp_code(table, y, x + index * step, w, h)
                    for index in range(n_cols):
                        dense[stage, index] += values[stump, codes[index]]
            for index in range(n_cols):
                passed = True
                for stage in range(n_dense):
                    if dense[stage, index] < thresholds[stage]:
                        passed = False
                        break
                if not passed:
                    continue
                col = index * step
                for stage in range(n_dense, n_stages):
                    total = np.float32(0.0)
                    for stump in range(stage_stops[stage - 1], stage_stops[stage]):
                        feature = features[stump]
                        code = _lbp_code(
                            table,
                            row + geometry[scale, feature, 0],
                            col + geometry[scale, feature, 1],
                            geometry[scale, feature, 2],
                            geometry[scale, feature, 3],
                        )
                        total += values[stump, code]
                    if total < thresholds[stage]:
                        passed = False
                        break
                if passed:
                    if found == capacity:
                        capacity *= 2
                        grown = np.empty((capacity, 3), np.int64)
                        grown[:found] = hits[:found]
                        hits = grown
                    hits[found, 0] = scale
                    hits[found, 1] = row
                    hits[found, 2] = col
                    found += 1
    return hits[:found]
