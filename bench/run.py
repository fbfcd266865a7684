"""The benchmark: our full job against real baselines, on the same inputs, in one run.

    ./dev bench [--quick] [--repeat N] [--json bench/results.json] [--no-queue]

For each input (realistic photo artwork at ~1200×2400, 2400×3000 and 6000×8000 px; JPEG,
PNG, PNG with alpha) and each template (iPhone 15, iPad 10) it measures:

* **ours**: a full job (load, every check, print file, proof, overlay, colour-shift map):
  median and spread of wall time, time per step, peak memory (one more job in a fresh
  process: peak RSS above the level after start-up, see bench/memory.py);
* **pillow**: a straightforward pipeline (open, cover-resize with Lanczos, ImageCms
  profileToProfile to the same CMYK profile, save LZW TIFF): less work than ours;
* **imagemagick**: ``convert`` with the same resize and the same ICC profiles;
* **floor**: the bare decode of the input plus the bare write of the print file it must
  produce, with the fastest decoder and writer we have: no job can beat it.

Then the CMYK conversion step alone against a plain ImageCms transform, and jobs per minute
through the real queue (Celery on Redis, records in PostgreSQL) with 1 and 2 worker
processes, back to back in rounds. Every comparison is a ratio of medians measured in this
run (machines are noisy); the pipelines of a row are measured in turns, one run of each a
round, so that a slow spell of the machine slows every side of a ratio.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageCms

from preflight.checks import CheckConfig
from preflight.color import (
    ColorSettings,
    ConversionTables,
    ProfileLibrary,
    convert_to_output,
    srgb_profile_bytes,
)
from preflight.job import JobRequest, run_job
from preflight.loading import LoadLimits
from preflight.png_reader import read_png
from preflight.render import encode_print_tiff
from preflight.runtime import prepare_compiled_code, prepare_job_process
from preflight.templates import Template, load_catalog

SIZES = {"S": (1200, 2400), "M": (2400, 3000), "L": (6000, 8000)}
# The benchmark's conversion tables (built once, kept between runs like a machine's cache).
TABLES_DIR = Path(__file__).resolve().parent.parent / ".bench-cache" / "tables"
KINDS = ("jpeg", "png", "png-alpha")
TEMPLATES = ("iphone-15", "ipad-10")
CHECK_STEPS = ("analyse", "measure-colour", "check")  # what "all checks" costs in a job


# --- inputs ---------------------------------------------------------------------------------


def artwork(size: tuple[int, int], kind: str) -> bytes:
    """Photo artwork: scikit-image's astronaut enlarged, with a little sensor-like noise so
    that it compresses like a photograph, not like a smooth upscale."""
    from skimage import data

    rng = np.random.default_rng(20261122)
    image = Image.fromarray(data.astronaut()).resize(size, Image.Resampling.BICUBIC)
    pixels = np.asarray(image, dtype=np.int16)
    pixels = pixels + rng.normal(0, 3, pixels.shape).astype(np.int16)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    out = io.BytesIO()
    if kind == "jpeg":
        image.save(out, format="JPEG", quality=92)
    elif kind == "png":
        image.save(out, format="PNG", compress_level=6)
    else:  # a soft vignette in the alpha channel, as exported from a design tool
        y, x = np.ogrid[: size[1], : size[0]]
        distance = np.hypot((x - size[0] / 2) / size[0], (y - size[1] / 2) / size[1])
        alpha = np.clip(255 * (1.2 - distance * 1.6), 0, 255).astype(np.uint8)
        rgba = image.convert("RGBA")
        rgba.putalpha(Image.fromarray(alpha))
        rgba.save(out, format="PNG", compress_level=6)
    return out.getvalue()


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)


def measure(work: Callable[[], dict[str, float] | None]) -> Run:
    """Wall time of one call (and the job's own step timings, when it reports them). Memory
    is measured separately, in a fresh process (:func:`job_peak_mb`)."""
    started = time.perf_counter()
    steps = work() or {}
    return Run(time.perf_counter() - started, steps)


def job_peak_mb(path: Path, template_id: str) -> float:
    """Peak memory of one full job above the process's level before it, in a fresh process
    (see bench/memory.py)."""
    measured = subprocess.run(
        [sys.executable, "-m", "bench.memory", str(path), template_id],
        capture_output=True,
        text=True,
        check=True,
    )
    return round(float(json.loads(measured.stdout)["peak_mb"]), 1)


def summary(runs: list[Run]) -> dict[str, Any]:
    times = [r.seconds for r in runs]
    steps: dict[str, float] = {}
    for name in runs[0].steps:
        steps[name] = round(statistics.median(r.steps.get(name, 0.0) for r in runs), 1)
    return {
        "median_s": round(statistics.median(times), 4),
        "min_s": round(min(times), 4),
        "max_s": round(max(times), 4),
        "steps_ms": steps,
    }


# --- the four pipelines ---------------------------------------------------------------------


def ours(data: bytes, name: str, template: Template, profiles: ProfileLibrary,
         tables: ConversionTables, others: tuple[Template, ...], threads: int = 2,
         pictures: bool = True) -> Callable[[], dict[str, float]]:  # fmt: skip
    def work() -> dict[str, float]:
        request = JobRequest(
            template=template,
            artwork_bytes=data,
            artwork_name=name,
            checks=CheckConfig(other_templates=others),
            limits=LoadLimits(max_file_bytes=400 * 1024 * 1024),
            threads=threads,
            pictures=pictures,
        )
        result = run_job(request, profiles, tables)
        return {k: float(v) for k, v in result.report["timings_ms"].items()}

    return work


def pillow(data: bytes, template: Template, output_icc: bytes) -> Callable[[], None]:
    """The straightforward pipeline a developer writes first (less work than ours)."""

    def work() -> None:
        image: Image.Image = Image.open(io.BytesIO(data))
        image = image.convert("RGB")
        canvas = template.canvas_size_px
        scale = max(canvas[0] / image.width, canvas[1] / image.height)
        size = (round(image.width * scale), round(image.height * scale))
        image = image.resize(size, Image.Resampling.LANCZOS)
        left, top = (size[0] - canvas[0]) // 2, (size[1] - canvas[1]) // 2
        image = image.crop((left, top, left + canvas[0], top + canvas[1]))
        cmyk = ImageCms.profileToProfile(
            image,
            ImageCms.ImageCmsProfile(io.BytesIO(srgb_profile_bytes())),
            ImageCms.ImageCmsProfile(io.BytesIO(output_icc)),
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
            outputMode="CMYK",
            flags=ImageCms.Flags.BLACKPOINTCOMPENSATION,
        )
        assert cmyk is not None
        cmyk.save(io.BytesIO(), format="TIFF", compression="tiff_lzw", dpi=(300, 300))

    return work


def magick_binary() -> str | None:
    """ImageMagick's own ``convert`` (Debian's package), not a wrapper earlier on PATH."""
    for candidate in ("/usr/bin/convert", shutil.which("convert")):
        if candidate and os.path.exists(candidate):
            check = subprocess.run([candidate, "-version"], capture_output=True, text=True)
            if check.returncode == 0 and "ImageMagick" in check.stdout:
                return candidate
    return None


def imagemagick(
    binary: str, path: Path, template: Template, srgb: Path, output: Path, out: Path
) -> Callable[[], None]:
    """``convert``: the same cover resize (Lanczos) and the same two ICC profiles."""
    width, height = template.canvas_size_px

    def work() -> None:
        subprocess.run(
            [
                binary, str(path), "-alpha", "remove", "-background", "white",
                "-filter", "Lanczos", "-resize", f"{width}x{height}^",
                "-gravity", "center", "-extent", f"{width}x{height}",
                "-profile", str(srgb), "-intent", "Relative", "-black-point-compensation",
                "-profile", str(output), "-compress", "LZW", "-density", "300", str(out),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip

    return work


def floor(data: bytes, template: Template, output_icc: bytes) -> Callable[[], None]:
    """Decode the input, write the print file it must produce: the least any job must do.

    The print file's pixels are made beforehand (not timed) from the same artwork, so that
    the write compresses real content, not a blank page.
    """
    with Image.open(io.BytesIO(data)) as source:
        print_pixels = source.convert("RGB").resize(template.canvas_size_px).convert("CMYK")

    def work() -> None:
        # The fastest decode we have: our PNG reader on two threads, as a job uses it.
        if read_png(data, threads=2) is None:
            image = Image.open(io.BytesIO(data))
            image.load()
        encode_print_tiff(print_pixels, template.print_dpi, output_icc)

    return work


# --- the CMYK conversion step ---------------------------------------------------------------


def plain_transform(output_icc: bytes) -> ImageCms.ImageCmsTransform:
    """sRGB to the output profile as a developer would build it with ImageCms (relative
    colorimetric with black-point compensation, as our default)."""
    return ImageCms.buildTransform(
        ImageCms.ImageCmsProfile(io.BytesIO(srgb_profile_bytes())),
        ImageCms.ImageCmsProfile(io.BytesIO(output_icc)),
        "RGB",
        "CMYK",
        renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
        flags=ImageCms.Flags.BLACKPOINTCOMPENSATION,
    )


def conversion(
    template: Template, profiles: ProfileLibrary, tables: ConversionTables, repeat: int
) -> dict[str, Any]:
    """Our conversion step against a plain ImageCms transform, on a placed photo canvas
    (CPU time of one thread: both run on one core)."""
    from skimage import data

    canvas = Image.fromarray(data.astronaut()).resize(template.canvas_size_px)
    output = profiles.get("chemical-proof")
    settings = ColorSettings()
    plain = plain_transform(output.data)
    expected = ImageCms.applyTransform(canvas, plain)
    assert expected is not None
    ours_result = convert_to_output(canvas, None, output, settings, tables)  # warm
    identical = ours_result.tobytes() == expected.tobytes()
    ours_times, plain_times = [], []
    for _ in range(repeat):
        started = time.process_time()
        convert_to_output(canvas, None, output, settings, tables)
        ours_times.append(time.process_time() - started)
        started = time.process_time()
        ImageCms.applyTransform(canvas, plain)
        plain_times.append(time.process_time() - started)
    megapixels = canvas.width * canvas.height / 1e6
    return {
        "template": template.id,
        "megapixels": round(megapixels, 2),
        "ours_mpx_s": round(megapixels / statistics.median(ours_times), 1),
        "imagecms_mpx_s": round(megapixels / statistics.median(plain_times), 1),
        "speedup": round(statistics.median(plain_times) / statistics.median(ours_times), 2),
        "byte_identical": identical,
    }


# --- issue 3: what the checks cost -----------------------------------------------------------

CHECK_PHOTOS = ("astronaut", "rocket", "chelsea", "coffee")  # scikit-image's photographs


def checks_cost(template: Template, profiles: ProfileLibrary, tables: ConversionTables,
                others: tuple[Template, ...], pairs: int) -> dict[str, Any]:  # fmt: skip
    """Every check of a job (content analysis, colour measurement, the check table) on one
    thread, against a plain ImageCms conversion of the same canvas.

    Measured in pairs, one right after the other, and compared pair by pair: a slow spell of
    this noisy machine then slows both sides of a pair instead of one side of the ratio.
    Reported per photograph as medians; the worst photograph decides.
    """
    from skimage import data

    plain = plain_transform(profiles.get("chemical-proof").data)
    size = SIZES["M"]  # 2400x3000: the iPad template's recommended minimum
    photos: dict[str, Any] = {}
    for name in CHECK_PHOTOS:
        image = Image.fromarray(getattr(data, name)()).convert("RGB")
        encoded = io.BytesIO()
        image.resize(size, Image.Resampling.BICUBIC).save(encoded, format="JPEG", quality=92)
        canvas = image.resize(template.canvas_size_px, Image.Resampling.BICUBIC)
        job = ours(encoded.getvalue(), f"{name}.jpg", template, profiles, tables, others,
                   threads=1, pictures=False)  # fmt: skip
        job()  # warm-up
        checks_ms, conversion_ms, ratios = [], [], []
        for _ in range(pairs):
            steps = job()
            checks_ms.append(sum(steps.get(step, 0.0) for step in CHECK_STEPS))
            started = time.perf_counter()
            ImageCms.applyTransform(canvas, plain)
            conversion_ms.append((time.perf_counter() - started) * 1000)
            ratios.append(checks_ms[-1] / conversion_ms[-1])
        photos[name] = {
            "checks_ms": round(statistics.median(checks_ms), 1),
            "imagecms_ms": round(statistics.median(conversion_ms), 1),
            "ratio": round(statistics.median(ratios), 2),
            "ratio_range": [round(min(ratios), 2), round(max(ratios), 2)],
        }
    return {
        "template": template.id,
        "artwork_px": list(size),
        "pairs": pairs,
        "photos": photos,
        "worst_ratio": max(p["ratio"] for p in photos.values()),
    }


# --- the queue ----------------------------------------------------------------------------


# The queue's runs: worker processes and threads a job.
_QUEUE_RUNS = {"1_worker": (1, 1), "2_worker": (2, 1), "1_worker_2_threads": (1, 2)}


def queue_throughput(jobs: int, rounds: int) -> dict[str, Any]:
    """Jobs per minute through Celery on Redis with PostgreSQL records.

    Scaling is measured as deployed (one worker process per core, each job on one thread):
    1 and 2 worker processes with ``job_threads=1``, back to back in each of ``rounds``
    rounds (the order swapped every round, so that a slow spell of the machine does not fall
    on one side only); the figure is the median of the rounds' ratios. For comparison, once,
    1 worker process whose jobs use both cores (``job_threads=2``, the latency setting).
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' live service
    data = artwork(SIZES["S"], "jpeg")
    serials = itertools.count()
    per_minute: dict[str, list[float]] = {label: [] for label in _QUEUE_RUNS}
    ratios: list[float] = []
    for round_number in range(rounds):
        scaling = ("1_worker", "2_worker") if round_number % 2 == 0 else ("2_worker", "1_worker")
        for label in scaling:
            per_minute[label].append(_jobs_per_minute(data, jobs, label, serials))
        ratios.append(per_minute["2_worker"][-1] / per_minute["1_worker"][-1])
    per_minute["1_worker_2_threads"].append(
        _jobs_per_minute(data, jobs, "1_worker_2_threads", serials)
    )
    results: dict[str, Any] = {"jobs_per_run": jobs, "rounds": rounds}
    for label, (processes, threads) in _QUEUE_RUNS.items():
        results[label] = {
            "processes": processes,
            "job_threads": threads,
            "jobs_per_minute": round(statistics.median(per_minute[label]), 1),
            "runs_jobs_per_minute": [round(v, 1) for v in per_minute[label]],
        }
    results["round_ratios"] = [round(r, 2) for r in ratios]
    results["ratio"] = round(statistics.median(ratios), 2)
    return results


