"""Where the shipped data folders live, in a source checkout and in an installed wheel.

The wheel carries the repository's top-level ``templates/`` and ``profiles/`` inside the package
as ``preflight/_data/…`` (see ``pyproject.toml``); a checkout or editable install reads them from
the repository root. Nothing here reads the environment: callers pass other folders explicitly.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["default_profiles_dir", "default_templates_dir"]

_PACKAGE_DIR = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    installed = _PACKAGE_DIR / "_data" / name
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / name


def default_templates_dir() -> Path:
    """The device template catalog shipped with the package."""
    return _data_dir("templates")


def default_profiles_dir() -> Path:
    """The ICC profiles shipped with the package."""
    return _data_dir("profiles")
