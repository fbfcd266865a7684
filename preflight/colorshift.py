"""Colour shift: how far the print will look from the artwork, pixel by pixel (CIEDE2000).

The artwork's wanted colours (its own profile, or sRGB) are compared with the predicted print
(the CMYK separation read back through the output profile). Both are measured relative to
white, and the wanted colours are first mapped onto the black the conversion really prints, as
black point compensation does: a print cannot reach screen black, and that is no mistake a
partner can fix.

Colour statistics need area, not detail, so the comparison runs on the canvas sampled down to
``ANALYSIS_LONG_SIDE`` px. Nearest-pixel sampling, not averaging: averaging artwork and print
separately would compare mixtures that never print (blue next to orange averages to purple in
RGB but to brown in CMYK). The out-of-gamut check, the report's colour-shift figures and the
colour-shift map all read the same measurement.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit
from PIL import Image

from preflight.color import (
    ColorSettings,
    OutputProfile,
    convert_to_output,
    print_to_lab,
    soft_proof,
    source_to_lab,
)
from preflight.resample import to_pixels

__all__ = [
    "ANALYSIS_LONG_SIDE",
    "SHIFT_LEVELS",
    "ColorShift",
    "measure_color_shift",
    "prepare_color_shift",
]

ANALYSIS_LONG_SIDE = 512  # px
# ΔE2000 levels reported: ~2 is visible side by side, 5 is a clearly different colour, 10 is
# another colour name (the thresholds print buyers use for proof tolerance).
SHIFT_LEVELS = (2.0, 5.0, 10.0)
_WORST_COLOURS = 5
_WORST_CANDIDATES = 4096  # see ColorShift.worst_colours


@dataclass(frozen=True)
class ColorShift:
    """Predicted ΔE2000 per analysis pixel, and where the print has ink to compare.

    ``delta`` and ``printed`` are (rows, cols) at ``scale`` analysis px per canvas px; ``rgb``
    and ``cmyk`` are the artwork and print colours at the same size.
    """

    delta: np.ndarray  # float32
    printed: np.ndarray  # bool: artwork covers at least half of the pixel
    scale: float
    rgb: np.ndarray  # uint8 (rows, cols, 3)
    cmyk: np.ndarray  # uint8 (rows, cols, 4)
    output: OutputProfile

    @property
    def has_print(self) -> bool:
        return bool(self.printed.any())

    def share_over(self, level: float) -> float:
        """Share (0–1) of the printed area whose colour shifts by more than ``level``."""
        if not self.has_print:
            return 0.0
        return float(((self.delta > level) & self.printed).sum() / self.printed.sum())

    @property
    def mean(self) -> float:
        return float(self.delta[self.printed].mean()) if self.has_print else 0.0

    def worst_colours(self, above: float = 0.0) -> list[dict[str, object]]:
        """The most-shifted distinct colours above ``above``: artwork RGB, printed CMYK (%),
        predicted appearance (sRGB of the soft proof) and ΔE2000."""
        over = (self.delta > above) & self.printed
        ys, xs = np.nonzero(over)
        if ys.size == 0:
            return []
        deltas = self.delta[ys, xs]
        # One entry per colour family (the RGB cube cut in 8 per channel: 512 families), each
        # represented by its most-shifted pixel; the families with the largest shifts win.
        # Sorting every pixel by its shift cost 10 ms. Only the most-shifted few thousand can
        # hold the winners once they span enough families: a family left out has its
        # maximum below all of them.
        if deltas.size > _WORST_CANDIDATES:
            cut = np.partition(deltas, deltas.size - _WORST_CANDIDATES)[-_WORST_CANDIDATES]
            top = np.flatnonzero(deltas >= cut)
            if len(np.unique(self._families(ys[top], xs[top]))) >= _WORST_COLOURS:
                ys, xs, deltas = ys[top], xs[top], deltas[top]
        family = self._families(ys, xs)
        worst = np.full(512, -np.inf, dtype=np.float64)
        np.maximum.at(worst, family, deltas)
        ranked = np.argsort(-worst, kind="stable")[:_WORST_COLOURS]
        picked: list[tuple[int, int]] = []
        for colour_family in ranked:
            if not np.isfinite(worst[colour_family]):
                break
            i = int(np.flatnonzero((family == colour_family) & (deltas == worst[colour_family]))[0])
            picked.append((int(ys[i]), int(xs[i])))
        inks = np.array([[self.cmyk[y, x] for y, x in picked]], dtype=np.uint8)
        appearance = np.asarray(soft_proof(Image.fromarray(inks, "CMYK"), self.output))[0]
        return [
            {
                "artwork_rgb": _hex(self.rgb[y, x]),
                "print_cmyk_percent": [round(int(v) * 100 / 255) for v in self.cmyk[y, x]],
                "predicted_rgb": _hex(appearance[i]),
                "delta_e2000": round(float(self.delta[y, x]), 1),
            }
            for i, (y, x) in enumerate(picked)
        ]

    def _families(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        cube = self.rgb[ys, xs] // 32
        families: np.ndarray = (cube[:, 0].astype(np.intp) << 6) | (cube[:, 1] << 3) | cube[:, 2]
        return families

    def to_dict(self) -> dict[str, object]:
        """The report's ``color_shift`` section."""
        return {
            "mean_delta_e2000": round(self.mean, 2),
            "share_over": {
                f"{level:g}": round(self.share_over(level), 4) for level in SHIFT_LEVELS
            },
            "worst_colors": self.worst_colours(),
            "analysis_px": {"width": int(self.delta.shape[1]), "height": int(self.delta.shape[0])},
        }


