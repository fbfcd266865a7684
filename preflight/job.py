"""One preflight job as a literal, ordered list of named steps.

Each step reads the job state and returns the fields it makes; it names the steps whose
results it reads (``after``). The runner times every step and enforces the deadline. The list
order is a valid order to run the steps one after another (``threads=1``); with more threads a
step starts as soon as the steps it reads have finished, so the print file is encoded, the
colour shift measured and the proof and colour-shift map drawn while the content is analysed
and checked. The heavy parts of encoding and conversion (table lookups, LittleCMS,
resampling, Deflate) run outside Python's GIL; the content analysis holds it much of the
time, so two threads give ~1.3-1.6x, not 2x (iPhone 15 and iPad 10 jobs). The runner lets go
of each large field once every step that reads it has finished (``_READERS``), and gives a
step only the large fields it reads.

Colour: geometry happens in the artwork's own space, the conversion into the output profile is
the last pixel step (STYLE rule 4).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from preflight.annotate import reduce_canvas, render_color_shift_map, render_overlay
from preflight.checks import CheckConfig, PlacedArtwork, run_checks
from preflight.color import (
    ColorSettings,
    ConversionTables,
    OutputProfile,
    ProfileLibrary,
    conversion_ink_bound,
    convert_to_output,
    soft_proof,
)
from preflight.colorshift import ColorShift, measure_color_shift
from preflight.content import ContentAnalysis, analyse_content
from preflight.errors import DeadlineExceeded
from preflight.findings import Finding, verdict
from preflight.geometry import Placement, ResolvedPlacement, resolve_placement
from preflight.loading import (
    Artwork,
    ArtworkFacts,
    LoadLimits,
    load_artwork,
    load_artwork_bytes,
)
from preflight.proof import ProofPrint, cut_print, mockup_of
from preflight.render import (
    PlacedCanvas,
    encode_pictures,
    encode_print_tiff,
    encode_white_mask_tiff,
    flatten,
    place_on_canvas,
)
from preflight.templates import Template

__all__ = ["REPORT_SCHEMA", "STEPS", "JobRequest", "JobResult", "Step", "run_job"]

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
    # Steps that do not read each other's results run side by side on this many threads, and
    # the encoders and the resize split their work over as many (1: one after another, in
    # list order, and no other thread: one worker process a core).
    threads: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.threads <= 16:
            raise ValueError(f"threads must be 1–16, got {self.threads}")


@dataclass(frozen=True)
class _Output:
    """An output file and its SHA-256, hashed by the step that made it (off the critical
    path: a print file is 10–30 MB)."""

    data: bytes
    sha256: str

    @classmethod
    def of(cls, data: bytes) -> _Output:
        return cls(data, hashlib.sha256(data).hexdigest())


def _outputs(files: dict[str, bytes]) -> dict[str, _Output]:
    return {name: _Output.of(data) for name, data in files.items()}


@dataclass(frozen=True)
class _State:
    request: JobRequest
    output_profile: OutputProfile
    tables: ConversionTables | None = None
    # The decoded artwork lives until it is placed; its facts and profile for the whole job.
    artwork: Artwork | None = None
    facts: ArtworkFacts | None = None
    source_icc: bytes | None = None
    placement: ResolvedPlacement | None = None
    canvas: PlacedCanvas | None = None
    coverage: Image.Image | None = None  # the artwork's opacity on each canvas pixel (L)
    flat: Image.Image | None = None
    content: ContentAnalysis | None = None
    findings: tuple[Finding, ...] = ()
    color_shift: ColorShift | None = None  # artwork vs print: for a check and a picture
    cmyk: Image.Image | None = None
    files: dict[str, _Output] = field(default_factory=dict)  # the print file (and white mask)
    proof_print: ProofPrint | None = None  # what the proof shows of the print, at its size
    # Pictures by file name, their encoded files, and their facts for the report.
    proof_pictures: dict[str, Image.Image] = field(default_factory=dict)
    proof_files: dict[str, _Output] = field(default_factory=dict)
    proof_facts: dict[str, Any] | None = None
    reduced: Image.Image | None = None  # the canvas at the annotated pictures' size
    annotated_files: dict[str, _Output] = field(default_factory=dict)  # the findings overlay
    annotated_facts: dict[str, Any] = field(default_factory=dict)
    color_map_files: dict[str, _Output] = field(default_factory=dict)  # the colour-shift map
    color_map_facts: dict[str, Any] = field(default_factory=dict)


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


_Updates = Mapping[str, Any]  # the state fields a step makes, by name


# A JPEG may be decoded at a reduced scale, but to no less than twice the pixels the placement
# samples, so the Lanczos resize that follows still has real detail to filter (the rule
# Pillow's own thumbnail() follows for the same reason).
_DECODE_MARGIN = 2.0


def _load(state: _State) -> _Updates:
    request = state.request
    template = request.template

    def needed_size(upright: tuple[int, int]) -> tuple[int, int]:
        resolved = resolve_placement(
            request.placement, upright, template.canvas_size_px, template.print_dpi
        )
        factor = min(1.0, _DECODE_MARGIN * resolved.scale)
        return (math.ceil(upright[0] * factor), math.ceil(upright[1] * factor))

    if request.artwork_path is not None:
        artwork = load_artwork(request.artwork_path, request.limits, needed_size, request.threads)
    else:
        data = _need(request.artwork_bytes, "artwork bytes")
        artwork = load_artwork_bytes(
            data, request.artwork_name, request.limits, needed_size, request.threads
        )
    return {"artwork": artwork, "facts": artwork.facts, "source_icc": artwork.icc_profile}


def _place(state: _State) -> _Updates:
    artwork = _need(state.artwork, "the artwork")
    template = state.request.template
    resolved = resolve_placement(
        state.request.placement, artwork.size, template.canvas_size_px, template.print_dpi
    )
    canvas = place_on_canvas(artwork.image, resolved, state.request.threads)
    # The decoded pixels are not needed once placed: dropped (up to hundreds of MB).
    return {
        "placement": resolved, "canvas": canvas, "coverage": canvas.coverage, "artwork": None
    }


def _flatten(state: _State) -> _Updates:
    return {"flat": flatten(_need(state.canvas, "the placed canvas"))}


def _analyse(state: _State) -> _Updates:
    flat = _need(state.flat, "the flattened canvas")
    return {"content": analyse_content(flat, state.request.template.print_dpi)}


def _check(state: _State) -> _Updates:
    flat = _need(state.flat, "the flattened canvas")
    placed = PlacedArtwork(
        facts=_need(state.facts, "the artwork's facts"),
        coverage=_need(state.coverage, "the artwork's coverage"),
        flat=flat,
        cmyk=_need(state.cmyk, "the CMYK image"),
        dpi=state.request.template.print_dpi,
        content=_need(state.content, "the content analysis"),
        source_icc=state.source_icc,
        output=state.output_profile,
        color=state.request.color,
        measured_color_shift=state.color_shift,
        # The conversion's table bounds every pixel's ink: most jobs need not sum the inks.
        ink_bound=conversion_ink_bound(
            flat.mode, state.source_icc, state.output_profile, state.request.color, state.tables
        ),
    )
    template = state.request.template
    # The template's own thresholds (from its file) refine the run's configuration.
    config = dataclasses.replace(state.request.checks, **template.checks.overrides())
    findings = run_checks(placed, template, _need(state.placement, "the placement"), config)
    return {"findings": tuple(findings)}


def _measure_colour(state: _State) -> _Updates:
    shift = measure_color_shift(
        _need(state.flat, "the flattened canvas"),
        _need(state.cmyk, "the CMYK image"),
        _need(state.coverage, "the artwork's coverage"),
        state.source_icc,
        state.output_profile,
        state.request.color,
    )
    return {"color_shift": shift}


def _convert(state: _State) -> _Updates:
    cmyk = convert_to_output(
        _need(state.flat, "the flattened canvas"),
        state.source_icc,
        state.output_profile,
        state.request.color,
        state.tables,
    )
    return {"cmyk": cmyk}


def _encode(state: _State) -> _Updates:
    template = state.request.template
    files = {
        PRINT_FILE: encode_print_tiff(
            _need(state.cmyk, "the CMYK image"),
            template.print_dpi,
            state.output_profile.data,
            state.request.threads,
        )
    }
    if template.substrate == "clear":
        coverage = _need(state.coverage, "the artwork's coverage")
        files[WHITE_MASK_FILE] = encode_white_mask_tiff(
            coverage, template.print_dpi, state.request.threads
        )
    return {"files": _outputs(files)}


def _cut_print(state: _State) -> _Updates:
    if not state.request.pictures:
        return {}
    printed_part = cut_print(
        _need(state.cmyk, "the CMYK image"),
        _need(state.coverage, "the artwork's coverage"),
        state.request.template,
    )
    return {"proof_print": printed_part}


def _proof(state: _State) -> _Updates:
    if not state.request.pictures:
        return {}
    mockup = mockup_of(
        _need(state.proof_print, "the print cut for the proof"),
        state.request.template,
        state.output_profile,
    )
    return {"proof_pictures": mockup.pictures(), "proof_facts": mockup.to_dict()}


def _encode_proof(state: _State) -> _Updates:
    # The pictures are dropped once encoded: a job holds what it still needs, nothing more.
    files = encode_pictures(state.proof_pictures, state.request.threads)
    return {"proof_files": _outputs(files), "proof_pictures": {}}


def _reduce(state: _State) -> _Updates:
    if not state.request.pictures:
        return {}
    flat = _need(state.flat, "the flattened canvas")
    # CMYK artwork is shown as it prints (soft-proofed once reduced); RGB and grey artwork as
    # supplied.
    reduced = reduce_canvas(_need(state.cmyk, "the CMYK image") if flat.mode == "CMYK" else flat)
    if reduced.mode == "CMYK":
        reduced = soft_proof(reduced, state.output_profile)
    return {"reduced": reduced}


def _annotate(state: _State) -> _Updates:
    if not state.request.pictures:
        return {}
    overlay = render_overlay(
        _need(state.reduced, "the reduced canvas"), state.request.template, list(state.findings)
    )
    return {
        "annotated_files": _outputs(
            encode_pictures({OVERLAY_FILE: overlay.image}, state.request.threads)
        ),
        "annotated_facts": {"overlay": overlay.to_dict()},
    }


def _map_colour_shift(state: _State) -> _Updates:
    if not state.request.pictures:
        return {}
    shift_map = render_color_shift_map(
        _need(state.reduced, "the reduced canvas"), state.request.template, state.color_shift
    )
    return {
        "color_map_files": _outputs(
            encode_pictures({COLOR_SHIFT_FILE: shift_map.image}, state.request.threads)
        ),
        "color_map_facts": {"color_shift": shift_map.to_dict()},
    }


@dataclass(frozen=True)
class Step:
    """A named job step and the steps whose results it reads."""

    name: str
    run: Callable[[_State], _Updates]
    after: tuple[str, ...] = ()


STEPS: tuple[Step, ...] = (
    Step("load", _load),
    Step("place", _place, after=("load",)),
    Step("flatten", _flatten, after=("place",)),
    # Before the checks: the ink check reads the separations.
    Step("convert", _convert, after=("flatten",)),
    # Faces, text, distinct objects: what the content checks look for.
    Step("analyse", _analyse, after=("flatten",)),
    # Artwork vs print colours (for out-of-gamut and the colour-shift map), beside the analysis.
    Step("measure-colour", _measure_colour, after=("convert",)),
    Step("check", _check, after=("convert", "analyse", "measure-colour")),
    Step("encode", _encode, after=("convert",)),
    # From the print file's pixels: what production prints. Cut and reduced first, in a step
    # of its own, so the canvas-sized CMYK image is let go while the proof is drawn.
    Step("cut-print", _cut_print, after=("convert",)),
    Step("proof", _proof, after=("cut-print",)),
    Step("encode-proof", _encode_proof, after=("proof",)),
    # The pictures' copy of the canvas, made while the content is still being analysed.
    Step("reduce", _reduce, after=("convert",)),
    Step("map-colour", _map_colour_shift, after=("measure-colour", "reduce")),
    # The findings overlay (drawn and encoded): the one picture that waits for the checks.
    Step("annotate", _annotate, after=("check", "reduce")),
)


# The large fields, and the steps that read them: once those have all finished, the runner
# lets go of the field (a canvas is 25 MB on an iPad, the CMYK image as much again), so a job
# holds what later steps still need and nothing more.
_READERS: dict[str, tuple[str, ...]] = {
    # The placed image itself only until flattened (25 MB of RGBA on an iPad canvas); its
    # coverage (a quarter of that) lives on as its own field.
    "canvas": ("flatten",),
    "coverage": ("check", "measure-colour", "encode", "cut-print"),
    "flat": ("convert", "analyse", "measure-colour", "check", "reduce"),
    "cmyk": ("measure-colour", "check", "encode", "cut-print", "reduce"),
    "proof_print": ("proof",),
    "reduced": ("map-colour", "annotate"),
}


def _check_order(steps: tuple[Step, ...]) -> None:
    names = {step.name for step in steps}
    for field_name, readers in _READERS.items():
        if not set(readers) <= names:  # a programming error: the field would never be freed
            raise RuntimeError(f"{field_name!r} is read by unknown steps {readers}")
    seen: set[str] = set()
    for step in steps:
        missing = [name for name in step.after if name not in seen]
        if missing:  # a programming error: the one-thread order would break
            raise RuntimeError(f"step {step.name!r} comes before {missing} that it reads")
        seen.add(step.name)


_check_order(STEPS)


def _seen_by(step: Step, state: _State) -> _State:
    """The state as ``step`` gets it: without the large fields it does not read. A running
    step holds its state until it ends; were every field in it, a long step would keep a
    canvas alive that every one of its readers had finished with (an iPad job's CMYK image,
    27 MB, stayed while the proof was drawn)."""
    unread: dict[str, Any] = {
        name: None for name, readers in _READERS.items() if step.name not in readers
    }
    return dataclasses.replace(state, **unread)


def _timed(step: Step, state: _State) -> tuple[_Updates, float]:
    started = time.perf_counter()
    updates = step.run(state)
    return updates, round((time.perf_counter() - started) * 1000, 1)


def run_job(
    request: JobRequest, profiles: ProfileLibrary, tables: ConversionTables | None = None
) -> JobResult:
    """Run every step and assemble the versioned report.

    ``tables`` (optional) converts into the press space through exact lookup tables: the same
    bytes as LittleCMS, faster (see :class:`preflight.color.ConversionTables`).
    """
    state = _State(
        request=request,
        output_profile=profiles.get(request.color.output_profile),
        tables=tables,
    )
    timings: dict[str, float] = {}
    started = time.perf_counter()
    deadline = started + request.deadline_s
    pending = list(STEPS)
    done: set[str] = set()
    running: dict[Future[tuple[_Updates, float]], Step] = {}
    pool = ThreadPoolExecutor(max_workers=request.threads, thread_name_prefix="job-step")
    late = False
    try:
        while pending or running:
            for step in list(pending):  # list order decides among the steps that are ready
                if len(running) < request.threads and done.issuperset(step.after):
                    running[pool.submit(_timed, step, _seen_by(step, state))] = step
                    pending.remove(step)
            finished, _ = wait(
                running, timeout=max(0.0, deadline - time.perf_counter()),
                return_when=FIRST_COMPLETED,
            )  # fmt: skip
            if not finished:
                late = True
                raise DeadlineExceeded(
                    f"the job took longer than its {request.deadline_s:.0f} s deadline "
                    f"(still running: {', '.join(sorted(s.name for s in running.values()))})"
                )
            for future in finished:
                step = running.pop(future)
                updates, milliseconds = future.result()  # a step's error ends the job here
                done.add(step.name)
                released: dict[str, Any] = {
                    name: None for name, readers in _READERS.items() if done.issuperset(readers)
                }
                state = dataclasses.replace(state, **{**updates, **released})
                timings[step.name] = milliseconds
    finally:
        # After an error, steps not started never start and running ones are waited for; past
        # the deadline they are left to finish on their own (a thread cannot be stopped).
        pool.shutdown(wait=not late, cancel_futures=True)
    timings["total"] = round((time.perf_counter() - started) * 1000, 1)
    outputs = {
        **state.files, **state.proof_files, **state.annotated_files, **state.color_map_files
    }
    return JobResult(
        report=_report(state, timings, outputs),
        files={name: output.data for name, output in outputs.items()},
    )


def _report(
    state: _State, timings: dict[str, float], outputs: dict[str, _Output]
) -> dict[str, Any]:
    template = state.request.template
    facts = _need(state.facts, "the artwork's facts")
    placement = _need(state.placement, "the placement")
    findings = list(state.findings)
    shift = state.color_shift
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
        "artwork": facts.to_dict(),
        "placement": placement.to_dict(),
        "color": {
            **state.request.color.to_dict(),
            "output_profile_description": state.output_profile.info.description,
            "source_profile": facts.profile_source,
        },
        "findings": [f.to_dict() for f in findings],
        "content": state.content.to_dict() if state.content else None,
        "color_shift": shift.to_dict() if shift is not None else None,
        "pictures": {
            **({"proof": state.proof_facts} if state.proof_facts is not None else {}),
            **state.annotated_facts,
            **state.color_map_facts,
        },
        "outputs": {
            name: {"bytes": len(output.data), "sha256": output.sha256}
            for name, output in outputs.items()
        },
        "timings_ms": timings,
    }
