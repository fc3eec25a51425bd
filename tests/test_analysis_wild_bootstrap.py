"""The block-clustered robustness row: wild cluster bootstrap of the linear ANCOVA."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from analysis.ancova import design_frame, post_frame
from analysis.inference import cluster_codes
from analysis.randomization import block_permutations
from analysis.simulate import TrialScenario, simulate_trial
from analysis.wild_bootstrap import block_wild_bootstrap_test, force_block_wild_bootstrap_test


@pytest.fixture(scope="module")
def trial():
    scenario = TrialScenario(n_officers=300, n_blocks=12, clips_per_officer_period=3.0)
    return simulate_trial(scenario, seed=3)


def test_coefficient_and_block_clustered_error_equal_statsmodels(trial):
    test = block_wild_bootstrap_test(trial.encounters, outcome="empathy", kind="rating", n_draws=99)
    data, pre_sd, _ = post_frame(
        trial.encounters, "empathy", "rating", "officer_id", "arm", "study_period", "block_id"
    )
    data = data.assign(y=data["y"] / pre_sd)
    fit = sm.OLS(data["y"], design_frame(data)).fit(
        cov_type="cluster", cov_kwds={"groups": cluster_codes(data["block"])}
    )
    assert test.estimate == pytest.approx(fit.params["treated_arm"], rel=1e-9)
    assert test.std_error == pytest.approx(fit.bse["treated_arm"], rel=1e-9)
    assert test.n_clusters == 12


def test_planted_effect_is_detected_and_a_null_is_not(trial):
    planted = block_wild_bootstrap_test(trial.encounters, outcome="commands_issued", kind="count")
    null = block_wild_bootstrap_test(trial.encounters, outcome="listened", kind="rating")
    assert planted.p_value < 0.05
    assert null.p_value > 0.2


def test_rejects_about_five_percent_of_rerandomized_assignments(trial):
    # outcomes fixed, assignment re-drawn within blocks: the null of no effect holds exactly
    officers = trial.officers
    arms = block_permutations(
        (officers["arm"] == "treatment").to_numpy(float), officers["block_id"].to_numpy(), 120, 5
    )
    rejections = 0
    for draw, assignment in enumerate(arms):
        arm_of = dict(
            zip(
                officers["officer_id"],
                np.where(assignment == 1, "treatment", "control"),
                strict=True,
            )
        )
        encounters = trial.encounters.assign(arm=trial.encounters["officer_id"].map(arm_of))
        test = block_wild_bootstrap_test(
            encounters, outcome="empathy", kind="rating", n_draws=199, seed=draw
        )
        rejections += test.p_value <= 0.05
    # 120 draws: a 5% test rejects 0-14 times with probability 0.998
    assert rejections <= 14


def test_force_row_uses_the_officer_month_counts(trial):
    test = force_block_wild_bootstrap_test(trial.officer_months, n_draws=199)
    assert test.n_clusters == 12
    assert 0.0 <= test.p_value <= 1.0
    assert "counts" in test.model
