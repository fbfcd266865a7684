"""Device templates: data files validated by a typed model, and the catalog that resolves them.

One TOML file per device in ``templates/`` describes the device's printable back (trim box),
its cutouts, and the product variants sold for it (opaque / clear, back-only / wrap), each with
the SKUs that order it. Every variant becomes one :class:`Template` with a stable id. Geometry
follows :mod:`preflight.geometry`: mm from the top-left of the trim box, seen from the printed
side.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from preflight.datapaths import default_templates_dir
from preflight.errors import InvalidTemplate, UnknownSku, UnknownTemplate
from preflight.geometry import Box, mm_to_px

__all__ = [
    "Catalog",
    "CheckThresholds",
    "Cutout",
    "DeviceFile",
    "PixelSize",
    "Template",
    "load_catalog",
]

_ID_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
_SKU_PATTERN = r"^[A-Z0-9]+(-[A-Z0-9]+)*$"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PixelSize(_Strict):
    width: int = Field(gt=0, le=100_000)
    height: int = Field(gt=0, le=100_000)


class Cutout(_Strict):
    """An opening in the case (camera module, flash, connector) where nothing prints."""

    kind: Literal["camera", "flash", "sensor", "connector", "opening"]
    shape: Literal["rect", "rounded_rect", "circle"]
    x_mm: float = Field(ge=0, description="left of the shape's bounding box, from trim left")
    y_mm: float = Field(ge=0, description="top of the shape's bounding box, from trim top")
    width_mm: float = Field(gt=0)
    height_mm: float = Field(gt=0)
    corner_radius_mm: float = Field(0.0, ge=0)
    keep_out_mm: float = Field(
        ge=0, description="margin around the opening where important content would be hidden"
    )

    @model_validator(mode="after")
    def _shape_is_consistent(self) -> Cutout:
        if self.shape == "circle" and abs(self.width_mm - self.height_mm) > 1e-6:
            raise ValueError("a circle cutout needs width_mm == height_mm")
        if self.corner_radius_mm > min(self.width_mm, self.height_mm) / 2 + 1e-6:
            raise ValueError("corner_radius_mm exceeds half the cutout's smaller side")
        return self

    def shifted(self, dx_mm: float, dy_mm: float) -> Cutout:
        return self.model_copy(update={"x_mm": self.x_mm + dx_mm, "y_mm": self.y_mm + dy_mm})


class CheckThresholds(_Strict):
    """Per-template overrides of check thresholds (same names and units as CheckConfig).

    A device file may set them for all its variants (``[checks]``) and a variant for itself
    (``checks = { ... }``); the variant wins. Unset fields keep the run's defaults.
    """

    warn_ppi: float | None = Field(None, gt=0, le=2400)
    error_ppi: float | None = Field(None, gt=0, le=2400)
    ppi_tolerance: float | None = Field(None, ge=0, lt=0.5)
    bleed_tolerance_mm: float | None = Field(None, ge=0, le=5)
    transparency_min_share: float | None = Field(None, ge=0, le=1)
    ink_limit_percent: float | None = Field(None, gt=0, le=400)
    ink_limit_min_share: float | None = Field(None, ge=0, le=1)
    orientation_min_aspect: float | None = Field(None, ge=1, le=5)
    cutout_min_overlap: float | None = Field(None, ge=0, le=1)
    edge_min_overlap: float | None = Field(None, ge=0, le=1)
    edge_min_intrusion_mm: float | None = Field(None, ge=0, le=20)
    gamut_delta_e: float | None = Field(None, gt=0, le=100)
    gamut_max_share: float | None = Field(None, ge=0, le=1)

    def merged(self, other: CheckThresholds | None) -> CheckThresholds:
        if other is None:
            return self
        return self.model_copy(update=other.model_dump(exclude_none=True))

    def overrides(self) -> dict[str, Any]:
        return dict(self.model_dump(exclude_none=True))


class Variant(_Strict):
    """A product sold for a device: its own template id, substrate, print mode and SKUs."""

    id: str = Field(pattern=_ID_PATTERN)
    name: str = Field(min_length=1)
    substrate: Literal["opaque", "clear"]
    print_mode: Literal["back_only", "wrap"]
    wrap_mm: float = Field(
        0.0, ge=0, le=15, description="side-wall depth printed on each side (wrap mode only)"
    )
    skus: tuple[str, ...] = Field(min_length=1)
    min_artwork_px: PixelSize | None = None
    checks: CheckThresholds | None = None

    @model_validator(mode="after")
    def _wrap_consistent(self) -> Variant:
        if (self.print_mode == "wrap") != (self.wrap_mm > 0):
            raise ValueError("wrap_mm must be > 0 exactly when print_mode is 'wrap'")
        for sku in self.skus:
            if not re.match(_SKU_PATTERN, sku):
                raise ValueError(f"SKU {sku!r} must be upper-case letters, digits and dashes")
        return self


class DeviceFile(_Strict):
    """The content of one ``templates/*.toml`` file."""

    schema_: Literal["device-template/1"] = Field(alias="schema")
    device: str = Field(pattern=_ID_PATTERN)
    name: str = Field(min_length=1)
    family: Literal["iphone", "ipad", "android"]
    print_dpi: int = Field(ge=150, le=1200)
    trim_width_mm: float = Field(gt=20, lt=400)
    trim_height_mm: float = Field(gt=20, lt=400)
    bleed_mm: float = Field(ge=0, le=10)
    safe_inset_mm: float = Field(ge=0, le=20)
    corner_radius_mm: float = Field(ge=0)
    min_artwork_px: PixelSize
    cutouts: tuple[Cutout, ...] = ()
    checks: CheckThresholds = Field(default_factory=CheckThresholds)
    variants: tuple[Variant, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _geometry_fits(self) -> DeviceFile:
        if self.corner_radius_mm > min(self.trim_width_mm, self.trim_height_mm) / 2:
            raise ValueError("corner_radius_mm exceeds half the trim's smaller side")
        for i, cut in enumerate(self.cutouts):
            if (
                cut.x_mm + cut.width_mm > self.trim_width_mm
                or cut.y_mm + cut.height_mm > self.trim_height_mm
            ):
                raise ValueError(f"cutouts[{i}] extends past the trim box")
        return self


class Template(_Strict):
    """One printable product: everything a check or a render needs, in mm and dpi."""

    id: str
    name: str
    device: str
    device_name: str
    family: Literal["iphone", "ipad", "android"]
    print_dpi: int
    trim_width_mm: float
    trim_height_mm: float
    bleed_mm: float
    safe_inset_mm: float
    corner_radius_mm: float
    cutouts: tuple[Cutout, ...]
    min_artwork_px: PixelSize
    substrate: Literal["opaque", "clear"]
    print_mode: Literal["back_only", "wrap"]
    wrap_mm: float
    skus: tuple[str, ...]
    checks: CheckThresholds
    source_file: str

    # --- derived geometry, canvas pixels (see preflight.geometry) -------------------------

    @cached_property
    def canvas_size_px(self) -> tuple[int, int]:
        """Trim plus bleed on every side, at the print dpi, rounded to whole pixels."""
        return (
            round(mm_to_px(self.trim_width_mm + 2 * self.bleed_mm, self.print_dpi)),
            round(mm_to_px(self.trim_height_mm + 2 * self.bleed_mm, self.print_dpi)),
        )

    def mm_box(self, x_mm: float, y_mm: float, w_mm: float, h_mm: float) -> Box:
        """A box given in trim-box mm, as canvas pixels."""
        dpi = self.print_dpi
        return Box(
            mm_to_px(x_mm + self.bleed_mm, dpi),
            mm_to_px(y_mm + self.bleed_mm, dpi),
            mm_to_px(w_mm, dpi),
            mm_to_px(h_mm, dpi),
        )

    @property
    def trim_box(self) -> Box:
        return self.mm_box(0, 0, self.trim_width_mm, self.trim_height_mm)

    @property
    def safe_box(self) -> Box:
        inset = self.safe_inset_mm
        return self.mm_box(
            inset, inset, self.trim_width_mm - 2 * inset, self.trim_height_mm - 2 * inset
        )

    @property
    def is_portrait(self) -> bool:
        return self.trim_height_mm >= self.trim_width_mm

    def to_dict(self) -> dict[str, object]:
        """Every field, plus the derived canvas size (the JSON listing's shape)."""
        data = self.model_dump(mode="json")
        width, height = self.canvas_size_px
        data["canvas_px"] = {"width": width, "height": height}
        data["canvas_mm"] = {
            "width": round(self.trim_width_mm + 2 * self.bleed_mm, 2),
            "height": round(self.trim_height_mm + 2 * self.bleed_mm, 2),
        }
        return data


def _templates_from(device: DeviceFile, source: str) -> Iterator[Template]:
    for variant in device.variants:
        wrap = variant.wrap_mm
        yield Template(
            id=variant.id,
            name=variant.name,
            device=device.device,
            device_name=device.name,
            family=device.family,
            print_dpi=device.print_dpi,
            # A wrap print is one flat sheet: the back plus the side walls around it.
            trim_width_mm=round(device.trim_width_mm + 2 * wrap, 3),
            trim_height_mm=round(device.trim_height_mm + 2 * wrap, 3),
            bleed_mm=device.bleed_mm,
            safe_inset_mm=device.safe_inset_mm,
            corner_radius_mm=round(device.corner_radius_mm + wrap, 3),
            cutouts=tuple(c.shifted(wrap, wrap) for c in device.cutouts),
            min_artwork_px=variant.min_artwork_px or device.min_artwork_px,
            substrate=variant.substrate,
            print_mode=variant.print_mode,
            wrap_mm=wrap,
            skus=variant.skus,
            checks=device.checks.merged(variant.checks),
            source_file=source,
        )


def parse_device_file(path: Path) -> DeviceFile:
    """Read and validate one template file; any problem names the file and the field."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidTemplate(f"template file {path.name} cannot be read: {exc}") from exc
    try:
        device = DeviceFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidTemplate(f"template file {path.name} is invalid: {problems}") from exc
    if device.device != path.stem:
        raise InvalidTemplate(
            f"template file {path.name} declares device {device.device!r}; "
            f"the file must be named {device.device}.toml"
        )
    return device


class Catalog:
    """All templates, by id and by SKU. Built once; read-only afterwards."""

    def __init__(self, templates: Iterable[Template]) -> None:
        self._by_id: dict[str, Template] = {}
        self._by_sku: dict[str, Template] = {}
        for template in templates:
            if template.id in self._by_id:
                other = self._by_id[template.id].source_file
                raise InvalidTemplate(
                    f"template id {template.id!r} is defined twice ({other}, "
                    f"{template.source_file})"
                )
            self._by_id[template.id] = template
            for sku in template.skus:
                if sku in self._by_sku:
                    raise InvalidTemplate(
                        f"SKU {sku!r} maps to both {self._by_sku[sku].id} and {template.id}"
                    )
                self._by_sku[sku] = template

    def __iter__(self) -> Iterator[Template]:
        return iter(sorted(self._by_id.values(), key=lambda t: t.id))

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, template_id: str) -> Template:
        try:
            return self._by_id[template_id]
        except KeyError:
            hint = _did_you_mean(template_id, self._by_id)
            raise UnknownTemplate(
                f"unknown template {template_id!r}.{hint} "
                "List the templates with `preflight templates`."
            ) from None

    def by_sku(self, sku: str) -> Template:
        try:
            return self._by_sku[sku.strip().upper()]
        except KeyError:
            hint = _did_you_mean(sku.strip().upper(), self._by_sku)
            raise UnknownSku(
                f"unknown SKU {sku!r}: no template is sold under it.{hint} "
                "`preflight templates` lists every template with its SKUs."
            ) from None


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    return f" Did you mean {', '.join(close)}?" if close else ""


def load_catalog(directory: Path | None = None) -> Catalog:
    """Load and validate every ``*.toml`` template file in ``directory``."""
    folder = directory or default_templates_dir()
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise InvalidTemplate(f"no template files (*.toml) in {folder}")
    templates: list[Template] = []
    for path in files:
        templates.extend(_templates_from(parse_device_file(path), path.name))
    return Catalog(templates)
