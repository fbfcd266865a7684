from __future__ import annotations

from pathlib import Path

import pytest

from preflight.datapaths import default_templates_dir
from preflight.errors import InvalidTemplate, UnknownSku, UnknownTemplate
from preflight.geometry import mm_to_px
from preflight.templates import Catalog, load_catalog, parse_device_file

TEMPLATE_FILES = sorted(default_templates_dir().glob("*.toml"))


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: p.stem)
def test_every_template_file_loads_and_is_consistent(path: Path) -> None:
    device = parse_device_file(path)
    assert device.device == path.stem
    assert device.print_dpi == 300
    assert device.variants[0].id == device.device, "the opaque variant carries the device id"
    text = path.read_text(encoding="utf-8")
    assert "tech specs" in text and "ESTIMATED" in text, "each file cites its sources"
    for cut in device.cutouts:
        assert cut.keep_out_mm > 0
    if device.family == "iphone":
        assert (device.min_artwork_px.width, device.min_artwork_px.height) == (1000, 2000)
    if device.family == "ipad":
        # The family minimum, or 300 ppi on the canvas where that is clearly more (13-inch).
        assert device.min_artwork_px.width >= 2400 and device.min_artwork_px.height >= 3000
        canvas_w = (device.trim_width_mm + 2 * device.bleed_mm) / 25.4 * 300
        if device.min_artwork_px.width > 2400:
            assert canvas_w > 2400 * 1.02


def test_catalog_covers_the_required_devices(catalog: Catalog) -> None:
    devices = {t.device for t in catalog}
    assert len(devices) >= 24
    required = {
        "iphone-12-mini",
        "iphone-12",
        "iphone-12-pro",
        "iphone-12-pro-max",
        "iphone-13-mini",
        "iphone-13",
        "iphone-13-pro",
        "iphone-13-pro-max",
        "iphone-14",
        "iphone-14-plus",
        "iphone-14-pro",
        "iphone-14-pro-max",
        "iphone-15",
        "iphone-15-plus",
        "iphone-15-pro",
        "iphone-15-pro-max",
        "iphone-16",
        "iphone-16-plus",
        "iphone-16-pro",
        "iphone-16-pro-max",
        "galaxy-s23",
        "galaxy-s23-plus",
        "galaxy-s23-ultra",
        "galaxy-s24",
        "galaxy-s24-plus",
        "galaxy-s24-ultra",
        "pixel-8",
        "pixel-8-pro",
        "ipad-10",
        "ipad-air-11",
        "ipad-air-13",
        "ipad-pro-11",
        "ipad-pro-13",
        "ipad-mini",
    }
    assert required <= devices
    assert {t.substrate for t in catalog} == {"opaque", "clear"}
    assert {t.print_mode for t in catalog} == {"back_only", "wrap"}


def test_canvas_is_trim_plus_bleed_at_print_dpi(catalog: Catalog) -> None:
    t = catalog.get("iphone-15")
    assert t.canvas_size_px == (
        round(mm_to_px(t.trim_width_mm + 2 * t.bleed_mm, 300)),
        round(mm_to_px(t.trim_height_mm + 2 * t.bleed_mm, 300)),
    )
    assert t.canvas_size_px == (945, 1843)  # 80.0 × 156.0 mm at 300 dpi
    data = t.to_dict()
    for key in (
        "id",
        "name",
        "family",
        "print_dpi",
        "trim_width_mm",
        "trim_height_mm",
        "bleed_mm",
        "safe_inset_mm",
        "corner_radius_mm",
        "cutouts",
        "min_artwork_px",
        "substrate",
        "print_mode",
        "skus",
        "canvas_px",
    ):
        assert key in data
    assert data["canvas_px"] == {"width": 945, "height": 1843}


def test_wrap_variant_adds_the_side_walls(catalog: Catalog) -> None:
    back, wrap = catalog.get("iphone-15"), catalog.get("iphone-15-tough")
    assert wrap.print_mode == "wrap"
    assert wrap.trim_width_mm == pytest.approx(back.trim_width_mm + 2 * wrap.wrap_mm)
    assert wrap.cutouts[0].x_mm == pytest.approx(back.cutouts[0].x_mm + wrap.wrap_mm)


