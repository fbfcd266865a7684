"""The evaluation set as a regression guard (a deterministic third of it; the full set and
its figures: ``./dev evaluate``)."""

from __future__ import annotations

from preflight.templates import Catalog
from tests.evaluation.evaluate import FALSE_ALARM_TARGET, RECALL_TARGET, evaluate

# Known gap, measured on the full set: text on grey, busy textures (grass, gravel, brick) is
# not found, so the two content codes stay below the 95 % target. Floors, not goals: they
# fail the suite if detection gets worse.
KNOWN_GAPS = {"content-in-cutout": 0.75, "content-near-edge": 0.70}


def test_checks_meet_their_targets_on_the_evaluation_set(catalog: Catalog) -> None:
    scores = evaluate(catalog, every=3)
    assert scores.clean >= 20 and sum(scores.totals.values()) >= 25
    assert scores.false_alarm_rate <= FALSE_ALARM_TARGET, scores.false_alarms
    for code in scores.totals:
        floor = KNOWN_GAPS.get(code, RECALL_TARGET)
        assert scores.recall(code) >= floor, (code, scores.recall(code), scores.misses)
