"""The compiled resampling passes give Pillow's bytes (preflight.resample)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image

from preflight.resample import (
    BOX,
    LANCZOS,
    convert_alpha,
    from_pixels,
    pass_weights,
    resample_columns,
    resample_rows,
    resize,
    to_pixels,
)
from tests.imaging import photo

_FILTERS = {BOX: Image.Resampling.BOX, LANCZOS: Image.Resampling.LANCZOS}
MODES = ["RGB", "RGBa", "L", "La", "CMYK"]
_Box = tuple[float, float, float, float]


def _image(mode: str, size: tuple[int, int]) -> Image.Image:
    """A photograph in ``mode``; with alpha that varies (a ramp), premultiplied as Pillow's
    resize premultiplies RGBA and LA."""
    image = photo(size)
    if mode in ("RGBa", "La"):
        image = image.convert("RGBA" if mode == "RGBa" else "LA")
        image.putalpha(Image.linear_gradient("L").resize(size))
    return image.convert(mode)


def _one_pass(
    image: Image.Image, across: bool, out: int, start: float, end: float, kind: int
) -> tuple[Image.Image, Image.Image]:
    """Pillow's resize that runs only one pass, and ours."""
    width, height = image.size
    pixels = to_pixels(image)
    if across:
        theirs = image.resize((out, height), _FILTERS[kind], box=(start, 0, end, height))
        ours = np.empty((height, out, pixels.shape[2]), np.uint8)
        resample_rows(pixels, ours, pass_weights(width, start, end, out, kind))
    else:
        theirs = image.resize((width, out), _FILTERS[kind], box=(0, start, width, end))
        ours = np.empty((out, width, pixels.shape[2]), np.uint8)
        resample_columns(pixels, ours, pass_weights(height, start, end, out, kind))
    return from_pixels(ours, image.mode), theirs


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", [BOX, LANCZOS])
@pytest.mark.parametrize("across", [True, False], ids=["rows", "columns"])
@pytest.mark.parametrize(
    ("source", "out", "start", "end"),
    [
        ((1200, 1200), 945, 0.0, 1200.0),  # the iPhone cover fit's reduction
        ((600, 600), 541, 18.625, 577.3),  # a cover fit's crop, fractional box
        ((300, 300), 700, 0.0, 300.0),  # enlarged
        ((257, 257), 256, 0.5, 256.5),  # almost the same size: weights near 0 and 1
        ((1000, 1000), 91, 3.3, 997.1),  # 11x: many taps
        ((5, 5), 1, 0.0, 5.0),  # to one pixel
        ((1, 1), 4, 0.0, 1.0),  # from one pixel
    ],
)
def test_a_pass_gives_pillows_bytes(
    mode: str,
    kind: int,
    across: bool,
    source: tuple[int, int],
    out: int,
    start: float,
    end: float,
) -> None:
    ours, theirs = _one_pass(_image(mode, source), across, out, start, end, kind)
    assert ours.mode == theirs.mode
    assert ours.tobytes() == theirs.tobytes()


def test_random_boxes_give_pillows_bytes() -> None:
    """Sizes, boxes and directions drawn at random (seeded): nothing differs, not a byte."""
    draw = random.Random(20261205)
    for _ in range(60):
        mode = draw.choice(MODES)
        size = (draw.randint(1, 400), draw.randint(1, 400))
        across = draw.random() < 0.5
        length = size[0] if across else size[1]
        start = draw.uniform(0, length * 0.3)
        end = max(start + 0.5, draw.uniform(length * 0.7, length))
        out = draw.randint(1, 600)
        kind = draw.choice([BOX, LANCZOS])
        ours, theirs = _one_pass(_image(mode, size), across, out, start, end, kind)
        assert ours.tobytes() == theirs.tobytes(), (mode, size, across, out, start, end, kind)


@pytest.mark.parametrize("mode", [*MODES, "RGBA", "RGBX"])
def test_pixels_round_trip(mode: str) -> None:
    image = _image("RGBa" if mode == "RGBA" else mode, (37, 23)).convert(mode)
    pixels = to_pixels(image)
    assert pixels.shape[:2] == (23, 37)
    assert from_pixels(pixels, mode).tobytes() == image.tobytes()
    if mode in ("RGB", "CMYK"):  # the channels are the image's own, in order
        assert np.array_equal(pixels[:, :, : len(mode)], np.asarray(image))


def test_mismatched_arrays_are_refused() -> None:
    weights = pass_weights(4, 0.0, 4.0, 2, LANCZOS)
    with pytest.raises(ValueError, match="rows or channels differ"):
        resample_rows(np.zeros((3, 4, 4), np.uint8), np.zeros((2, 2, 4), np.uint8), weights)
    with pytest.raises(ValueError, match="widths or channels differ"):
        resample_columns(np.zeros((4, 3, 1), np.uint8), np.zeros((2, 2, 1), np.uint8), weights)