def _jobs_per_minute(data: bytes, jobs: int, label: str, serials: Iterator[int]) -> float:
    """One timed batch of ``jobs`` through a fresh service set up as ``label`` says."""
    processes, threads = _QUEUE_RUNS[label]
    from api.records import Job
    from tests.live import WorkerProcess, live_service

    with (
        tempfile.TemporaryDirectory() as tmp,
        live_service(
            "postgresql",
            Path(tmp),
            broker_url="redis://127.0.0.1:6379/14",
            queue_name=f"bench-{os.getpid()}-{label}-{next(serials)}",
            job_threads=threads,
            tables_dir=TABLES_DIR,
        ) as live,
    ):
        client = live.client("partner", "bench")
        upload = client.post("/v1/artworks", files={"file": ("a.jpg", data)})
        artwork_id = upload.json()["id"]
        workers = [
            WorkerProcess(live.settings, Path(tmp) / f"w{i}.log", 1).start()
            for i in range(processes)
        ]
        try:
            # Warm up: every worker process has loaded its libraries and mapped the table.
            warm = [_submit(client, artwork_id, next(serials)) for _ in range(2 * processes)]
            _wait_done(live, Job, warm)
            started = time.time()
            ids = [_submit(client, artwork_id, next(serials)) for _ in range(jobs)]
            # From the first submission to the last job's own finishing time in the records
            # (same clock): how often this loop looks would otherwise add to the figure.
            elapsed = _wait_done(live, Job, ids) - started
        finally:
            for worker in workers:
                worker.stop()
    return jobs / elapsed * 60


