"""Per-code recall and false-alarm rate of the checks on the labelled evaluation set.

    python -m tests.evaluation.evaluate [--every N] [--json FILE] [--no-photographs]

Targets (issue 3): recall ≥ 95 % for every partner-mistake code, false alarms ≤ 2 % of clean
artwork, and a content finding's region overlapping the planted mistake. Beside them (not in
the targets): the recall on a stretch tier of harder planted content (``Case.stretch``), and
the warnings raised on real photographs placed full-bleed, each with the verdict it was given
when looked at (``PHOTOGRAPH_REVIEW``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from preflight.checks import CheckConfig
from preflight.color import ProfileLibrary
from preflight.job import JobRequest, run_job
from preflight.templates import Catalog, load_catalog
from tests.evaluation.cases import (
    PHOTOGRAPH_REVIEW,
    Case,
    clean_case_makers,
    mistake_case_makers,
    photograph_case_makers,
)

RECALL_TARGET = 0.95
FALSE_ALARM_TARGET = 0.02
REGION_CODES = {"content-in-cutout", "content-near-edge"}


def _share(hits: int, total: int) -> float:
    """Recall of ``hits`` out of ``total`` planted cases (1.0 when none were planted)."""
    return hits / total if total else 1.0


@dataclass
class Scores:
    hits: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    totals: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    region_misses: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    clean: int = 0
    false_alarms: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    # The stretch tier (Case.stretch): harder planted content, reported beside the targets.
    stretch_hits: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    stretch_totals: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    stretch_misses: list[str] = field(default_factory=list)
    photographs: int = 0
    photograph_warnings: list[str] = field(default_factory=list)
    # Placements with at least one warning judged wrong / not yet reviewed (PHOTOGRAPH_REVIEW).
    photographs_wrong: int = 0
    photographs_unreviewed: int = 0
    seconds: float = 0.0

    def recall(self, code: str) -> float:
        return _share(self.hits[code], self.totals[code])

    def stretch_recall(self, code: str) -> float:
        return _share(self.stretch_hits[code], self.stretch_totals[code])

    @property
    def false_alarm_rate(self) -> float:
        return len(self.false_alarms) / self.clean if self.clean else 0.0

    def meets_targets(self) -> bool:
        return all(self.recall(c) >= RECALL_TARGET for c in self.totals) and (
            self.false_alarm_rate <= FALSE_ALARM_TARGET
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "recall": {c: round(self.recall(c), 3) for c in sorted(self.totals)},
            "cases": dict(self.totals),
            "region_misses": dict(self.region_misses),
            "clean_cases": self.clean,
            "false_alarm_rate": round(self.false_alarm_rate, 4),
            "false_alarms": self.false_alarms,
            "misses": self.misses,
            "stretch_recall": {
                c: round(self.stretch_recall(c), 3) for c in sorted(self.stretch_totals)
            },
            "stretch_cases": dict(self.stretch_totals),
            "stretch_misses": self.stretch_misses,
            "photographs": self.photographs,
            "photograph_warnings": self.photograph_warnings,
            "photographs_with_a_wrong_warning": self.photographs_wrong,
            "photographs_with_an_unreviewed_warning": self.photographs_unreviewed,
            "seconds": round(self.seconds, 1),
        }


def _overlaps(region: dict[str, list[float]] | None, case: Case) -> bool:
    if case.planted is None or region is None:
        return True
    x, y, w, h = region["px"]
    p = case.planted
    return x < p.right and p.x < x + w and y < p.bottom and p.y < y + h


def _verdict(review: tuple[bool, str] | None) -> str:
    if review is None:
        return "not reviewed"
    right, what = review
    return f"{'right' if right else 'wrong'}: {what}"


def evaluate(catalog: Catalog, every: int = 1, photographs: bool = False) -> Scores:
    profiles = ProfileLibrary()
    scores = Scores()
    started = time.perf_counter()
    makers = list(clean_case_makers(catalog)) + list(mistake_case_makers(catalog))
    if photographs:
        makers += list(photograph_case_makers(catalog))
    for make in makers[::every]:
        case = make()
        template = catalog.get(case.template_id)
        others = tuple(t for t in catalog if t.id != template.id)
        report = run_job(
            JobRequest(
                template=template,
                artwork_bytes=case.data,
                artwork_name=case.name,
                placement=case.placement,
                checks=CheckConfig(other_templates=others),
                pictures=False,  # the evaluation measures findings only
            ),
            profiles,
        ).report
        findings = report["findings"]
        raised = {f["code"] for f in findings if f["severity"] != "info"}
        produced = {f["code"] for f in findings}
        if not case.labelled:
            scores.photographs += 1
            photo = case.name.rsplit("/", 1)[-1]
            verdicts = {code: PHOTOGRAPH_REVIEW.get((photo, code)) for code in sorted(raised)}
            if raised:
                scores.photograph_warnings.append(
                    f"{case.name}: "
                    + "; ".join(f"{code} ({_verdict(v)})" for code, v in verdicts.items())
                )
            scores.photographs_wrong += any(v is not None and not v[0] for v in verdicts.values())
            scores.photographs_unreviewed += any(v is None for v in verdicts.values())
            continue
        if not case.expected:
            scores.clean += 1
            if raised:
                scores.false_alarms.append(f"{case.name}: {sorted(raised)}")
            continue
        totals, hits = scores.totals, scores.hits
        misses = scores.misses
        if case.stretch:
            totals, hits, misses = scores.stretch_totals, scores.stretch_hits, scores.stretch_misses
        for code in case.expected:
            totals[code] += 1
            matching = [f for f in findings if f["code"] == code]
            if code in produced and (
                code not in REGION_CODES or any(_overlaps(f["region"], case) for f in matching)
            ):
                hits[code] += 1
            else:
                if matching and not case.stretch:
                    scores.region_misses[code] += 1
                misses.append(f"{case.name}: expected {code}, got {sorted(produced)}")
    scores.seconds = time.perf_counter() - started
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--every", type=int, default=1, help="evaluate every Nth case")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument(
        "--no-photographs", action="store_true", help="skip the real photographs (unlabelled)"
    )
    args = parser.parse_args(argv)
    scores = evaluate(load_catalog(), args.every, photographs=not args.no_photographs)
    print(f"{'code':<28} {'recall':>7} {'cases':>6}")
    for code in sorted(scores.totals):
        mark = "ok " if scores.recall(code) >= RECALL_TARGET else "LOW"
        print(f"{code:<28} {scores.recall(code):>7.1%} {scores.totals[code]:>6}  {mark}")
    print(
        f"\nfalse alarms on clean artwork: {len(scores.false_alarms)}/{scores.clean} = "
        f"{scores.false_alarm_rate:.1%} (target ≤ {FALSE_ALARM_TARGET:.0%})"
    )
    for line in scores.false_alarms + scores.misses:
        print(f"  {line}")
    if scores.stretch_totals:
        print(
            "\nstretch tier (not in the targets): the content kinds on the other backgrounds, "
            "and 10 mm designed marks (a flat badge, a one-colour star)"
        )
        for code in sorted(scores.stretch_totals):
            print(
                f"{code:<28} {scores.stretch_recall(code):>7.1%} "
                f"{scores.stretch_totals[code]:>6}"
            )
        for line in scores.stretch_misses:
            print(f"  {line}")
    if scores.photographs:
        print(
            f"\nreal photographs, full-bleed (not in the targets; warnings judged by eye, see "
            f"PHOTOGRAPH_REVIEW): warnings on {len(scores.photograph_warnings)}/"
            f"{scores.photographs}; a wrong one on {scores.photographs_wrong}, one not yet "
            f"reviewed on {scores.photographs_unreviewed}"
        )
        for line in scores.photograph_warnings:
            print(f"  {line}")
    print(
        f"\n{'targets met' if scores.meets_targets() else 'TARGETS NOT MET'} "
        f"({scores.seconds:.0f} s)"
    )
    if args.json:
        args.json.write_text(json.dumps(scores.to_dict(), indent=2) + "\n")
    return 0 if scores.meets_targets() else 1


if __name__ == "__main__":
    sys.exit(main())
