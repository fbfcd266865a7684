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

import numpy as np
from PIL import Image

from preflight.color import (
    ColorSettings,
    OutputProfile,
    convert_to_output,
    print_to_lab,
    soft_proof,
    source_to_lab,
)

__all__ = ["ANALYSIS_LONG_SIDE", "SHIFT_LEVELS", "ColorShift", "measure_color_shift"]

ANALYSIS_LONG_SIDE = 512  # px
# ΔE2000 levels reported: ~2 is visible side by side, 5 is a clearly different colour, 10 is
# another colour name (the thresholds print buyers use for proof tolerance).
SHIFT_LEVELS = (2.0, 5.0, 10.0)
_WORST_COLOURS = 5


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
        order = np.argsort(self.delta[ys, xs])[::-1]
        picked: list[tuple[int, int]] = []
        seen: set[tuple[int, ...]] = set()
        for i in order:
            y, x = int(ys[i]), int(xs[i])
            key = tuple(int(v) // 32 for v in self.rgb[y, x])  # one entry per colour family
            if key in seen:
                continue
            seen.add(key)
            picked.append((y, x))
            if len(picked) == _WORST_COLOURS:
                break
        if not picked:
            return []
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
    # The darkest colour of the artwork's space, as the conversion really prints it: the black
    # point the print can reach (BPC or not, whatever the job's settings).
    source_black = Image.new(flat.mode, (1, 1), _SOURCE_BLACK[flat.mode])
    press_black = print_to_lab(
        convert_to_output(source_black, source_icc, output, settings), output
    )
    wanted = _map_black_point(
        source_to_lab(small_flat, source_icc),
        source_to_lab(source_black, source_icc)[0, 0],
        press_black[0, 0],
    )
    delta = deltaE_ciede2000(wanted, print_to_lab(small_cmyk, output)).astype(np.float32)
    return ColorShift(
        delta=delta,
        printed=printed,
        scale=scale,
        rgb=np.asarray(small_flat.convert("RGB")),
        cmyk=np.asarray(small_cmyk),
        output=output,
    )