def _submit(client: Any, artwork_id: str, serial: int) -> str:
    # A distinct scale per job, so that no two jobs are the same request.
    scale = 1 + serial / 1e5
    answer = client.post(
        "/v1/jobs",
        json={"artwork_id": artwork_id, "template_id": "iphone-15",
              "placement": {"scale": scale}},
    )  # fmt: skip
    return str(answer.json()["id"])


def _wait_done(live: Any, job: Any, ids: list[str]) -> float:
    """Wait for every job to end; the time (``time.time()``) the last one finished."""
    while True:
        with live.db.session() as session:
            ended = session.query(job.status, job.finished_at).filter(job.id.in_(ids)).all()
        if sum(1 for status, _ in ended if status in ("done", "failed")) == len(ids):
            return float(max(finished.timestamp() for _, finished in ended))
        time.sleep(0.2)


# --- the run --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes S and M only, 1 repeat")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--no-queue", action="store_true", help="skip the queue throughput")
    parser.add_argument("--no-imagemagick", action="store_true")
    args = parser.parse_args(argv)
    prepare_job_process()  # as every process that runs jobs does (see preflight.runtime)
    prepare_compiled_code()  # as a worker does at start
    repeat = 1 if args.quick else args.repeat
    sizes = ("S", "M") if args.quick else tuple(SIZES)
    catalog = load_catalog()
    profiles = ProfileLibrary()
    output_icc = profiles.get("chemical-proof").data
    # As a worker has it: the default conversion's table mapped from the shared folder.
    tables = ConversionTables(TABLES_DIR)
    tables.prepare(None, profiles.get("chemical-proof"), ColorSettings())
    magick = None if args.no_imagemagick else magick_binary()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        srgb_path, output_path = tmp / "srgb.icc", tmp / "output.icc"
        srgb_path.write_bytes(srgb_profile_bytes())
        output_path.write_bytes(output_icc)
        for size_name in sizes:
            for kind in KINDS:
                data = artwork(SIZES[size_name], kind)
                suffix = ".jpg" if kind == "jpeg" else ".png"
                path = tmp / f"art-{size_name}-{kind}{suffix}"
                path.write_bytes(data)
                for template_id in TEMPLATES:
                    template = catalog.get(template_id)
                    others = tuple(t for t in catalog if t.id != template_id)
                    pipelines: dict[str, Callable[[], Any]] = {
                        "ours": ours(data, path.name, template, profiles, tables, others),
                        # The same job on one thread: what a worker process per core runs.
                        "ours_1_thread": ours(
                            data, path.name, template, profiles, tables, others, threads=1
                        ),
                        "pillow": pillow(data, template, output_icc),
                        "floor": floor(data, template, output_icc),
                    }
                    if magick:
                        pipelines["imagemagick"] = imagemagick(
                            magick, path, template, srgb_path, output_path, tmp / "magick.tif"
                        )
                    row: dict[str, Any] = {
                        "input": f"{SIZES[size_name][0]}x{SIZES[size_name][1]} {kind}",
                        "input_mb": round(len(data) / 1e6, 1),
                        "template": template_id,
                        "decoded_mb": round(
                            SIZES[size_name][0] * SIZES[size_name][1]
                            * (4 if kind == "png-alpha" else 3) / 1e6, 1),
                    }  # fmt: skip
                    for work in pipelines.values():
                        work()  # warm-up: caches, page faults, lazy imports
                    # Taken in turns, one run of each pipeline a round: a slow spell of the
                    # machine then slows every side of a ratio, not the one measured in it.
                    runs: dict[str, list[Run]] = {name: [] for name in pipelines}
                    for _ in range(repeat):
                        for name, work in pipelines.items():
                            runs[name].append(measure(work))
                    for name, measured in runs.items():
                        row[name] = summary(measured)
                    row["ours"]["peak_mb"] = job_peak_mb(path, template_id)
                    rows.append(row)
                    print(_line(row), flush=True)
    conversions = [
        conversion(catalog.get(t), profiles, tables, max(5, repeat * 3)) for t in TEMPLATES
    ]
    ipad = catalog.get("ipad-10")
    checks = checks_cost(ipad, profiles, tables, tuple(t for t in catalog if t.id != ipad.id),
                         pairs=3 if args.quick else 7)  # fmt: skip
    queue = None
    if not args.no_queue:
        try:
            queue = queue_throughput(16 if args.quick else 60, rounds=1 if args.quick else 3)
        except Exception as exc:  # no Redis or PostgreSQL here: say so, do not fail the run
            queue = {"skipped": f"{type(exc).__name__}: {exc}"}
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "repeat": repeat,
        "rows": rows,
        "conversion": conversions,
        "checks_cost": checks,
        "queue": queue,
        "targets": targets(rows, conversions, checks, queue),
    }
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
        print(f"\nwritten: {args.json}")
    return 0


