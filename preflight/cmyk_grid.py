"""A LittleCMS transform from 8-bit CMYK, sampled once on LittleCMS's own grid and
interpolated as LittleCMS does: within one level of its bytes, 3.6 times as fast.

Why: the soft proof (CMYK → sRGB, :func:`preflight.color.soft_proof`) ran at ~36 ns a pixel in
LittleCMS, 18 ms of every phone proof and the longest step at the end of a job. An exact
lookup table, as the conversion into CMYK has (:class:`preflight.color.ConversionTables`),
would need 2³² entries here.

How it stays faithful: LittleCMS itself evaluates such a transform from a table of 17 nodes
per channel (its default grid for four-channel input), linearly along the first channel (C)
and by tetrahedra across the other three (M, Y, K). The nodes sit at ``i × 255 / 16``. Ours
sit at the nearest whole levels (0, 16, 32, … 128, … 239, 255), hold what LittleCMS gives
there, and are interpolated the same way, so both cut the cube into the same cells (to half
a level) and the same tetrahedra. Only the nodes' rounding to 8 bits and the final rounding
differ: on scikit-image's photographs and on a million random CMYK colours, no channel is
more than one level from LittleCMS, and two pixels in three are identical. A phone proof's
501 × 1015 px take 5.6 ms, where LittleCMS takes 20.3.

A profile whose transform LittleCMS evaluates differently would show it: each grid is
checked at build time against LittleCMS on random colours, and a grid that misses by more
than one level is not used (:meth:`CmykGrid.build` returns ``None``; the caller uses
LittleCMS directly).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit
from PIL import Image

from preflight.resample import from_pixels, to_pixels

__all__ = ["CmykGrid", "prepare_cmyk_grid"]

# LittleCMS's grid for four input channels (cmsReasonableGridpointsByColorspace, default
# flags), and our nodes: the whole levels nearest its nodes at i × 255 / (nodes - 1).
_GRID_NODES = 17
_NODE_LEVELS = np.array(
    [round(i * 255 / (_GRID_NODES - 1)) for i in range(_GRID_NODES)], dtype=np.int64
)
_CHECK_COLOURS = 32_768
_CHECK_SEED = 20261205
_MOST_LEVELS_OFF = 1


@njit(nogil=True, cache=True)
def _interpolate(
    pixels: np.ndarray, nodes: np.ndarray, cell: np.ndarray, fraction: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover (compiled; compared with LittleCMS in tests/test_cmyk_grid.py)
    """``out[..., :3]`` from ``pixels`` (rows × width × 4, CMYK): linear along C between two
    tetrahedral interpolations across M, Y and K. ``nodes`` is (C, M, Y, K, 4) float32, flat;
    ``cell[v]`` the node below level ``v``, ``fraction[v]`` how far ``v`` is towards the next."""
    n = np.uint64(_GRID_NODES)
    stride_k = np.uint64(4)
    stride_y = n * stride_k
    stride_m = n * stride_y
    stride_c = n * stride_m
    far = stride_m + stride_y + stride_k
    # By case (bits: M ≥ Y, Y ≥ K, M ≥ K): the corners after the low one. Cases 1 and 6
    # cannot happen.
    firsts = np.array([stride_k, 0, stride_y, stride_y, stride_k, stride_m, 0, stride_m], np.uint64)
    seconds = np.array(
        [
            stride_k + stride_y, 0, stride_y + stride_k, stride_y + stride_m,
            stride_k + stride_m, stride_m + stride_k, 0, stride_m + stride_y,
        ],
        np.uint64,
    )  # fmt: skip
    one = np.float32(1.0)
    for row in range(pixels.shape[0]):
        line = pixels[row]
        out_line = out[row]
        for x in range(pixels.shape[1]):
            c, m, y, k = line[x, 0], line[x, 1], line[x, 2], line[x, 3]
            base = cell[c] * stride_c + cell[m] * stride_m + cell[y] * stride_y + cell[k] * stride_k
            fc, fm, fy, fk = fraction[c], fraction[m], fraction[y], fraction[k]
            # The tetrahedron: from the cell's low corner along the axis that has come
            # furthest, then the next, then the last (LittleCMS's six cases), chosen by
            # table, not by branches: photo pixels would mispredict them half the time.
            case = (int(fm >= fy) << 2) | (int(fy >= fk) << 1) | int(fm >= fk)
            first, second = firsts[case], seconds[case]
            f1 = max(fm, max(fy, fk))
            f3 = min(fm, min(fy, fk))
            f2 = (fm + fy + fk) - f1 - f3
            w0, w1, w2, w3 = one - f1, f1 - f2, f2 - f3, f3
            for channel in range(3):
                low = base + np.uint64(channel)
                high = low + stride_c
                value = (one - fc) * (
                    w0 * nodes[low] + w1 * nodes[low + first]
                    + w2 * nodes[low + second] + w3 * nodes[low + far]
                ) + fc * (
                    w0 * nodes[high] + w1 * nodes[high + first]
                    + w2 * nodes[high + second] + w3 * nodes[high + far]
                )  # fmt: skip
                out_line[x, channel] = np.uint8(
                    min(np.float32(255.0), max(np.float32(0.0), value)) + np.float32(0.5)
                )
            out_line[x, 3] = 255


class CmykGrid:
    """One CMYK → RGB LittleCMS transform as a grid of its own results (see the module)."""

    def __init__(self, nodes: np.ndarray) -> None:
        self._nodes = nodes.reshape(-1)
        cell = np.searchsorted(_NODE_LEVELS, np.arange(256), side="right") - 1
        cell = np.minimum(cell, _GRID_NODES - 2)
        low, high = _NODE_LEVELS[cell], _NODE_LEVELS[cell + 1]
        self._cell = cell.astype(np.uint64)
        self._fraction = ((np.arange(256) - low) / (high - low)).astype(np.float32)

    @classmethod
    def build(cls, transform: Callable[[Image.Image], Image.Image]) -> CmykGrid | None:
        """The grid of ``transform`` (a LittleCMS conversion of a CMYK image to RGB), or
        ``None`` if it misses the transform by more than one level on the check colours
        (then convert with the transform itself)."""
        c, m, y, k = np.meshgrid(*[_NODE_LEVELS.astype(np.uint8)] * 4, indexing="ij")
        colours = np.stack([c, m, y, k], axis=-1).reshape(1, -1, 4)
        sampled = _converted(transform, colours)
        nodes = np.zeros((_GRID_NODES,) * 4 + (4,), np.float32)
        nodes[..., :3] = sampled[0, :, :3].reshape((_GRID_NODES,) * 4 + (3,))
        grid = cls(nodes)
        rng = np.random.default_rng(_CHECK_SEED)
        check = rng.integers(0, 256, (1, _CHECK_COLOURS, 4), dtype=np.uint8)
        expected = _converted(transform, check)[..., :3].astype(np.int16)
        got = grid.convert_pixels(check)[..., :3].astype(np.int16)
        if int(np.abs(got - expected).max()) > _MOST_LEVELS_OFF:
            return None
        return grid

    def convert_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """RGB as four bytes a pixel (the fourth 255) from rows × width × 4 CMYK bytes."""
        out = np.empty(pixels.shape, np.uint8)
        _interpolate(pixels, self._nodes, self._cell, self._fraction, out)
        return out

    def convert(self, image: Image.Image) -> Image.Image:
        """``image`` (CMYK) in RGB, as the sampled transform would convert it."""
        if image.mode != "CMYK":
            raise ValueError(f"a CMYK grid converts CMYK images, not {image.mode}")
        return from_pixels(self.convert_pixels(to_pixels(image)), "RGB")


def _converted(transform: Callable[[Image.Image], Image.Image], pixels: np.ndarray) -> np.ndarray:
    image = Image.frombytes("CMYK", (pixels.shape[1], pixels.shape[0]), pixels.tobytes())
    converted = transform(image)
    if converted.mode != "RGB" or converted.size != image.size:
        raise ValueError(
            f"a CMYK grid samples a conversion to RGB of the same size, not to {converted.mode}"
        )
    return to_pixels(converted)


def prepare_cmyk_grid() -> None:
    """Load the compiled interpolation now (compiled on a machine's first run), so that a
    worker's first proof does not wait for it."""
    grid = CmykGrid(np.zeros((_GRID_NODES,) * 4 + (4,), np.float32))
    grid.convert_pixels(np.zeros((1, 1, 4), np.uint8))
