"""Shared by tests/test_nightly.py and tests/test_faults.py: one small synthetic department cut
into two nightly drops, run cleanly once per test session (even across xdist workers), and the
content hashes of the warehouse after each drop."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

SEED, SCALE = 1, 0.1
CUT = dt.date(2025, 1, 1)  # drop 1: through 2024 (the trial under way); drop 2: the rest
# one key for every warehouse of the tests, so that their civilian hashes (and content) compare
HASH_KEY = "a-test-key-not-a-real-one-but-long-enough-to-be-accepted"


@dataclass(frozen=True)
class NightlyDrops:
    root: Path

    @property
    def drops(self) -> Path:
        return self.root / "drops"

    def drop(self, number: int) -> Path:
        return self.drops / f"drop-{number:03d}"

    @property
    def export(self) -> Path:
        return self.root / "export"

    def clean_home(self, after: int) -> Path:
        return self.root / f"clean-after-{after}"

    def clean_fingerprints(self, after: int) -> dict[str, str]:
        return json.loads((self.root / f"clean-after-{after}.json").read_text())

    def outcome(self, after: int) -> dict:
        return json.loads((self.root / f"outcome-{after}.json").read_text())

    def copy_home(self, after: int, to: Path) -> Path:
        shutil.copytree(self.clean_home(after), to)
        return to


def use_test_hash_key() -> None:
    os.environ["MIDDLESTEP_HASH_KEY"] = HASH_KEY


def shared_directory(tmp_path_factory, request, name: str) -> Path:
    """A directory every xdist worker of this session sees (else a fresh temporary one).

    ``MIDDLESTEP_TEST_CACHE=DIR`` keeps it across sessions, to iterate on a test quickly; a
    cache is reused as is, so delete it when the code under test changes."""
    if os.environ.get("MIDDLESTEP_TEST_CACHE"):
        return Path(os.environ["MIDDLESTEP_TEST_CACHE"]) / name
    if getattr(request.config, "workerinput", None) is None:
        return tmp_path_factory.mktemp(name)
    return tmp_path_factory.getbasetemp().parent / name


@contextlib.contextmanager
def exclusive(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_nightly_drops(root: Path) -> NightlyDrops:
    from middlestep import nightly
    from middlestep.fingerprint import table_fingerprints
    from middlestep.synth import load_scenario, simulate_department, write_export
    from middlestep.synth.drops import write_drops
    from middlestep.warehouse import Home

    use_test_hash_key()
    drops = NightlyDrops(root)
    with exclusive(root.parent / f"{root.name}.lock"):
        if (root / "done").exists():
            return drops
        if root.exists():
            shutil.rmtree(root)
        sim = simulate_department(load_scenario(None), seed=SEED, scale=SCALE)
        write_drops(sim, drops.drops, 2, seed=SEED, cuts=[CUT])
        write_export(sim, drops.export)
        for number in (1, 2):
            home = drops.clean_home(number)
            if number == 2:
                shutil.copytree(drops.clean_home(1), home)
            outcome = nightly.run_nightly(Home.resolve(home), drops.drop(number), "synthetic")
            (root / f"outcome-{number}.json").write_text(
                json.dumps({"exit_code": outcome.exit_code, "line": outcome.line})
            )
            fingerprints = table_fingerprints(home / "warehouse.duckdb")
            (root / f"clean-after-{number}.json").write_text(json.dumps(fingerprints))
        (root / "done").touch()
    return drops
