"""Randomization inference: re-randomization within blocks, statistics equal to the estimators,
and Fisher p-values that separate planted effects from nulls."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.communication import itt_effect
from analysis.force import force_effect
from analysis.randomization import (
    _block_permutations,
    block_permutations,
    encounter_permutation_test,
    fisher_p_value,
    force_permutation_test,
    with_fisher_p_value,
)
from analysis.simulate import TrialScenario, simulate_trial


@pytest.fixture(scope="module")
def trial():
    return simulate_trial(TrialScenario(n_officers=800, clips_per_officer_period=4.0), seed=7)


def test_permutations_keep_every_blocks_number_of_treated_officers():
    treated = np.array([1, 0, 1, 0, 1, 0, 0, 1, 1, 0.0])
    blocks = np.array(["a", "a", "a", "a", "b", "b", "b", "b", "c", "c"])
    permuted = block_permutations(treated, blocks, 300, seed=1)
    for block in "abc":
        at = blocks == block
        assert np.all(permuted[:, at].sum(axis=1) == treated[at].sum())
    assert len({tuple(row) for row in permuted}) > 20  # not the same draw over and over
    again = block_permutations(treated, blocks, 300, seed=1)
    assert np.array_equal(permuted, again)  # seeded


def test_equal_calls_share_one_read_only_draw_equal_to_a_fresh_one():
    treated = np.array([1, 0, 1, 0, 1, 0, 0, 1, 1, 0.0])
    blocks = np.array(["a", "a", "a", "a", "b", "b", "b", "b", "c", "c"])
    first = block_permutations(treated, blocks, 50, seed=2)
    assert block_permutations(treated.copy(), list(blocks), 50, seed=2) is first
    assert not first.flags.writeable  # no caller can change another's draw
    assert not np.array_equal(block_permutations(treated, blocks, 50, seed=3), first)
    _block_permutations.cache_clear()
    fresh = block_permutations(treated, blocks, 50, seed=2)
    assert fresh is not first and np.array_equal(fresh, first)


def test_observed_statistics_are_the_estimators_point_estimates(trial):
    for item, kind in (("personal_conversation", "binary"), ("commands_issued", "count")):
        effect = itt_effect(trial.encounters, outcome=item, kind=kind)
        observed, _, _ = encounter_permutation_test(
            trial.encounters, outcome=item, kind=kind, officers=trial.officers, n_permutations=10
        )
        expected = effect.extras["log_rate_ratio"] if kind == "count" else effect.estimate
        assert observed == pytest.approx(expected, abs=1e-9)
    force = force_effect(trial.officer_months, negative_binomial=False)
    observed, _, _ = force_permutation_test(
        trial.officer_months, officers=trial.officers, n_permutations=10
    )
    assert observed == pytest.approx(force.extras["log_rate_ratio"], abs=1e-9)


def test_fisher_p_value_is_small_for_planted_effects_and_large_for_nulls(trial):
    _, planted, _ = encounter_permutation_test(
        trial.encounters,
        outcome="repeated_commands",
        kind="binary",
        officers=trial.officers,
        n_permutations=400,
    )
    _, null, permuted = encounter_permutation_test(
        trial.encounters,
        outcome="explained_reason",
        kind="binary",
        officers=trial.officers,
        n_permutations=400,
    )
    model = itt_effect(trial.encounters, outcome="explained_reason", kind="binary")
    assert planted < 0.02
    assert null > 0.05
    assert null == pytest.approx(model.p_value, abs=0.08)  # randomization and model agree
    assert abs(np.nanmean(permuted)) < 0.01  # the permutation distribution centres on 0


def test_p_value_counts_the_observed_assignment_and_lands_in_extras():
    assert fisher_p_value(0.5, np.array([0.1, -0.6, 0.2, 0.7])) == pytest.approx(3 / 5)
    trial = simulate_trial(TrialScenario(n_officers=60), seed=1)
    effect = itt_effect(trial.encounters, outcome="empathy", kind="rating")
    updated = with_fisher_p_value(effect, 0.25, 500)
    record = updated.to_dict()
    assert record["fisher_p_value"] == 0.25 and record["n_permutations"] == 500
    assert record["p_value"] == effect.p_value
