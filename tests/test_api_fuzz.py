"""Schema-driven fuzzing of the HTTP API (schemathesis) against its own OpenAPI document:
thousands of generated requests, valid and invalid, and not one may get a 500."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.live import live_service

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@pytest.mark.parametrize("role", ["admin", "partner"])
def test_fuzzing_finds_no_server_errors(role: str, tmp_path: Path) -> None:
    with live_service("sqlite", tmp_path) as service:
        key = service.key(role, "acme" if role == "partner" else None)
        result = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                f"{service.base_url}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--header",
                f"Authorization: Bearer {key}",
                "--max-examples",
                "15",
                "--workers",
                "1",  # hypothesis's lambda introspection is not thread-safe on Python 3.11
                "--seed",
                "20261122",
                "--request-timeout",
                "30",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in result.stdout
