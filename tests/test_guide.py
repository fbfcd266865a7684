from __future__ import annotations

import io

import numpy as np
from PIL import Image

from preflight.guide import render_guide_png
from preflight.templates import Catalog


def test_guide_lines_sit_at_the_templates_mm_positions(catalog: Catalog) -> None:
    template = catalog.get("iphone-15")
    image = np.asarray(Image.open(io.BytesIO(render_guide_png(template))).convert("RGB"))
    trim = template.trim_box
    row = image[int(trim.y + trim.height / 2)]
    red = np.flatnonzero((row[:, 0] > 180) & (row[:, 1] < 80) & (row[:, 2] < 80))
    assert abs(red.min() - trim.x) <= 1, "cut line at the left trim edge"
    assert abs(red.max() - (trim.right - 1)) <= 1, "cut line at the right trim edge"
    camera = template.mm_box(
        template.cutouts[0].x_mm,
        template.cutouts[0].y_mm,
        template.cutouts[0].width_mm,
        template.cutouts[0].height_mm,
    )
    centre = image[int(camera.y + camera.height / 2), int(camera.x + camera.width / 2)]
    assert tuple(centre) == (200, 200, 200), "the cutout is filled grey"


def test_every_template_has_a_guide(catalog: Catalog) -> None:
    for template in list(catalog)[::12]:  # a sample: each render is a full print-size PNG
        with Image.open(io.BytesIO(render_guide_png(template))) as guide:
            assert guide.size == template.canvas_size_px


def test_guide_sampling_gives_the_values_of_scipys_bilinear_interpolation() -> None:
    # The guide check's figures were calibrated with scipy.ndimage.map_coordinates; the
    # batched sampler must give its values exactly, not approximately.
    from scipy import ndimage

    from preflight.guide_marks import _bilinear

    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)
    padded = np.concatenate([rgb, np.full((120, 90, 1), 255, dtype=np.uint8)], axis=2)
    ys = rng.uniform(1, 118, (17, 400))
    xs = rng.uniform(1, 88, (17, 400))
    xs[:, :50] = np.round(xs[:, :50])  # whole-pixel positions too
    values = _bilinear(padded, ys, xs)
    for channel in range(3):
        expected = ndimage.map_coordinates(
            rgb[..., channel], [ys.ravel(), xs.ravel()], order=1, mode="nearest", output=np.float32
        ).reshape(ys.shape)
        assert np.array_equal(values[channel], expected)
