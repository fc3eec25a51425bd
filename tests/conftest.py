"""Fixtures shared by several test modules.

`chicago_home`: the real Chicago procedural-justice roll-out (data/chicago_pj/) ingested, built
and gated once per test session (two to three minutes), shared by every test of the Chicago
department; those tests live in `tests/test_chicago_*.py` and only read it (the report command
writes under its report directory, which is fine).

Under pytest-xdist (`make test`: `-n 2`) the default `load` distribution deals tests out one by
one, so both workers would build the Chicago warehouse, and both would set up a module's
expensive fixtures (the demo department, the gate's departments). The scheduler below deals out
whole modules instead, the Chicago modules as one unit that starts first (it is the longest; the
collection puts the Chicago tests first). (xdist's own
`--dist loadgroup` does nothing with pytest 9: it renames node ids through an attribute pytest no
longer reads.) A file lock still makes any other worker that asks for the warehouse wait for, and
reuse, the first build.
"""

from __future__ import annotations

import shutil

import pytest
from nightly_support import NightlyDrops, build_nightly_drops, exclusive, shared_directory

from middlestep import commands
from middlestep.warehouse import PROJECT_ROOT, Home

CHICAGO_DATA = PROJECT_ROOT / "data" / "chicago_pj"
CHICAGO_TESTS = "tests/test_chicago_"


def pytest_xdist_make_scheduler(config, log):
    """Under `--dist load` (the default of `-n`): one unit of work per module, the Chicago
    modules together (like `--dist loadfile`, which cannot group modules)."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False  # units in collection order: Chicago first

    class ModulesChicagoTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "chicago" if nodeid.startswith(CHICAGO_TESTS) else nodeid.split("::", 1)[0]

    return ModulesChicagoTogether(config, log)


def pytest_collection_modifyitems(config, items) -> None:
    """The Chicago tests first: their shared warehouse takes longest to build."""
    items.sort(key=lambda item: not item.nodeid.startswith(CHICAGO_TESTS))  # stable


@pytest.fixture(scope="session")
def chicago_home(tmp_path_factory, request) -> Home:
    """The Chicago roll-out ingested through departments/chicago.yaml, built and gated."""
    root = shared_directory(tmp_path_factory, request, "chicago")
    with exclusive(root.parent / f"{root.name}.lock"):
        home = Home.resolve(root / "home")
        if not (root / "done").exists():
            shutil.rmtree(root, ignore_errors=True)  # a failed attempt of this session
            commands.ingest(home, CHICAGO_DATA, "chicago")
            commands.build(home)
            commands.check(home)
            (root / "done").touch()
    return home


@pytest.fixture(scope="session")
def nightly_drops(tmp_path_factory, request) -> NightlyDrops:
    """Two nightly drops of a small synthetic department, each run cleanly once per session
    (tests/nightly_support.py)."""
    return build_nightly_drops(shared_directory(tmp_path_factory, request, "nightly-drops"))
