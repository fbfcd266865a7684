"""One preflight job as a literal, ordered list of named steps.

Each step takes the job state and returns a new one; the runner times every step and enforces
the deadline between steps. Colour: geometry happens in the artwork's own space, the
conversion into the output profile is the last pixel step (STYLE rule 4).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from preflight.annotate import reduce_canvas, render_color_shift_map, render_overlay
from preflight.checks import CheckConfig, PlacedArtwork, run_checks
from preflight.color import (
    ColorSettings,
    OutputProfile,
    ProfileLibrary,
    convert_to_output,
    soft_proof,
)
from preflight.content import ContentAnalysis, analyse_content
from preflight.errors import DeadlineExceeded
from preflight.findings import Finding, verdict
from preflight.geometry import Placement, ResolvedPlacement, resolve_placement
from preflight.loading import Artwork, LoadLimits, load_artwork, load_artwork_bytes
from preflight.proof import render_mockup
from preflight.render import (
    PlacedCanvas,
    encode_pictures,
    encode_print_tiff,
    encode_white_mask_tiff,
    flatten,
    place_on_canvas,
)
from preflight.templates import Template

__all__ = ["REPORT_SCHEMA", "JobRequest", "JobResult", "run_job"]

REPORT_SCHEMA = "preflight-report/1"
_T = TypeVar("_T")

PRINT_FILE = "print.tif"
WHITE_MASK_FILE = "white.tif"
OVERLAY_FILE = "overlay.png"
COLOR_SHIFT_FILE = "color-shift.png"


@dataclass(frozen=True)
class JobRequest:
    """Everything one job needs. Give ``artwork_path`` or ``artwork_bytes`` + ``artwork_name``."""

    template: Template
    placement: Placement = field(default_factory=Placement)
    color: ColorSettings = field(default_factory=ColorSettings)
    checks: CheckConfig = field(default_factory=CheckConfig)
    limits: LoadLimits = field(default_factory=LoadLimits)
    artwork_path: Path | None = None
    artwork_bytes: bytes | None = None
    artwork_name: str = "artwork"
    deadline_s: float = 120.0
    # The proof mockup, findings overlay and colour-shift map (off only for measurements).
    pictures: bool = True


@dataclass(frozen=True)
class _State:
    request: JobRequest
    output_profile: OutputProfile
    artwork: Artwork | None = None
    placement: ResolvedPlacement | None = None
    canvas: PlacedCanvas | None = None
    flat: Image.Image | None = None
    content: ContentAnalysis | None = None
    findings: tuple[Finding, ...] = ()
    placed: PlacedArtwork | None = None
    cmyk: Image.Image | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    pictures: dict[str, Image.Image] = field(default_factory=dict)  # file name → picture
    picture_files: dict[str, bytes] = field(default_factory=dict)
    picture_facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobResult:
    report: dict[str, Any]
    files: dict[str, bytes]  # output name → bytes, e.g. "print.tif"

    @property
    def status(self) -> str:
        return str(self.report["status"])


def _need(value: _T | None, what: str) -> _T:
    if value is None:  # a step ran out of order: a programming error, not a user error
        raise RuntimeError(f"job step needs {what}, which an earlier step should have made")
    return value


def _load(state: _State) -> _State:
    request = state.request
    if request.artwork_path is not None:
        artwork = load_artwork(request.artwork_path, request.limits)
    else:
        data = _need(request.artwork_bytes, "artwork bytes")
        artwork = load_artwork_bytes(data, request.artwork_name, request.limits)
    return dataclasses.replace(state, artwork=artwork)


def _place(state: _State) -> _State:
    artwork = _need(state.artwork, "the artwork")
    template = state.request.template
    resolved = resolve_placement(
        state.request.placement, artwork.image.size, template.canvas_size_px, template.print_dpi
    )
    return dataclasses.replace(
        state, placement=resolved, canvas=place_on_canvas(artwork.image, resolved)
    )


def _flatten(state: _State) -> _State:
    return dataclasses.replace(state, flat=flatten(_need(state.canvas, "the placed canvas")))


def _analyse(state: _State) -> _State:
    flat = _need(state.flat, "the flattened canvas")
    return dataclasses.replace(
        state, content=analyse_content(flat, state.request.template.print_dpi)
    )


def _check(state: _State) -> _State:
    artwork = _need(state.artwork, "the artwork")
    canvas = _need(state.canvas, "the placed canvas")
    placed = PlacedArtwork(
        facts=artwork.facts,
        image=artwork.image,
        canvas=canvas.image,
        coverage=canvas.coverage,
        flat=_need(state.flat, "the flattened canvas"),
        cmyk=_need(state.cmyk, "the CMYK image"),
        dpi=state.request.template.print_dpi,
        content=_need(state.content, "the content analysis"),
        source_icc=artwork.icc_profile,
        output=state.output_profile,
        color=state.request.color,
    )
    template = state.request.template
    # The template's own thresholds (from its file) refine the run's configuration.
    config = dataclasses.replace(state.request.checks, **template.checks.overrides())
    findings = run_checks(placed, template, _need(state.placement, "the placement"), config)
    return dataclasses.replace(state, findings=tuple(findings), placed=placed)


def _convert(state: _State) -> _State:
    artwork = _need(state.artwork, "the artwork")
    cmyk = convert_to_output(
        _need(state.flat, "the flattened canvas"),
        artwork.icc_profile,
        state.output_profile,
        state.request.color,
    )
    return dataclasses.replace(state, cmyk=cmyk)


def _encode(state: _State) -> _State:
    template = state.request.template
    files = {
        PRINT_FILE: encode_print_tiff(
            _need(state.cmyk, "the CMYK image"), template.print_dpi, state.output_profile.data
        )
    }
    if template.substrate == "clear":
        coverage = _need(state.canvas, "the placed canvas").coverage
        files[WHITE_MASK_FILE] = encode_white_mask_tiff(coverage, template.print_dpi)
    return dataclasses.replace(state, files=files)


def _proof(state: _State) -> _State:
    if not state.request.pictures:
        return state
    mockup = render_mockup(
        _need(state.cmyk, "the CMYK image"),
        _need(state.canvas, "the placed canvas").coverage,
        state.request.template,
        state.output_profile,
    )
    return dataclasses.replace(
        state,
        pictures={**state.pictures, **mockup.pictures()},
        picture_facts={**state.picture_facts, "proof": mockup.to_dict()},
    )


def _annotate(state: _State) -> _State:
    if not state.request.pictures:
        return state
    flat = _need(state.flat, "the flattened canvas")
    # CMYK artwork is shown as it prints; RGB and grey artwork as supplied.
    display = (
        soft_proof(_need(state.cmyk, "the CMYK image"), state.output_profile)
        if flat.mode == "CMYK"
        else flat
    )
    template = state.request.template
    reduced = reduce_canvas(display)
    overlay = render_overlay(reduced, template, list(state.findings))
    placed = _need(state.placed, "the checked artwork")
    shift_map = render_color_shift_map(reduced, template, placed.color_shift())
    return dataclasses.replace(
        state,
        pictures={
            **state.pictures,
            OVERLAY_FILE: overlay.image,
            COLOR_SHIFT_FILE: shift_map.image,
        },
        picture_facts={
            **state.picture_facts,
            "overlay": overlay.to_dict(),
            "color_shift": shift_map.to_dict(),
        },
    )


def _encode_pictures(state: _State) -> _State:
    return dataclasses.replace(state, picture_files=encode_pictures(state.pictures))


STEPS: tuple[tuple[str, Callable[[_State], _State]], ...] = (
    ("load", _load),
    ("place", _place),
    ("flatten", _flatten),
    ("convert", _convert),  # before the checks: the ink check reads the separations
    ("analyse", _analyse),  # faces, text, distinct objects: what the content checks look for
    ("check", _check),
    ("encode", _encode),
    ("proof", _proof),  # from the print file's pixels: what production prints
    ("annotate", _annotate),
    ("encode-pictures", _encode_pictures),
)


def run_job(request: JobRequest, profiles: ProfileLibrary) -> JobResult:
    """Run every step in order and assemble the versioned report."""
    state = _State(request=request, output_profile=profiles.get(request.color.output_profile))
    timings: dict[str, float] = {}
    started = time.perf_counter()
    for name, step in STEPS:
        step_started = time.perf_counter()
        state = step(state)
        timings[name] = round((time.perf_counter() - step_started) * 1000, 1)
        elapsed = time.perf_counter() - started
        if elapsed > request.deadline_s:
            raise DeadlineExceeded(
                f"the job took longer than its {request.deadline_s:.0f} s deadline "
                f"(stopped after step {name!r} at {elapsed:.1f} s)"
            )
    timings["total"] = round((time.perf_counter() - started) * 1000, 1)
    return JobResult(report=_report(state, timings), files={**state.files, **state.picture_files})


def _report(state: _State, timings: dict[str, float]) -> dict[str, Any]:
    template = state.request.template
    artwork = _need(state.artwork, "the artwork")
    placement = _need(state.placement, "the placement")
    findings = list(state.findings)
    shift = state.placed.color_shift() if state.placed is not None else None
    width, height = template.canvas_size_px
    return {
        "schema": REPORT_SCHEMA,
        "status": verdict(findings),
        "template": {
            "id": template.id,
            "name": template.name,
            "family": template.family,
            "substrate": template.substrate,
            "print_mode": template.print_mode,
            "print_dpi": template.print_dpi,
            "canvas_px": {"width": width, "height": height},
            "trim_mm": {"width": template.trim_width_mm, "height": template.trim_height_mm},
            "bleed_mm": template.bleed_mm,
        },
        "artwork": artwork.facts.to_dict(),
        "placement": placement.to_dict(),
        "color": {
            **state.request.color.to_dict(),
            "output_profile_description": state.output_profile.info.description,
            "source_profile": artwork.facts.profile_source,
        },
        "findings": [f.to_dict() for f in findings],
        "content": state.content.to_dict() if state.content else None,
        "color_shift": shift.to_dict() if shift is not None else None,
        "pictures": state.picture_facts,
        "outputs": {
            name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in {**state.files, **state.picture_files}.items()
        },
        "timings_ms": timings,
    }