def _line(row: dict[str, Any]) -> str:
    parts = [f"{row['input']:<22} {row['template']:<10}"]
    for name in ("ours", "ours_1_thread", "pillow", "imagemagick", "floor"):
        if name in row:
            parts.append(f"{name} {row[name]['median_s'] * 1000:7.0f} ms")
    parts.append(f"peak {row['ours']['peak_mb']:.0f} MB")
    return "  ".join(parts)


def targets(rows: list[dict[str, Any]], conversions: list[dict[str, Any]],
            checks: dict[str, Any], queue: dict[str, Any] | None,
            ) -> list[dict[str, Any]]:  # fmt: skip
    """Each target, its worst case over the inputs, and whether it is met."""
    out: list[dict[str, Any]] = []

    def ratio(row: dict[str, Any], a: str, b: str) -> float:
        return float(row[b]["median_s"] / row[a]["median_s"])

    worst_pillow = min(ratio(r, "ours", "pillow") for r in rows)
    out.append({"target": "full job ≥1.5x faster than the Pillow pipeline",
                "worst": round(worst_pillow, 2), "met": worst_pillow >= 1.5})  # fmt: skip
    magick = [ratio(r, "ours", "imagemagick") for r in rows if "imagemagick" in r]
    if magick:
        out.append({"target": "full job ≥5x faster than ImageMagick",
                    "worst": round(min(magick), 2), "met": min(magick) >= 5})  # fmt: skip
    over_floor = max(r["ours"]["median_s"] / r["floor"]["median_s"] for r in rows)
    out.append({"target": "full job ≤2x the floor (decode + write)",
                "worst": round(over_floor, 2), "met": over_floor <= 2})  # fmt: skip
    speedup = min(c["speedup"] for c in conversions)
    identical = all(c["byte_identical"] for c in conversions)
    out.append({"target": "CMYK conversion ≥4x a plain ImageCms transform, byte-identical",
                "worst": speedup, "met": speedup >= 4 and identical})  # fmt: skip
    # Issue 3: every check (content analysis and colour measurement included) on an iPad
    # canvas, one thread, against a plain LittleCMS conversion of the same canvas.
    out.append({"target": "all checks on an iPad canvas < a plain ImageCms conversion of it",
                "worst": checks["worst_ratio"], "met": checks["worst_ratio"] < 1})  # fmt: skip
    memory = max(r["ours"]["peak_mb"] - (2 * r["decoded_mb"] + 150) for r in rows)
    out.append({"target": "peak memory ≤ 2x decoded artwork + 150 MB",
                "worst_excess_mb": round(memory, 1), "met": memory <= 0})  # fmt: skip
    if queue and "ratio" in queue:
        out.append({"target": "2 workers ≥1.8x the throughput of 1",
                    "worst": queue["ratio"], "met": queue["ratio"] >= 1.8})  # fmt: skip
    return out


