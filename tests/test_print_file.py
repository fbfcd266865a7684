"""The print file: size, resolution, embedded profile, colour, determinism, white mask."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageCms, TiffImagePlugin

from preflight.color import ColorSettings, ProfileLibrary, RenderingIntent
from preflight.datapaths import default_profiles_dir
from preflight.errors import InvalidProfile, UnknownProfile
from preflight.geometry import Placement
from preflight.job import JobRequest, JobResult, run_job
from preflight.templates import Catalog
from tests.imaging import encode, patch_centres, patches, photo

OUTPUT_ICC = default_profiles_dir() / "chemical-proof.icc"
COLOURS = [
    (255, 255, 255),
    (0, 0, 0),
    (255, 0, 0),
    (0, 255, 0),
    (0, 0, 255),
    (0, 255, 255),
    (255, 0, 255),
    (255, 255, 0),
    (128, 128, 128),
    (224, 172, 140),
    (90, 60, 40),
    (30, 90, 200),
    (200, 30, 60),
    (20, 120, 40),
    (250, 200, 0),
    (64, 64, 160),
]


def _job(
    catalog: Catalog,
    profiles: ProfileLibrary,
    template: str,
    data: bytes,
    name: str = "art.png",
    **kwargs: Any,
) -> JobResult:
    request = JobRequest(
        template=catalog.get(template), artwork_bytes=data, artwork_name=name, **kwargs
    )
    return run_job(request, profiles)


def _open_tiff(data: bytes) -> TiffImagePlugin.TiffImageFile:
    image = Image.open(io.BytesIO(data))
    assert isinstance(image, TiffImagePlugin.TiffImageFile)
    return image


def _independent_cmyk(
    rgb: tuple[int, int, int], intent: ImageCms.Intent, flags: ImageCms.Flags
) -> tuple[int, ...]:
    # Straight LittleCMS, built here without the project's colour module.
    transform = ImageCms.buildTransform(
        ImageCms.createProfile("sRGB"),
        ImageCms.getOpenProfile(str(OUTPUT_ICC)),
        "RGB",
        "CMYK",
        renderingIntent=intent,
        flags=flags,
    )
    out = ImageCms.applyTransform(Image.new("RGB", (1, 1), rgb), transform)
    assert out is not None
    return tuple(out.getpixel((0, 0)))  # type: ignore[arg-type]


@pytest.mark.parametrize("template_id", ["iphone-15", "ipad-10"])
def test_real_photograph_gives_a_correct_print_file(
    catalog: Catalog, profiles: ProfileLibrary, template_id: str
) -> None:
    template = catalog.get(template_id)
    # A real photograph, upscaled to the template's minimum size, saved as a phone would.
    artwork = photo((template.min_artwork_px.width, template.min_artwork_px.height))
    result = _job(catalog, profiles, template_id, encode(artwork, "JPEG", quality=92), "p.jpg")
    tiff = _open_tiff(result.files["print.tif"])
    assert tiff.mode == "CMYK"
    assert tiff.size == template.canvas_size_px
    assert tiff.info["dpi"] == (300, 300)
    assert tiff.info["compression"] == "tiff_adobe_deflate"
    assert tiff.info["icc_profile"] == OUTPUT_ICC.read_bytes()
    assert result.report["schema"] == "preflight-report/1"
    assert result.report["template"]["id"] == template_id


@pytest.mark.parametrize(
    ("intent", "bpc"),
    [
        (RenderingIntent.RELATIVE, True),
        (RenderingIntent.PERCEPTUAL, False),
        (RenderingIntent.ABSOLUTE, False),
    ],
)
@pytest.mark.parametrize("template_id", ["iphone-15", "ipad-10"])
def test_print_colours_match_an_independent_littlecms_conversion(
    catalog: Catalog,
    profiles: ProfileLibrary,
    template_id: str,
    intent: RenderingIntent,
    bpc: bool,
) -> None:
    template = catalog.get(template_id)
    size = template.canvas_size_px
    chart = patches(COLOURS, size)
    result = _job(
        catalog,
        profiles,
        template_id,
        encode(chart, "PNG"),
        color=ColorSettings(intent=intent, black_point_compensation=bpc),
    )
    tiff = _open_tiff(result.files["print.tif"])
    flags = ImageCms.Flags.BLACKPOINTCOMPENSATION if bpc else ImageCms.Flags.NONE
    for colour, centre in zip(COLOURS, patch_centres(len(COLOURS), size), strict=True):
        expected = _independent_cmyk(colour, intent.lcms, flags)
        actual = tiff.getpixel(centre)
        assert isinstance(actual, tuple)
        assert max(abs(a - e) for a, e in zip(actual, expected, strict=True)) <= 1, (
            colour,
            actual,
            expected,
        )


def test_same_inputs_give_the_same_bytes(catalog: Catalog, profiles: ProfileLibrary) -> None:
    data = encode(photo((1000, 2000)), "PNG")
    first = _job(catalog, profiles, "iphone-15", data, placement=Placement(rotate_deg=7))
    second = _job(catalog, profiles, "iphone-15", data, placement=Placement(rotate_deg=7))
    assert first.files["print.tif"] == second.files["print.tif"]


def test_print_file_carries_no_stray_metadata(catalog: Catalog, profiles: ProfileLibrary) -> None:
    exif = Image.Exif()
    exif[0x010F] = "SomeCamera"  # Make
    exif[0x0132] = "2026:01:01 00:00:00"  # DateTime
    data = encode(photo((1000, 2000)), "JPEG", exif=exif, comment=b"secret")
    tiff = _open_tiff(_job(catalog, profiles, "iphone-15", data, "e.jpg").files["print.tif"])
    expected_tags = {256, 257, 258, 259, 262, 273, 277, 278, 279, 282, 283, 284, 296, 317, 34675}
    assert set(tiff.tag_v2.keys()) == expected_tags


def test_clear_case_gets_a_white_mask_where_the_artwork_is(
    catalog: Catalog, profiles: ProfileLibrary
) -> None:
    template = catalog.get("iphone-15-clear")
    w, h = template.canvas_size_px
    art = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    art.paste((200, 30, 60, 255), (0, 0, w // 2, h))  # left half opaque, right half empty
    result = _job(catalog, profiles, "iphone-15-clear", encode(art, "PNG"))
    mask = np.asarray(_open_tiff(result.files["white.tif"]))
    assert mask.shape == (h, w)
    assert mask[:, : w // 2 - 2].min() == 255 and mask[:, w // 2 + 2 :].max() == 0
    cmyk = np.asarray(_open_tiff(result.files["print.tif"]))
    assert cmyk[:, w // 2 + 2 :].max() == 0, "no ink where nothing is printed on a clear case"
    opaque = _job(catalog, profiles, "iphone-15", encode(art, "PNG"))
    assert "white.tif" not in opaque.files


def test_cmyk_artwork_in_the_output_space_passes_through_untouched(
    catalog: Catalog, profiles: ProfileLibrary
) -> None:
    template = catalog.get("iphone-15")
    art = Image.new("CMYK", template.canvas_size_px, (0, 0, 0, 255))  # pure K
    art.paste((0, 100, 200, 0), (0, 0, 300, 300))
    data = encode(art, "TIFF", icc_profile=OUTPUT_ICC.read_bytes())
    tiff = _open_tiff(_job(catalog, profiles, "iphone-15", data, "k.tif").files["print.tif"])
    assert tiff.getpixel((500, 1000)) == (0, 0, 0, 255)
    assert tiff.getpixel((100, 100)) == (0, 100, 200, 0)


def test_a_printer_profile_dropped_in_a_folder_is_selectable(tmp_path: Path) -> None:
    shutil.copy(OUTPUT_ICC, tmp_path / "uv-printer-gloss.icc")
    (tmp_path / "srgb.icc").write_bytes(
        ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    )
    (tmp_path / "broken.icc").write_bytes(b"not a profile at all")
    library = ProfileLibrary([tmp_path])
    assert "uv-printer-gloss" in library.names()
    reasons = {r.path.name: r.reason for r in library.rejected}
    assert "CMYK" in reasons["srgb.icc"]
    assert "unreadable" in reasons["broken.icc"]
    with pytest.raises(InvalidProfile, match="srgb"):
        library.get("srgb")
    with pytest.raises(UnknownProfile, match="chemical-proof"):
        library.get("nope")
