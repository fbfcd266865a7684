"""The wheel carries templates/ and profiles/: the installed command works from anywhere.

Builds the wheel without build isolation (hatchling is a dev dependency) and installs it into a
fresh virtual environment whose only view of the dev environment is its third-party packages,
so nothing is downloaded and the checkout's own files cannot leak in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.imaging import photo

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_installed_wheel_runs_a_check_from_any_directory(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(dist),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(dist.glob("*.whl"))
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # Third-party packages come from the dev environment (a .pth path line adds the folder
    # without running its .pth files, so the checkout's editable hook stays out).
    ask_site = "import sysconfig; print(sysconfig.get_path('purelib'))"
    fresh_site = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", ask_site],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    dev_site = sysconfig.get_path("purelib")
    (fresh_site / "_dev_dependencies.pth").write_text(dev_site + "\n")

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    artwork = workdir / "photo.jpg"
    photo((2400, 3000)).save(artwork, quality=90)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PREFLIGHT_"))}
    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import preflight, preflight.datapaths as d; print(preflight.__file__); "
            "print(d.default_templates_dir()); print(d.default_profiles_dir())",
        ],
        cwd=workdir,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split()
    assert all(str(venv) in line for line in where), where

    result = subprocess.run(
        [
            str(venv / "bin" / "preflight"),
            "check",
            "photo.jpg",
            "--template",
            "ipad-10",
            "--out",
            "out",
            "--json",
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["color"]["output_profile"] == "chemical-proof"
    assert (workdir / "out" / "print.tif").is_file()
    listing = subprocess.run(
        [str(venv / "bin" / "preflight"), "templates", "--json"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert {row["id"] for row in json.loads(listing.stdout)} >= {"iphone-15", "ipad-10"}