def _hex(rgb: np.ndarray) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb[:3]))


def _map_black_point(
    lab: np.ndarray, source_black: np.ndarray, press_black: np.ndarray
) -> np.ndarray:
    """Scale colours linearly in XYZ so that the source's black lands on the press's black and
    white stays white (what black point compensation does)."""
    from skimage.color import lab2xyz, xyz2lab

    def xyz(values: np.ndarray) -> np.ndarray:
        result: np.ndarray = lab2xyz(values.reshape(-1, 1, 3).astype(np.float64), illuminant="D50")
        return result.reshape(values.shape)

    white = xyz(np.array([100.0, 0.0, 0.0]))
    source, press = xyz(source_black), xyz(press_black)
    scaled = press + (xyz(lab) - source) * (white - press) / (white - source)
    result: np.ndarray = xyz2lab(scaled, illuminant="D50")
    return result


_SOURCE_BLACK: dict[str, int | tuple[int, ...]] = {
    "RGB": (0, 0, 0),
    "L": 0,
    "CMYK": (255, 255, 255, 255),
}


@lru_cache(maxsize=32)
def _black_points(
    mode: str, source_icc: bytes | None, output: OutputProfile, settings: ColorSettings
) -> tuple[np.ndarray, np.ndarray]:
    """The darkest colour of the artwork's space (Lab), and that colour as the conversion
    really prints it: the black point the print can reach (BPC or not, whatever the job's
    settings). Three colour conversions of one pixel, the same for every job with these
    profiles: cached."""
    source_black = Image.new(mode, (1, 1), _SOURCE_BLACK[mode])
    press_black = print_to_lab(
        convert_to_output(source_black, source_icc, output, settings), output
    )
    blacks = source_to_lab(source_black, source_icc)[0, 0], press_black[0, 0]
    for black in blacks:
        black.setflags(write=False)  # shared by every job that hits the cache
    return blacks


# LittleCMS's 8-bit Lab as preflight.color reads it: L* in 256 steps of 100/255, a* and b*
# whole numbers from -128 to 127.
_LAB8_L = (np.arange(256, dtype=np.uint8) * (100.0 / 255.0)).astype(np.float32)
_LAB8_AB = np.arange(-128, 128, dtype=np.float32)
# A table costs about what mapping 130 000 colours directly does: built for photos only
# (flat artwork has a few hundred colours), then kept for the profiles' later jobs.
_TABLE_MIN_COLOURS = 1 << 15


