"""The ``preflight`` command line.

Exit codes: 0 when no finding is an error, 1 when one is, 2 when the input or the arguments
could not be evaluated (a typed error, printed as one sentence on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from preflight.checks import CheckConfig
from preflight.color import ColorSettings, ProfileLibrary, RenderingIntent
from preflight.content import prepare_detectors
from preflight.errors import PreflightError
from preflight.fileio import write_atomically
from preflight.geometry import Placement
from preflight.job import JobRequest, run_job
from preflight.loading import LoadLimits
from preflight.runtime import prepare_job_process
from preflight.settings import Settings
from preflight.templates import Template, load_catalog

__all__ = ["EXIT_OK", "EXIT_UNUSABLE", "Command", "main"]

EXIT_OK, EXIT_FINDING_ERROR, EXIT_UNUSABLE = 0, 1, 2


class _UsageError(Exception):
    """A bad argument found after parsing (argparse's own errors exit 2 by themselves)."""


def _parse_center(text: str) -> tuple[float, float]:
    try:
        x, y = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not X,Y (two numbers 0–1, e.g. 0.5,0.5)"
        ) from None
    return (x, y)


@dataclass(frozen=True)
class Command:
    """A subcommand added by an outer layer (the service adds ``serve``, ``keys``, ...), so
    one ``preflight`` command serves both while this library never imports the service."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Settings], int]


def _build_parser(extra: Sequence[Command] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="preflight",
        description="Preflight artwork for printed phone and tablet cases and make the CMYK "
        "print file.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser("check", help="check an artwork and write the print file")
    check.add_argument("artwork", type=Path, help="PNG, JPEG or TIFF artwork")
    target = check.add_mutually_exclusive_group(required=True)
    target.add_argument("--template", metavar="ID", help="template id, e.g. iphone-15")
    target.add_argument("--sku", help="product SKU, resolved to its template")
    check.add_argument("--fit", choices=("cover", "contain"), default="cover")
    check.add_argument(
        "--rotate", type=float, default=0.0, metavar="DEG", help="rotation in degrees, clockwise"
    )
    check.add_argument(
        "--scale", type=float, default=1.0, metavar="S", help="size relative to the fit (default 1)"
    )
    check.add_argument(
        "--center",
        type=_parse_center,
        default=(0.5, 0.5),
        metavar="X,Y",
        help="artwork centre, 0–1 over the canvas (default 0.5,0.5)",
    )
    check.add_argument("--profile", metavar="NAME", help="output CMYK profile name")
    check.add_argument(
        "--intent",
        choices=[i.value for i in RenderingIntent],
        help="rendering intent (default relative)",
    )
    check.add_argument("--no-bpc", action="store_true", help="switch black point compensation off")
    check.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="folder for report.json and print.tif (default: no files)",
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")

    templates = sub.add_parser("templates", help="list the device templates")
    templates.add_argument("--json", action="store_true", help="every field, as JSON")

    guide = sub.add_parser("template-guide", help="write a template's designer guide")
    guide.add_argument("template", metavar="ID")
    guide.add_argument("--out", type=Path, required=True, metavar="FILE.png|FILE.svg")

    profiles = sub.add_parser("profiles", help="list the output profiles")
    profiles.add_argument("--json", action="store_true")
    for command in extra:
        command.add_arguments(sub.add_parser(command.name, help=command.help))
    return parser


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"PREFLIGHT_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        raise _UsageError(f"invalid configuration: {problems}") from exc


def _profiles(settings: Settings) -> ProfileLibrary:
    return ProfileLibrary([settings.profiles_dir] if settings.profiles_dir else [])


def _cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    catalog = load_catalog(settings.templates_dir)
    template = catalog.by_sku(args.sku) if args.sku else catalog.get(args.template)
    placement = Placement.parse(
        fit=args.fit, rotate_deg=args.rotate, scale=args.scale, center=args.center
    )
    color = ColorSettings(
        output_profile=args.profile or settings.output_profile,
        intent=RenderingIntent(args.intent) if args.intent else settings.intent,
        black_point_compensation=not args.no_bpc,
    )
    if not args.artwork.is_file():
        raise _UsageError(f"{args.artwork}: no such file")
    request = JobRequest(
        template=template,
        placement=placement,
        color=color,
        checks=CheckConfig(other_templates=tuple(t for t in catalog if t.id != template.id)),
        limits=LoadLimits(settings.max_file_bytes, settings.max_pixels),
        artwork_path=args.artwork,
        deadline_s=settings.job_deadline_s,
        threads=settings.job_threads,
    )
    # One job in a new process: the face search loads (~0.4 s) while the artwork is read and
    # placed instead of after (started once the arguments are known to be good, so a usage
    # error exits at once). The job converts with LittleCMS directly, without the exact
    # tables that serve long-lived workers: mapping a 64 MiB table (or building it, ~1 s)
    # costs more than converting one canvas (iPad: 0.25 s against 0.8 s; the same bytes).
    threading.Thread(target=prepare_detectors, name="preflight-detectors", daemon=True).start()
    result = run_job(request, _profiles(settings))
    report = result.report
    if args.out:
        report["outputs"] = {
            name: {**meta, "path": str(args.out / name)} for name, meta in report["outputs"].items()
        }
        for name, data in result.files.items():
            write_atomically(args.out / name, data)
        write_atomically(
            args.out / "report.json", (json.dumps(report, indent=2) + "\n").encode("utf-8")
        )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_summary(report, args.out)
    return EXIT_FINDING_ERROR if report["status"] == "fail" else EXIT_OK


def _print_summary(report: dict[str, Any], out: Path | None) -> None:
    art, tpl, place = report["artwork"], report["template"], report["placement"]
    print(f"{report['status'].upper()}  {art['file']} → {tpl['id']} ({tpl['name']})")
    print(
        f"  artwork   {art['format']} {art['width_px']}×{art['height_px']} px, {art['mode']}, "
        f"profile: {art['color_profile']['description'] or art['color_profile']['source']}"
    )
    print(
        f"  canvas    {tpl['canvas_px']['width']}×{tpl['canvas_px']['height']} px at "
        f"{tpl['print_dpi']} dpi (trim {tpl['trim_mm']['width']}×{tpl['trim_mm']['height']} mm"
        f" + {tpl['bleed_mm']} mm bleed)"
    )
    print(
        f"  placement {place['fit']}, rotate {place['rotate_deg']}°, scale {place['scale']}, "
        f"effective {place['effective_ppi']} ppi (print {tpl['print_dpi']} dpi)"
    )
    for finding in report["findings"]:
        print(f"  [{finding['severity']}] {finding['code']}: {finding['message']}")
    if not report["findings"]:
        print("  no findings")
    if out:
        print(f"  wrote {', '.join(sorted([*report['outputs'], 'report.json']))} to {out}")
    print(f"  took {report['timings_ms']['total']:.0f} ms")


def _cmd_templates(args: argparse.Namespace, settings: Settings) -> int:
    catalog = load_catalog(settings.templates_dir)
    if args.json:
        print(json.dumps([t.to_dict() for t in catalog], indent=2))
        return EXIT_OK
    print(
        f"{'ID':<26} {'FAMILY':<8} {'SUBSTRATE':<9} {'MODE':<9} {'CANVAS PX':>11}  "
        f"{'MIN ARTWORK':>11}  SKUS"
    )
    for t in catalog:
        w, h = t.canvas_size_px
        print(
            f"{t.id:<26} {t.family:<8} {t.substrate:<9} {t.print_mode:<9} {f'{w}×{h}':>11}  "
            f"{f'{t.min_artwork_px.width}×{t.min_artwork_px.height}':>11}  {' '.join(t.skus)}"
        )
    print(f"{len(catalog)} templates")
    return EXIT_OK


def _cmd_template_guide(args: argparse.Namespace, settings: Settings) -> int:
    from preflight.guide import render_guide_png, render_guide_svg

    template: Template = load_catalog(settings.templates_dir).get(args.template)
    suffix = args.out.suffix.lower()
    if suffix == ".png":
        data = render_guide_png(template)
    elif suffix == ".svg":
        data = render_guide_svg(template)
    else:
        raise _UsageError(f"{args.out}: the guide is written as .png or .svg")
    write_atomically(args.out, data)
    w, h = template.canvas_size_px
    print(f"wrote {args.out} ({template.id}: {w}×{h} px at {template.print_dpi} dpi)")
    return EXIT_OK


def _cmd_profiles(args: argparse.Namespace, settings: Settings) -> int:
    library = _profiles(settings)
    rows = [p.to_dict() for p in library]
    rejected = [{"file": str(r.path), "reason": r.reason} for r in library.rejected]
    if args.json:
        print(json.dumps({"profiles": rows, "rejected": rejected}, indent=2))
        return EXIT_OK
    for row in rows:
        default = " (default)" if row["name"] == settings.output_profile else ""
        print(f"{row['name']:<24} {row['description']}{default}")
    for r in rejected:
        print(f"rejected: {r['file']}: {r['reason']}", file=sys.stderr)
    return EXIT_OK


_COMMANDS = {
    "check": _cmd_check,
    "templates": _cmd_templates,
    "template-guide": _cmd_template_guide,
    "profiles": _cmd_profiles,
}


def main(argv: Sequence[str] | None = None, extra: Sequence[Command] = ()) -> int:
    """Run the command line; ``extra`` adds an outer layer's subcommands."""
    args = _build_parser(extra).parse_args(argv)
    prepare_job_process()  # before any job thread starts (see preflight.runtime)
    commands = {**_COMMANDS, **{command.name: command.run for command in extra}}
    try:
        return commands[args.command](args, _settings())
    except PreflightError as exc:
        print(f"preflight: error [{exc.code}]: {exc.message}", file=sys.stderr)
        return EXIT_UNUSABLE
    except _UsageError as exc:
        print(f"preflight: error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except BrokenPipeError:  # `preflight templates | head`
        return EXIT_OK
    except OSError as exc:  # e.g. --out folder not writable
        print(f"preflight: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_UNUSABLE


if __name__ == "__main__":
    sys.exit(main())
