from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from preflight.color import ConversionTables, ProfileLibrary
from preflight.templates import Catalog, load_catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def profiles() -> ProfileLibrary:
    return ProfileLibrary()


@pytest.fixture(scope="session", autouse=True)
def private_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The CLI and the workers keep conversion tables in the user's cache folder; the tests
    (and the commands they start, which inherit the environment) use one of their own."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(folder))
        yield folder


@pytest.fixture(scope="session")
def tables(private_cache_folder: Path) -> ConversionTables:
    """Exact conversion tables in the session's cache folder (built on first use)."""
    return ConversionTables(private_cache_folder / "case-preflight" / "tables")