@dataclass(frozen=True)
class _BlackPointTable:
    """:func:`_map_black_point` worked out once for every 8-bit Lab colour.

    XYZ is scaled channel by channel, so the mapped L* depends on L* alone, a* on (L*, a*)
    and b* on (L*, b*): two sweeps of 256 × 256 colours give every one of the 2^24, each by
    the very same arithmetic as mapping it directly. Where lab2xyz would clip Z (it warns),
    b* is not tabulated; such colours are mapped directly.
    """

    lightness: np.ndarray  # (256,) float64, by L* code
    a: np.ndarray  # (256, 256) float64, by L* code and a* + 128
    b: np.ndarray  # (256, 256) float64, by L* code and b* + 128
    b_tabulated: np.ndarray  # (256, 256) bool

    def map(self, lab: np.ndarray) -> np.ndarray | None:
        """The mapped colours, or None when some colour is not in the table (Lab that is not
        8-bit, or beyond the Z clip)."""
        flat = lab.reshape(-1, 3)
        if not np.isfinite(flat).all():
            return None
        lightness = np.clip(np.rint(flat[:, 0] * 2.55), 0, 255).astype(np.intp)
        a = np.clip(flat[:, 1] + 128, 0, 255).astype(np.intp)
        b = np.clip(flat[:, 2] + 128, 0, 255).astype(np.intp)
        exact = (
            np.array_equal(_LAB8_L[lightness], flat[:, 0])
            and np.array_equal(_LAB8_AB[a], flat[:, 1])
            and np.array_equal(_LAB8_AB[b], flat[:, 2])
        )
        if not exact or not self.b_tabulated[lightness, b].all():
            return None
        mapped = np.empty(flat.shape, dtype=np.float64)
        mapped[:, 0] = self.lightness[lightness]
        mapped[:, 1] = self.a[lightness, a]
        mapped[:, 2] = self.b[lightness, b]
        return mapped.reshape(lab.shape)


@lru_cache(maxsize=8)
def _black_point_table(
    mode: str, source_icc: bytes | None, output: OutputProfile, settings: ColorSettings
) -> _BlackPointTable:
    source_black, press_black = _black_points(mode, source_icc, output, settings)
    lightness = np.repeat(_LAB8_L, 256)
    other = np.tile(_LAB8_AB, 256)
    zero = np.zeros_like(lightness)
    # Z = (L* + 16) / 116 - b* / 200, as lab2xyz computes it; only Z > 0 is tabulated.
    b_tabulated = (lightness.astype(np.float64) + 16.0) / 116.0 - (
        other.astype(np.float64) / 200.0
    ) > 0
    with_a = _map_black_point(
        np.stack([lightness, other, zero], axis=-1), source_black, press_black
    )
    with_b = _map_black_point(
        np.stack([lightness, zero, np.where(b_tabulated, other, 0)], axis=-1),
        source_black,
        press_black,
    )
    table = _BlackPointTable(
        lightness=with_a[::256, 0].copy(),
        a=with_a[:, 1].reshape(256, 256).copy(),
        b=with_b[:, 2].reshape(256, 256).copy(),
        b_tabulated=b_tabulated.reshape(256, 256),
    )
    for array in (table.lightness, table.a, table.b, table.b_tabulated):
        array.setflags(write=False)  # shared by every job that hits the cache
    return table


def _wanted_colours(
    lab: np.ndarray,
    mode: str,
    source_icc: bytes | None,
    output: OutputProfile,
    settings: ColorSettings,
) -> np.ndarray:
    """The artwork's distinct colours (Lab) mapped onto the press's black point."""
    if lab.size // 3 >= _TABLE_MIN_COLOURS:
        mapped = _black_point_table(mode, source_icc, output, settings).map(lab)
        if mapped is not None:
            return mapped
    return _map_black_point(lab, *_black_points(mode, source_icc, output, settings))


# Keeps R, G and B of an RGBX word, whatever the machine's byte order.
_RGB_OF_WORD = np.frombuffer(b"\xff\xff\xff\x00", dtype=np.uint32)


def _pixel_words(image: Image.Image) -> np.ndarray:
    """One uint32 per pixel holding the pixel's bytes (RGB padded to four, grey widened)."""
    pixels = to_pixels(image)
    if image.mode == "L":
        return pixels.reshape(-1).astype(np.uint32)
    words = pixels.view(np.uint32).reshape(-1)
    if image.mode == "RGB":
        # Pillow keeps RGB in four bytes; the fourth is not always 255 (a paste through a
        # mask leaves alpha there), and must not split one colour into several.
        np.bitwise_and(words, _RGB_OF_WORD, out=words)
    return words


def _image_of_words(mode: str, words: np.ndarray) -> Image.Image:
    """The inverse of :func:`_pixel_words`, as a one-row image."""
    size = (len(words), 1)
    if mode == "L":
        return Image.frombytes(mode, size, words.astype(np.uint8).tobytes())
    return Image.frombytes(mode, size, words.tobytes(), "raw", "RGBX" if mode == "RGB" else mode)


# Slots of the pair table per pixel: at most half full, so a probe rarely passes two slots.
_PAIR_SLOTS_PER_PIXEL = 2
_FIBONACCI_HASH = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: spreads nearby keys


