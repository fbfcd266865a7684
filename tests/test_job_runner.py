"""The job runner's memory contract: a large field lives only while a step that reads it is
pending or running, and a running step holds no large field it does not read."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest

import preflight.job as job_module
from preflight.color import ProfileLibrary
from preflight.job import JobRequest, Step, run_job
from preflight.templates import Catalog
from tests.imaging import encode, photo


@pytest.mark.parametrize(("template_id", "threads"), [("iphone-15-clear", 2), ("ipad-10", 1)])
def test_each_step_is_given_only_the_large_fields_it_reads(
    template_id: str,
    threads: int,
    catalog: Catalog,
    profiles: ProfileLibrary,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    large = set(job_module._READERS)
    given: dict[str, set[str]] = {}
    lock = threading.Lock()

    def recording(step: Step) -> Step:
        def run(state: Any) -> Any:
            held = {name for name in large if getattr(state, name) is not None}
            with lock:
                given[step.name] = held
            return step.run(state)

        return dataclasses.replace(step, run=run)

    monkeypatch.setattr(job_module, "STEPS", tuple(recording(s) for s in job_module.STEPS))
    request = JobRequest(
        template=catalog.get(template_id),
        artwork_bytes=encode(photo((600, 1200)), "PNG"),
        artwork_name="astronaut.png",
        threads=threads,
    )
    result = run_job(request, profiles)
    assert result.files  # the job ran to its end: every step found what it reads
    assert set(given) == {step.name for step in job_module.STEPS}
    for step_name, held in given.items():
        readers_of = {name for name in held if step_name in job_module._READERS[name]}
        assert held == readers_of, f"{step_name} was given {sorted(held - readers_of)}"
    # The fields a step reads did reach it (not dropped too early).
    assert "cmyk" in given["cut-print"] and "proof_print" in given["proof"]
    assert "coverage" in given["encode"] and "flat" in given["analyse"]
