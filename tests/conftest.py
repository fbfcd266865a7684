from __future__ import annotations

import pytest

from preflight.color import ProfileLibrary
from preflight.templates import Catalog, load_catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def profiles() -> ProfileLibrary:
    return ProfileLibrary()
