"""The ``preflight`` command as a user runs it: a real process, exit codes, stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.evaluation.cases import background
from tests.imaging import encode, photo, png_header_only

PREFLIGHT = [sys.executable, "-m", "preflight.cli"]


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PREFLIGHT, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


@pytest.fixture(scope="module")
def good_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A real photograph (grass, from scikit-image) with nothing important in it: it passes.
    path = tmp_path_factory.mktemp("art") / "grass.jpg"
    background("grass", (1200, 2400)).save(path, quality=92)
    return path


def test_check_writes_report_and_print_file(good_photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("check", good_photo, "--template", "iphone-15", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "PASS" in result.stdout and "ppi" in result.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["schema"] == "preflight-report/1"
    assert report["status"] == "pass"
    assert set(report["timings_ms"]) >= {"load", "place", "convert", "encode", "total"}
    assert report["outputs"]["print.tif"]["path"] == str(out / "print.tif")
    with Image.open(out / "print.tif") as tiff:
        assert tiff.mode == "CMYK"
    assert not list(out.glob(".*.tmp")), "atomic writes leave no temporary files"


def test_check_json_and_sku_and_placement(good_photo: Path) -> None:
    result = run(
        "check",
        good_photo,
        "--sku",
        "PC-IPHONE15-CLEAR",
        "--rotate",
        "90",
        "--scale",
        "1.2",
        "--center",
        "0.4,0.6",
        "--fit",
        "contain",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["template"]["id"] == "iphone-15-clear"
    assert report["placement"]["rotate_deg"] == 90
    assert report["placement"]["center"] == [0.4, 0.6]
    assert report["placement"]["fit"] == "contain"


def test_low_resolution_warns_but_exits_zero(tmp_path: Path) -> None:
    small = tmp_path / "small.png"
    photo((500, 1000)).save(small)
    result = run("check", small, "--template", "iphone-15", "--json")
    assert result.returncode == 0
    codes = [f["code"] for f in json.loads(result.stdout)["findings"]]
    assert "low-resolution" in codes


@pytest.mark.parametrize(
    ("content", "name", "code"),
    [
        (b"", "empty.png", "corrupt-image"),
        (b"GIF89a" + b"\x00" * 100, "disguised.png", "unsupported-format"),
        (png_header_only(100_000, 100_000), "bomb.png", "image-too-large"),
        (None, "truncated.jpg", "corrupt-image"),
    ],
)
def test_unusable_input_exits_2_with_a_clear_message(
    tmp_path: Path, content: bytes | None, name: str, code: str
) -> None:
    path = tmp_path / name
    if content is None:
        content = encode(photo((300, 300)), "JPEG")[:2000]
    path.write_bytes(content)
    out = tmp_path / "out"
    result = run("check", path, "--template", "iphone-15", "--out", out)
    assert result.returncode == 2
    assert f"[{code}]" in result.stderr and name in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists(), "a refused input changes nothing"


def test_oversized_file_exits_2(tmp_path: Path, good_photo: Path) -> None:
    env = {"PREFLIGHT_MAX_FILE_BYTES": "1000", "PATH": "/usr/bin:/bin"}
    result = run("check", good_photo, "--template", "iphone-15", env=env)
    assert result.returncode == 2
    assert "[file-too-large]" in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--template", "iphone-99"], "[unknown-template]"),
        (["--sku", "NOPE-1"], "[unknown-sku]"),
        (["--template", "iphone-15", "--center", "2,0.5"], "[invalid-placement]"),
        (["--template", "iphone-15", "--scale", "0"], "[invalid-placement]"),
        (["--template", "iphone-15", "--profile", "missing"], "[unknown-profile]"),
        (["--template", "iphone-15", "--center", "middle"], "X,Y"),
        (["--template", "iphone-15", "--intent", "vivid"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2(good_photo: Path, args: list[str], expected: str) -> None:
    result = run("check", good_photo, *args)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_and_bad_settings_exit_2(tmp_path: Path, good_photo: Path) -> None:
    result = run("check", tmp_path / "nope.png", "--template", "iphone-15")
    assert result.returncode == 2 and "no such file" in result.stderr
    env = {"PREFLIGHT_MAX_PIXELS": "-5", "PATH": "/usr/bin:/bin"}
    result = run("check", good_photo, "--template", "iphone-15", env=env)
    assert result.returncode == 2 and "PREFLIGHT_MAX_PIXELS" in result.stderr


def test_templates_json_lists_every_field() -> None:
    result = run("templates", "--json")
    assert result.returncode == 0
    rows = json.loads(result.stdout)
    assert len({r["device"] for r in rows}) >= 24
    ipad = next(r for r in rows if r["id"] == "ipad-10")
    assert ipad["canvas_px"]["width"] > 2000
    assert ipad["min_artwork_px"] == {"width": 2400, "height": 3000}
    text = run("templates")
    assert "iphone-15-pro-max" in text.stdout and "templates" in text.stdout


def test_template_guides_png_and_svg(tmp_path: Path) -> None:
    png, svg = tmp_path / "guide.png", tmp_path / "guide.svg"
    assert run("template-guide", "galaxy-s24-ultra", "--out", png).returncode == 0
    assert run("template-guide", "galaxy-s24-ultra", "--out", svg).returncode == 0
    with Image.open(png) as guide:
        assert guide.size == (1032, 2016)
        assert guide.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    text = svg.read_text()
    assert 'width="87.400mm"' in text and 'id="cutout-0"' in text and 'id="safe"' in text
    bad = run("template-guide", "iphone-15", "--out", tmp_path / "guide.pdf")
    assert bad.returncode == 2 and ".png or .svg" in bad.stderr


def test_profiles_lists_the_default() -> None:
    result = run("profiles", "--json")
    assert result.returncode == 0
    assert [p["name"] for p in json.loads(result.stdout)["profiles"]] == ["chemical-proof"]