@njit(nogil=True, cache=True)
def _pair_of_each_pixel(
    artwork: np.ndarray, ink: np.ndarray, slot_bits: int
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover (compiled)
    """Each pixel's pair number (pairs numbered in order of first appearance) and each pair's
    first pixel, from an open-addressing table keyed by the two words side by side."""
    count = artwork.shape[0]
    mask = np.int64((1 << slot_bits) - 1)
    shift = np.uint64(64 - slot_bits)
    slot_pair = np.full(1 << slot_bits, -1, np.int64)
    slot_key = np.empty(1 << slot_bits, np.uint64)
    pair_of_pixel = np.empty(count, np.intp)
    first_pixel = np.empty(count, np.intp)
    pairs = 0
    for pixel in range(count):
        key = (np.uint64(artwork[pixel]) << np.uint64(32)) | np.uint64(ink[pixel])
        slot = np.int64((key * _FIBONACCI_HASH) >> shift)
        while slot_pair[slot] >= 0 and slot_key[slot] != key:
            slot = (slot + np.int64(1)) & mask
        if slot_pair[slot] < 0:
            slot_pair[slot] = pairs
            slot_key[slot] = key
            first_pixel[pairs] = pixel
            pairs += 1
        pair_of_pixel[pixel] = slot_pair[slot]
    return pair_of_pixel, first_pixel[:pairs]


def _distinct_pixels(
    small_flat: Image.Image, small_cmyk: Image.Image
) -> tuple[Image.Image, Image.Image, np.ndarray]:
    """The distinct (artwork pixel, print pixel) pairs, as two one-row images, and for every
    analysis pixel the index of its pair.

    Colour conversion and ΔE are pure functions of the pair, and a photo sampled down has
    about half as many distinct pairs as pixels (flat artwork, a few hundred): converting
    and comparing each pair once gives the very same values at a fraction of the cost. The
    pairs are found with a hash table (1.5 ms for a photo's 131 000 analysis pixels, where
    sorting them took 8).
    """
    artwork, ink = _pixel_words(small_flat), _pixel_words(small_cmyk)
    slot_bits = max(1, (len(artwork) * _PAIR_SLOTS_PER_PIXEL - 1).bit_length())
    pair_of_pixel, first_pixel = _pair_of_each_pixel(artwork, ink, slot_bits)
    return (
        _image_of_words(small_flat.mode, artwork[first_pixel]),
        _image_of_words("CMYK", ink[first_pixel]),
        pair_of_pixel,
    )


def prepare_color_shift() -> None:
    """Load the compiled pair search now (compiled on a machine's first run), so that a
    worker's first job does not wait for it."""
    words = np.zeros(1, np.uint32)
    _pair_of_each_pixel(words, words, 1)


def measure_color_shift(
    flat: Image.Image,
    cmyk: Image.Image,
    coverage: Image.Image,
    source_icc: bytes | None,
    output: OutputProfile,
    settings: ColorSettings,
) -> ColorShift | None:
    """Compare the flattened artwork with its print (converted with ``settings``); ``None``
    when there is nothing to compare (untagged CMYK artwork is printed as supplied)."""
    if flat.mode == "CMYK" and source_icc is None:
        return None
    from skimage.color import deltaE_ciede2000

    scale = min(1.0, ANALYSIS_LONG_SIDE / max(flat.size))
    size = (max(1, round(flat.width * scale)), max(1, round(flat.height * scale)))
    small_flat = flat.resize(size, Image.Resampling.NEAREST)
    small_cmyk = cmyk.resize(size, Image.Resampling.NEAREST)
    printed = np.asarray(coverage.resize(size, Image.Resampling.NEAREST)) >= 128
    artwork_colours, print_colours, index = _distinct_pixels(small_flat, small_cmyk)
    wanted = _wanted_colours(
        source_to_lab(artwork_colours, source_icc), flat.mode, source_icc, output, settings
    )
    # In float32, the precision the shift is kept in: 20 ms where float64 took 35 for a photo's
    # ~70 000 pairs, and within 1.1e-5 of it (the Lab values are LittleCMS's 8-bit readings).
    delta = deltaE_ciede2000(
        wanted.astype(np.float32), print_to_lab(print_colours, output).astype(np.float32)
    )
    return ColorShift(
        delta=delta.reshape(-1)[index].reshape(size[1], size[0]),
        printed=printed,
        scale=scale,
        rgb=np.asarray(small_flat if small_flat.mode == "RGB" else small_flat.convert("RGB")),
        cmyk=np.asarray(small_cmyk),
        output=output,
    )
