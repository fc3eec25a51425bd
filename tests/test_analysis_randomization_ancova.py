"""Fisher tests that count undefined re-randomizations as extreme, and the randomization tests
of the primary (post-period ANCOVA) estimates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.ancova import ancova_itt_effect
from analysis.randomization import conservative_fisher_test, fisher_p_value, with_fisher_test
from analysis.randomization_ancova import ancova_permutation_test, force_ancova_permutation_test
from analysis.simulate import TrialScenario, simulate_trial


@pytest.fixture(scope="module")
def trial():
    scenario = TrialScenario(
        n_officers=300,
        clips_per_officer_period=3.0,
        force_per_call=0.2 / 60.0,
        force_rate_ratio=0.6,
    )
    return simulate_trial(scenario, seed=8)


def test_undefined_draws_count_as_extreme_and_are_reported():
    permuted = np.array([0.1, np.nan, 0.7, np.nan, -0.2])
    test = conservative_fisher_test(0.5, permuted)
    assert test.p_value == pytest.approx((1 + 3) / 6)
    assert test.n_undefined == 2 and test.n_permutations == 5
    # the existing p-value counts them as not extreme: the new one is never smaller
    assert fisher_p_value(0.5, permuted) == pytest.approx(2 / 6)


def test_an_undefined_observed_statistic_has_no_p_value():
    test = conservative_fisher_test(math.nan, np.array([0.1, 0.2]))
    assert math.isnan(test.p_value)


def test_fisher_test_lands_in_extras_with_the_undefined_count(trial):
    effect = ancova_itt_effect(trial.encounters, outcome="empathy", kind="rating")
    updated = with_fisher_test(effect, conservative_fisher_test(0.3, np.array([0.1, np.nan])))
    record = updated.to_dict()
    assert record["fisher_p_value"] == pytest.approx(2 / 3)
    assert record["n_permutations_undefined"] == 1 and record["n_permutations"] == 2
    assert "counted as extreme" in updated.notes[-1]


def test_sso_ancova_fisher_p_is_small_for_planted_effects_and_agrees_with_the_model_on_nulls(
    trial,
):
    planted = ancova_permutation_test(
        trial.encounters, outcome="commands_issued", kind="count", officers=trial.officers
    )
    null = ancova_permutation_test(
        trial.encounters, outcome="listened", kind="rating", officers=trial.officers
    )
    model = ancova_itt_effect(trial.encounters, outcome="listened", kind="rating")
    assert planted.p_value < 0.01
    assert null.p_value > 0.05
    assert null.p_value == pytest.approx(model.p_value, abs=0.05)
    assert planted.n_undefined == 0


def test_force_ancova_fisher_p_detects_a_planted_rate_ratio(trial):
    test = force_ancova_permutation_test(trial.officer_months, officers=trial.officers)
    assert test.statistic == pytest.approx(math.log(0.6), abs=0.15)
    assert test.p_value < 0.01


def test_a_rare_outcome_reports_its_undefined_draws_and_stays_conservative():
    scenario = TrialScenario(n_officers=40, n_blocks=4, complaints_per_call=0.002 / 60.0)
    trial = simulate_trial(scenario, seed=2)
    months = trial.officer_months.copy()
    post = (months["month_start"] >= "2025-01-01") & (months["month_start"] < "2026-01-01")
    months.loc[post, "complaints"] = 0
    # four events of four officers: a draw that puts all four in one arm has no statistic
    officers = trial.officers.groupby("arm")["officer_id"].apply(list)
    with_event = officers["treatment"][:3] + officers["control"][:1]
    first_post_month = months.index[post & months["officer_id"].isin(with_event)]
    months.loc[months.loc[first_post_month].drop_duplicates("officer_id").index, "complaints"] = 1
    test = force_ancova_permutation_test(
        months, outcome="complaints", officers=trial.officers, n_permutations=400
    )
    # all four in one arm: about 2 x (1/2)^4 of the draws
    assert 10 < test.n_undefined < 100
    assert test.p_value >= (1 + test.n_undefined) / 401
    assert math.isfinite(test.statistic)