def print_report(report: dict[str, Any]) -> None:
    print("\nfull job vs baselines (medians; ratios = baseline time / our time)")
    print(f"{'input':<22} {'template':<10} {'ours ms':>8} {'spread':>13} {'1 thread':>8} "
          f"{'pillow':>7} {'magick':>7} {'floor':>7} {'peak MB':>8} {'limit MB':>8}")  # fmt: skip
    for row in report["rows"]:
        ours_row = row["ours"]
        magick = (f"{row['imagemagick']['median_s'] / ours_row['median_s']:6.2f}x"
                  if "imagemagick" in row else "    n/a")  # fmt: skip
        print(
            f"{row['input']:<22} {row['template']:<10} {ours_row['median_s'] * 1000:8.0f} "
            f"{ours_row['min_s'] * 1000:6.0f}-{ours_row['max_s'] * 1000:<6.0f} "
            f"{row['ours_1_thread']['median_s'] * 1000:8.0f} "
            f"{row['pillow']['median_s'] / ours_row['median_s']:6.2f}x {magick} "
            f"{ours_row['median_s'] / row['floor']['median_s']:6.2f}x "
            f"{ours_row['peak_mb']:8.0f} {2 * row['decoded_mb'] + 150:8.0f}"
        )
    print("\ntime per step, ms (median)")
    steps = list(report["rows"][0]["ours"]["steps_ms"])
    print(f"{'input':<22} {'template':<10} " + " ".join(f"{s[:8]:>8}" for s in steps))
    for row in report["rows"]:
        values = row["ours"]["steps_ms"]
        print(f"{row['input']:<22} {row['template']:<10} "
              + " ".join(f"{values.get(s, 0):8.0f}" for s in steps))  # fmt: skip
    print("\nCMYK conversion step")
    for c in report["conversion"]:
        print(f"  {c['template']}: ours {c['ours_mpx_s']} MP/s, ImageCms {c['imagecms_mpx_s']} "
              f"MP/s ({c['speedup']}x), byte-identical: {c['byte_identical']}")  # fmt: skip
    checks = report["checks_cost"]
    print(f"\nall checks (one thread) vs a plain ImageCms conversion, {checks['template']} canvas "
          f"from {checks['artwork_px'][0]}x{checks['artwork_px'][1]} JPEG, medians of "
          f"{checks['pairs']} back-to-back pairs (target: ratio < 1)")  # fmt: skip
    for name, photo in checks["photos"].items():
        print(f"  {name:<10} checks {photo['checks_ms']:6.0f} ms  ImageCms "
              f"{photo['imagecms_ms']:6.0f} ms  ratio {photo['ratio']:.2f} "
              f"(pairs {photo['ratio_range'][0]:.2f}-{photo['ratio_range'][1]:.2f})")  # fmt: skip
    queue = report["queue"]
    print("\nqueue (Celery on Redis, PostgreSQL records)")
    if queue is None or "skipped" in queue:
        print(f"  skipped: {'--no-queue' if queue is None else queue['skipped']}")
    else:
        print(f"  {queue['jobs_per_run']} jobs a run; 1 and 2 workers back to back in "
              f"{queue['rounds']} round(s)")  # fmt: skip
        for label in _QUEUE_RUNS:
            processes, threads = queue[label]["processes"], queue[label]["job_threads"]
            title = (f"{processes} worker{'s' * (processes > 1)}, "
                     f"{threads} thread{'s' * (threads > 1)} a job")  # fmt: skip
            runs = ", ".join(f"{v:.0f}" for v in queue[label]["runs_jobs_per_minute"])
            print(f"  {title:<27} {queue[label]['jobs_per_minute']:6.0f} jobs/min "
                  f"(runs: {runs})")  # fmt: skip
        print(
            f"  2 workers / 1 worker: {queue['ratio']:.2f}x, median of the rounds' ratios "
            f"({', '.join(f'{r:.2f}' for r in queue['round_ratios'])}); target >= 1.8x"
        )
    print("\ntargets")
    for t in report["targets"]:
        figure = t.get("worst", t.get("worst_excess_mb"))
        print(f"  [{'met' if t['met'] else 'NOT met'}] {t['target']}: worst {figure}")


if __name__ == "__main__":
    sys.exit(main())
