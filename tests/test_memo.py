"""The on-disk memo of analysis steps: a hit returns the stored value, any change of the
arguments or of the function's source misses, a damaged entry is recomputed, and the memoized
power simulations equal the computed ones exactly."""

from __future__ import annotations

import dataclasses
import importlib
import math
import sys
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from analysis import memo
from analysis.memo import cached_call, call_key, entry_path
from analysis.power import force_power, given_baseline, simulated_power

BASELINE = given_baseline(0.2, dispersion=1.0, n_officers=60, n_months=6)


class Counter:
    """A function that counts its calls (to see hits and misses)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, x: float, *, scale: int = 2) -> float:
        self.calls += 1
        return x * scale


@pytest.fixture
def counted():
    """A module-level function in a module of the test's own, with a call counter."""
    counter = Counter()

    def doubled(x: float, *, scale: int = 2) -> float:
        return counter(x, scale=scale)

    doubled.__module__ = __name__
    doubled.__qualname__ = "doubled"
    return doubled, counter


def test_second_call_is_read_from_the_memo(tmp_path, counted):
    function, counter = counted
    assert cached_call(tmp_path, function, 1.5) == 3.0
    assert cached_call(tmp_path, function, 1.5) == 3.0
    assert counter.calls == 1
    assert entry_path(tmp_path, function, 1.5).exists()


def test_no_directory_means_no_memo(tmp_path, counted):
    function, counter = counted
    cached_call(None, function, 1.5)
    cached_call(None, function, 1.5)
    assert counter.calls == 2


def test_a_changed_argument_misses_and_defaults_are_part_of_the_key(tmp_path, counted):
    function, counter = counted
    cached_call(tmp_path, function, 1.5)
    cached_call(tmp_path, function, 1.5, scale=2)  # the default, spelled out: a hit
    assert counter.calls == 1
    assert cached_call(tmp_path, function, 1.5, scale=3) == 4.5
    assert cached_call(tmp_path, function, 1.5000000000000002) == 3.0000000000000004
    assert counter.calls == 3


def test_dataclass_fields_floats_and_int_float_are_keyed_exactly(counted):
    function, _ = counted
    changed = dataclasses.replace(BASELINE, dispersion=math.nextafter(BASELINE.dispersion, 2.0))
    assert call_key(function, BASELINE) != call_key(function, changed)
    assert call_key(function, BASELINE) == call_key(function, dataclasses.replace(BASELINE))
    assert call_key(function, 1) != call_key(function, 1.0)
    assert call_key(function, np.float64(0.1)) == call_key(function, 0.1)
    assert call_key(function, math.nan) == call_key(function, math.nan)


def test_an_argument_without_a_stable_key_is_refused_and_the_call_computed(tmp_path, counted):
    function, counter = counted
    with pytest.raises(TypeError, match="cannot key"):
        call_key(function, object())
    assert cached_call(tmp_path, function, Fraction(3, 2)) == 3  # a Fraction has no key
    assert counter.calls == 1 and not list(tmp_path.iterdir())


def test_a_change_of_the_defining_modules_source_misses(tmp_path, monkeypatch):
    package = tmp_path / "memo_probe"
    package.mkdir()
    source = package / "probe.py"
    source.write_text("def triple(x):\n    return 3 * x\n")
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    probe = importlib.import_module("memo_probe.probe")
    cache = tmp_path / "cache"
    assert cached_call(cache, probe.triple, 2) == 6
    key = call_key(probe.triple, 2)
    source.write_text("def triple(x):\n    return 3 * x + 0  # changed\n")
    assert call_key(probe.triple, 2) != key
    assert len(list(cache.iterdir())) == 1
    cached_call(cache, probe.triple, 2)
    assert len(list(cache.iterdir())) == 2
    sys.modules.pop("memo_probe.probe", None)
    sys.modules.pop("memo_probe", None)


@pytest.mark.parametrize("damage", [b"", b"not a pickle", None])
def test_a_corrupt_or_truncated_entry_is_ignored_and_rewritten(tmp_path, counted, damage):
    function, counter = counted
    cached_call(tmp_path, function, 1.5)
    path = entry_path(tmp_path, function, 1.5)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2] if damage is None else damage)
    assert cached_call(tmp_path, function, 1.5) == 3.0
    assert counter.calls == 2
    assert path.read_bytes() == whole  # rewritten
    assert cached_call(tmp_path, function, 1.5) == 3.0
    assert counter.calls == 2


def test_an_entry_under_another_key_is_not_trusted(tmp_path, counted):
    function, counter = counted
    cached_call(tmp_path, function, 1.5)
    cached_call(tmp_path, function, 2.5)
    entry_path(tmp_path, function, 2.5).replace(entry_path(tmp_path, function, 1.5))
    assert cached_call(tmp_path, function, 1.5) == 3.0
    assert counter.calls == 3


def test_writes_leave_no_temporary_files_and_an_unwritable_directory_is_not_an_error(
    tmp_path, counted
):
    function, counter = counted
    cached_call(tmp_path, function, 1.5)
    assert [p.suffix for p in tmp_path.iterdir()] == [memo.SUFFIX]
    blocked = tmp_path / "a file"
    blocked.write_text("")
    assert cached_call(blocked / "cache", function, 1.5) == 3.0  # cannot mkdir under a file
    assert counter.calls == 2


