"""No night ends in a traceback: the nightly `run` of synthetic drops (`synth --drops N`) exits 0,
and what an early or partial drop cannot support is left out of the report item by item, with
its reason, in results.json's `not_estimated` (camera codings arrive weeks after the calls, so
early on an item can lack a post-period clip of one arm).

The fast sample is the first drop of two departments (seed 7 cut in 3 drops: its first drop
once failed at the report); the `slow` sweep runs every drop of N = 2..6 drops x seeds 1..10.
"""

from __future__ import annotations

import json
import logging

import pytest
from nightly_support import use_test_hash_key

from middlestep import nightly
from middlestep.warehouse import Home

SCALE = 0.1


def run_drops(tmp_path, seed: int, n_drops: int, drops: list[int], caplog) -> list:
    from middlestep.synth import load_scenario, simulate_department
    from middlestep.synth.drops import write_drops

    use_test_hash_key()
    sim = simulate_department(load_scenario(None), seed=seed, scale=SCALE)
    write_drops(sim, tmp_path / "drops", n_drops, seed=seed)
    home = Home.resolve(tmp_path / "home")
    outcomes = []
    for number in drops:
        with caplog.at_level(logging.INFO):
            outcome = nightly.run_nightly(
                home, tmp_path / "drops" / f"drop-{number:03d}", "synthetic"
            )
        tracebacks = [record.getMessage() for record in caplog.records if record.exc_info]
        assert not tracebacks, f"seed {seed}, drop {number} of {n_drops}: {tracebacks}"
        assert outcome.exit_code == 0, f"seed {seed}, drop {number} of {n_drops}: {outcome.line}"
        document = json.loads((home.report_dir / "results.json").read_text())
        for row in document["not_estimated"]:
            assert row["analysis"] and row["reason"], row
        outcomes.append((outcome, document))
    return outcomes


@pytest.mark.parametrize(("seed", "n_drops"), [(7, 3), (2, 5)])
def test_the_first_drop_runs_and_says_what_it_cannot_estimate_yet(tmp_path, caplog, seed, n_drops):
    [(outcome, document)] = run_drops(tmp_path, seed, n_drops, [1], caplog)
    left_out = {row["analysis"] for row in document["not_estimated"]}
    assert left_out, "an early drop supports every analysis?"
    assert f"({len(left_out)} analyses not estimated from this data" in outcome.line
    reported = {effect["outcome"] for effect in document["effects"]}
    assert not reported & {name.split(": ")[-1] for name in left_out if ": " in name}


@pytest.mark.slow
@pytest.mark.parametrize("n_drops", [2, 3, 4, 5, 6])
@pytest.mark.parametrize("seed", range(1, 11))
def test_every_drop_of_every_seed_runs(tmp_path, caplog, seed, n_drops):
    run_drops(tmp_path, seed, n_drops, list(range(1, n_drops + 1)), caplog)
