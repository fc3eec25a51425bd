"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest
from nightly_support import NightlyDrops, build_nightly_drops, shared_directory

from middlestep import pipeline
from middlestep.warehouse import PROJECT_ROOT, Home

CHICAGO_DATA = PROJECT_ROOT / "data" / "chicago_pj"


@pytest.fixture(scope="session")
def chicago_home(tmp_path_factory) -> Home:
    """The Chicago roll-out (data/chicago_pj/) ingested through departments/chicago.yaml, built
    and gated once per session; the tests that use it share one xdist worker (xdist_group
    "chicago")."""
    home = Home.resolve(tmp_path_factory.mktemp("chicago") / "home")
    pipeline.ingest(home, CHICAGO_DATA, "chicago")
    pipeline.build(home)
    pipeline.check(home)
    return home


@pytest.fixture(scope="session")
def nightly_drops(tmp_path_factory, request) -> NightlyDrops:
    """Two nightly drops of a small synthetic department, each run cleanly once per session
    (tests/nightly_support.py)."""
    return build_nightly_drops(shared_directory(tmp_path_factory, request, "nightly-drops"))