def test_skus_resolve_to_templates(catalog: Catalog) -> None:
    assert catalog.by_sku("PC-IPHONE15-CLEAR").id == "iphone-15-clear"
    assert catalog.by_sku("pc-iphone15-snap-blk").id == "iphone-15"
    assert catalog.by_sku("PC-IPHONE15-SNAP-WHT").id == "iphone-15"


def test_unknown_template_and_sku_are_clear_errors(catalog: Catalog) -> None:
    with pytest.raises(UnknownTemplate, match="iphone-15") as err:
        catalog.get("iphone15")
    assert err.value.code == "unknown-template"
    with pytest.raises(UnknownSku) as sku_err:
        catalog.by_sku("PC-NOKIA3310")
    assert sku_err.value.code == "unknown-sku"


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def test_a_malformed_template_names_the_file_and_field(tmp_path: Path) -> None:
    source = (default_templates_dir() / "iphone-15.toml").read_text(encoding="utf-8")
    _write(tmp_path, "iphone-15.toml", source.replace("bleed_mm = 3.0", "bleed_mm = -1"))
    with pytest.raises(InvalidTemplate, match=r"iphone-15\.toml.*bleed_mm"):
        load_catalog(tmp_path)


def test_a_cutout_outside_the_trim_is_refused(tmp_path: Path) -> None:
    source = (default_templates_dir() / "iphone-15.toml").read_text(encoding="utf-8")
    _write(tmp_path, "iphone-15.toml", source.replace("x_mm = 6.2", "x_mm = 60.0"))
    with pytest.raises(InvalidTemplate, match="past the trim"):
        load_catalog(tmp_path)


def test_duplicate_ids_and_skus_are_refused(tmp_path: Path) -> None:
    source = (default_templates_dir() / "iphone-15.toml").read_text(encoding="utf-8")
    _write(tmp_path, "iphone-15.toml", source)
    _write(
        tmp_path,
        "iphone-15-copy.toml",
        source.replace('device = "iphone-15"', 'device = "iphone-15-copy"'),
    )
    with pytest.raises(InvalidTemplate, match="defined twice"):
        load_catalog(tmp_path)


def test_file_name_must_match_the_device_id(tmp_path: Path) -> None:
    source = (default_templates_dir() / "iphone-15.toml").read_text(encoding="utf-8")
    _write(tmp_path, "iphone-15-renamed.toml", source)
    with pytest.raises(InvalidTemplate, match=r"must be named iphone-15\.toml"):
        load_catalog(tmp_path)


def test_threshold_overrides_are_check_settings() -> None:
    import dataclasses

    from preflight.checks import CheckConfig
    from preflight.templates import CheckThresholds

    config_fields = {f.name for f in dataclasses.fields(CheckConfig)}
    assert set(CheckThresholds.model_fields) <= config_fields


def test_a_template_can_override_thresholds(tmp_path: Path) -> None:
    source = (default_templates_dir() / "iphone-15.toml").read_text(encoding="utf-8")
    source = source.replace(
        "\n[[cutouts]]", "\n[checks]\nwarn_ppi = 250.0\nink_limit_percent = 280\n\n[[cutouts]]", 1
    )
    source = source.replace(
        'skus = ["PC-IPHONE15-CLEAR"]', 'skus = ["PC-IPHONE15-CLEAR"]\nchecks = { warn_ppi = 200 }'
    )
    _write(tmp_path, "iphone-15.toml", source)
    catalog = load_catalog(tmp_path)
    assert catalog.get("iphone-15").checks.overrides() == {
        "warn_ppi": 250.0,
        "ink_limit_percent": 280.0,
    }
    assert catalog.get("iphone-15-clear").checks.overrides() == {
        "warn_ppi": 200.0,
        "ink_limit_percent": 280.0,
    }
    _write(tmp_path, "iphone-15.toml", source.replace("warn_ppi = 250.0", "warm_ppi = 250.0"))
    with pytest.raises(InvalidTemplate, match="warm_ppi"):
        load_catalog(tmp_path)