def test_memoized_power_equals_the_computed_power_exactly(tmp_path):
    arguments = dict(n_officers=60, n_months=6, n_simulations=30, seed=3)
    computed = simulated_power(BASELINE, [0.6, 1.0], **arguments)
    first = cached_call(tmp_path, simulated_power, BASELINE, [0.6, 1.0], **arguments)
    second = cached_call(tmp_path, simulated_power, BASELINE, [0.6, 1.0], **arguments)
    pd.testing.assert_frame_equal(first, computed, check_exact=True)
    pd.testing.assert_frame_equal(second, computed, check_exact=True)

    result = force_power(BASELINE, n_simulations=30, seed=3)
    cached_call(tmp_path, force_power, BASELINE, n_simulations=30, seed=3)
    stored = cached_call(tmp_path, force_power, BASELINE, n_simulations=30, seed=3)
    assert stored.to_dict() == result.to_dict()
    assert len(list(tmp_path.iterdir())) == 2


def _open_box_dict(trial, cache_dir):
    """open_box's results (without its timings) on a simulated trial's marts."""
    from analysis.open_box import Settings, open_box

    items = {"personal_conversation": "binary", "repeated_commands": "count", "empathy": "rating"}
    fast = dict(n_permutations=20, n_bootstrap=10, power_simulations=20)
    box = open_box(trial, [], items, settings=Settings(**fast, cache_dir=cache_dir))
    result = box.to_dict()
    result.pop("timings_s")
    return result


def _entries(directory) -> dict[str, int]:
    """Memo entry -> its inode: a hit leaves the file, a computation replaces it."""
    return {path.name: path.stat().st_ino for path in directory.iterdir()}


@pytest.fixture(scope="module")
def trial():
    from analysis.simulate import TrialScenario, simulate_trial

    return simulate_trial(TrialScenario(n_officers=200), seed=5)


def test_open_box_read_from_the_memo_equals_open_box_computed(tmp_path, trial):
    computed = _open_box_dict(trial, None)
    assert _open_box_dict(trial, tmp_path) == computed  # fills the memo
    filled = _entries(tmp_path)
    assert len(filled) >= 8  # power, complier, mediation, heterogeneity, summary index ...
    assert _open_box_dict(trial, tmp_path) == computed  # reads it
    assert _entries(tmp_path) == filled  # every entry read, none recomputed


def test_only_estimates_whose_data_changed_are_refitted(tmp_path, trial):
    _open_box_dict(trial, tmp_path)
    filled = _entries(tmp_path)

    # a force report in the last month, after the comparison window: nothing is refitted
    months = trial.officer_months.copy()
    last = months["month_start"] == months["month_start"].max()
    months.loc[last.idxmax(), "force_reports"] += 1
    later = dataclasses.replace(trial, officer_months=months)
    assert _open_box_dict(later, tmp_path) == _open_box_dict(trial, None)
    assert _entries(tmp_path) == filled

    # a force report inside the window: the force estimates are refitted, not the encounters'
    months = trial.officer_months.copy()
    months.loc[months.index[0], "force_reports"] += 1
    _open_box_dict(dataclasses.replace(trial, officer_months=months), tmp_path)
    after_force = _entries(tmp_path)
    assert set(filled) < set(after_force)

    # a new coding of one encounter: the encounter estimates are refitted, the power is not
    encounters = trial.encounters.copy()
    encounters.loc[encounters.index[0], "empathy"] = 5 - encounters["empathy"].iloc[0]
    _open_box_dict(dataclasses.replace(trial, encounters=encounters), tmp_path)
    new = set(_entries(tmp_path)) - set(after_force)
    assert new and len(new) < len(filled)


def test_frames_are_keyed_by_content_columns_and_dtypes(counted):
    function, _ = counted
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None], "c": pd.to_datetime(["2024-01-01"] * 2)})
    key = call_key(function, frame)
    assert call_key(function, frame.copy()) == key
    assert call_key(function, frame.assign(a=[1, 3])) != key
    assert call_key(function, frame.assign(a=[1.0, 2.0])) != key  # same values, another dtype
    assert call_key(function, frame[["b", "a", "c"]]) != key
    assert call_key(function, frame.set_axis([5, 6])) != key  # the index is content too
    assert call_key(function, frame["a"]) != call_key(function, frame["a"].rename("z"))


def test_prune_removes_only_entries_unused_for_a_month(tmp_path, counted):
    import os
    import time

    function, counter = counted
    cached_call(tmp_path, function, 1.5)
    cached_call(tmp_path, function, 2.5)
    old = time.time() - 40 * 86400
    for path in tmp_path.iterdir():
        os.utime(path, (old, old))
    cached_call(tmp_path, function, 1.5)  # a hit: the entry is used again
    assert memo.prune(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == [entry_path(tmp_path, function, 1.5).name]
    assert counter.calls == 2