def test_a_resize_gives_pillows_bytes_in_pillows_order_of_passes() -> None:
    """Whole resizes (both passes, in the order Pillow 13 picks, and alpha premultiplied as
    Pillow does) for sizes and boxes drawn at random (seeded), and the cases near the rule
    that picks the order: the same bytes as ``Image.resize``."""
    draw = random.Random(20261206)
    cases: list[tuple[str, tuple[int, int], tuple[int, int], _Box | None]] = [
        ("L", (100, 200), (90, 180), None),  # height shrinks exactly twice as much: H first
        ("L", (100, 200), (90, 179), None),  # a pixel more: vertical first
        ("L", (300, 400), (300, 150), (0.5, 100.0, 299.5, 200.0)),  # the image's size decides
        ("L", (300, 400), (310, 400), (0.5, 10.5, 299.5, 390.5)),  # same height: H first
        ("RGB", (945, 1843), (614, 1200), None),  # the pictures' reduction of an iPhone canvas
        ("CMYK", (1843, 2458), (1180, 1574), (12.0, 12.0, 1831.0, 2446.0)),  # a proof's cut
    ]
    for _ in range(120):
        size = (draw.randint(1, 300), draw.randint(1, 300))
        out = (draw.randint(1, 400), draw.randint(1, 400))
        box: _Box | None = None
        if draw.random() < 0.5:
            left, top = draw.uniform(0, size[0] * 0.3), draw.uniform(0, size[1] * 0.3)
            right = max(left + 0.5, draw.uniform(size[0] * 0.7, size[0]))
            bottom = max(top + 0.5, draw.uniform(size[1] * 0.7, size[1]))
            box = (left, top, right, bottom)
        cases.append((draw.choice([*MODES, "RGBA", "LA"]), size, out, box))
    for mode, size, out, box in cases:
        source = _image(mode if mode not in ("RGBA", "LA") else mode[:-1] + "a", size)
        image = source.convert(mode)
        for kind in (BOX, LANCZOS):
            theirs = image.resize(out, _FILTERS[kind], box=box)
            ours = resize(image, out, kind, box=box)
            assert ours.mode == theirs.mode
            assert ours.tobytes() == theirs.tobytes(), (mode, size, out, box, kind)


def test_a_resize_to_the_same_size_is_a_copy() -> None:
    image = _image("RGB", (20, 10))
    copy = resize(image, (20, 10), LANCZOS)
    assert copy is not image
    assert copy.tobytes() == image.tobytes()


@pytest.mark.parametrize(
    ("source", "target"), [("RGBA", "RGBa"), ("RGBa", "RGBA"), ("LA", "La"), ("La", "LA")]
)
def test_alpha_conversions_give_pillows_bytes(source: str, target: str) -> None:
    """Every colour value under every alpha, and a photograph under a ramp of alpha."""
    values = np.arange(256, dtype=np.uint8)
    channels = len(source)
    every = np.empty((256, 256, channels), np.uint8)
    every[:, :, :-1] = values[None, :, None]
    every[:, :, -1] = values[:, None]
    photograph = _image("RGBa" if len(source) == 4 else "La", (300, 200)).convert(source)
    for image in (Image.frombytes(source, (256, 256), every.tobytes()), photograph):
        pixels = to_pixels(image)
        convert_alpha(pixels, source, target)
        assert from_pixels(pixels, target).tobytes() == image.convert(target).tobytes()


def test_only_alpha_conversions_are_made() -> None:
    with pytest.raises(ValueError, match="not a conversion of alpha"):
        convert_alpha(np.zeros((1, 1, 4), np.uint8), "RGBA", "RGB")
    with pytest.raises(ValueError, match="have 4 channels, not 2"):
        convert_alpha(np.zeros((1, 1, 2), np.uint8), "RGBA", "RGBa")


def test_a_resize_with_a_reducing_gap_gives_pillows_bytes() -> None:
    """Large reductions with a reducing gap (Image.reduce by whole factors first, over the
    box and the filter's reach): the same bytes as ``Image.resize``, alpha included."""
    draw = random.Random(20261207)
    for _ in range(60):
        mode = draw.choice([*MODES, "RGBA", "LA"])
        size = (draw.randint(40, 500), draw.randint(40, 500))
        out = (draw.randint(1, max(1, size[0] // 3)), draw.randint(1, max(1, size[1] // 3)))
        box: _Box | None = None
        if draw.random() < 0.5:
            left, top = draw.uniform(0, size[0] * 0.2), draw.uniform(0, size[1] * 0.2)
            box = (left, top, draw.uniform(size[0] * 0.8, size[0]), size[1] * 0.9)
        gap = draw.choice([1.8, 2.0, 3.0])
        image = _image(mode if mode not in ("RGBA", "LA") else mode[:-1] + "a", size)
        image = image.convert(mode)
        for kind in (BOX, LANCZOS):
            theirs = image.resize(out, _FILTERS[kind], box=box, reducing_gap=gap)
            ours = resize(image, out, kind, box=box, reducing_gap=gap)
            assert ours.tobytes() == theirs.tobytes(), (mode, size, out, box, gap, kind)
