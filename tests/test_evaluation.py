"""The evaluation set as a regression guard (a deterministic third of it; the full set and
its figures: ``./dev evaluate``)."""

from __future__ import annotations

from preflight.templates import Catalog
from tests.evaluation.evaluate import FALSE_ALARM_TARGET, RECALL_TARGET, evaluate


def test_checks_meet_their_targets_on_the_evaluation_set(catalog: Catalog) -> None:
    scores = evaluate(catalog, every=3)
    assert scores.clean >= 20 and sum(scores.totals.values()) >= 25
    assert scores.false_alarm_rate <= FALSE_ALARM_TARGET, scores.false_alarms
    for code in scores.totals:
        assert scores.recall(code) >= RECALL_TARGET, (code, scores.recall(code), scores.misses)
