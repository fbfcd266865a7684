"""Architecture, enforced: which package may import what, and who reads the environment."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIXEL_LIBRARIES = {"PIL", "numpy", "skimage"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("package", ["api", "worker"])
def test_api_and_worker_never_touch_pixels(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        touched = {name.split(".")[0] for name in _imports(path)} & PIXEL_LIBRARIES
        assert not touched, f"{path.relative_to(ROOT)} imports {touched}"


def test_only_the_color_module_imports_imagecms() -> None:
    for path in (ROOT / "preflight").rglob("*.py"):
        if path.name == "color.py":
            continue
        assert "PIL.ImageCms" not in _imports(path), path.name


def test_the_library_never_imports_the_service_layers() -> None:
    for path in (ROOT / "preflight").rglob("*.py"):
        roots = {name.split(".")[0] for name in _imports(path)}
        assert not roots & {"api", "worker", "fastapi", "celery"}, path.name


def test_only_settings_reads_the_environment() -> None:
    for path in (ROOT / "preflight").rglob("*.py"):
        if path.name == "settings.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert "os.environ" not in text and "getenv" not in text, path.name
