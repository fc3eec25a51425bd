"""The primary ITT estimators: post-period ANCOVA of the SSO items (logit AME in percentage
points, Poisson rate ratio, OLS in SD units) and the Poisson ANCOVA of force per officer-month."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from analysis.ancova import ancova_itt_effect, ancova_itt_effects, design_frame, post_frame
from analysis.communication import itt_effect
from analysis.force import force_effect, window_panel
from analysis.force_ancova import _post_with_pre_rate, force_ancova_effect
from analysis.force_ancova import design_frame as force_design
from analysis.inference import cluster_codes
from analysis.sandwich import cluster_covariance
from analysis.simulate import ItemSpec, TrialScenario, simulate_trial

ITEMS = {
    "personal_conversation": "binary",
    "repeated_commands": "binary",
    "commands_issued": "count",
    "empathy": "rating",
}


@pytest.fixture(scope="module")
def trial():
    return simulate_trial(TrialScenario(n_officers=400, n_blocks=8), seed=3)


@pytest.fixture(scope="module")
def large_trial():
    scenario = TrialScenario(
        n_officers=3000,
        n_blocks=20,
        clips_per_officer_period=2.0,
        force_per_call=0.15 / 60.0,
        force_rate_ratio=0.8,
    )
    return simulate_trial(scenario, seed=11)


def test_binary_ame_and_its_cr1_error_equal_statsmodels_get_margeff(trial):
    effect = ancova_itt_effect(trial.encounters, outcome="personal_conversation", kind="binary")
    assert effect.extras["blocks_without_variation"] == 0
    data, _, _ = post_frame(
        trial.encounters,
        "personal_conversation",
        "binary",
        "officer_id",
        "arm",
        "study_period",
        "block_id",
    )
    design = design_frame(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.Logit(data["y"], design).fit(
            disp=False, cov_type="cluster", cov_kwds={"groups": cluster_codes(data["cluster"])}
        )
        margins = fit.get_margeff(at="overall", dummy=True)
    arm = list(design.columns[1:]).index("treated_arm")
    assert effect.scale == "percentage_points"
    assert effect.estimate == pytest.approx(100 * margins.margeff[arm], rel=1e-6)
    assert effect.extras["std_error_cr1"] == pytest.approx(100 * margins.margeff_se[arm], rel=1e-4)
    # CR2 is a little larger than CR1 with one or two clips per officer
    assert effect.extras["std_error_cr1"] < effect.std_error < 1.1 * effect.extras["std_error_cr1"]


def test_count_and_rating_cr1_errors_equal_statsmodels_cluster_covariance(trial):
    for item, kind in (("commands_issued", "count"), ("empathy", "rating")):
        effect = ancova_itt_effect(trial.encounters, outcome=item, kind=kind)
        data, pre_sd, _ = post_frame(
            trial.encounters, item, kind, "officer_id", "arm", "study_period", "block_id"
        )
        if kind == "rating":
            data = data.assign(y=data["y"] / pre_sd)
        design = design_frame(data)
        model = (
            sm.GLM(data["y"], design, family=sm.families.Poisson())
            if kind == "count"
            else sm.OLS(data["y"], design)
        )
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": cluster_codes(data["cluster"])})
        if kind == "count":
            assert math.log(effect.estimate) == pytest.approx(fit.params["treated_arm"], rel=1e-6)
            assert effect.extras["std_error_log_cr1"] == pytest.approx(
                fit.bse["treated_arm"], rel=1e-4
            )
        else:
            assert effect.estimate == pytest.approx(fit.params["treated_arm"], rel=1e-8)
            assert effect.extras["std_error_cr1"] == pytest.approx(fit.bse["treated_arm"], rel=1e-8)


def test_cr2_with_one_observation_per_cluster_is_hc2():
    rng = np.random.default_rng(0)
    x = np.column_stack([np.ones(80), rng.normal(size=80), rng.integers(0, 2, 80)])
    y = x @ [1.0, 0.5, -0.3] + rng.normal(size=80) * (1 + x[:, 2])
    fit = sm.OLS(y, x).fit(cov_type="HC2")
    covariance = cluster_covariance(x, fit.resid, np.ones(80), np.arange(80), kind="CR2")
    np.testing.assert_allclose(np.sqrt(np.diag(covariance)), fit.bse, rtol=1e-10)


def test_force_ancova_cr1_error_equals_statsmodels_glm_with_offset(trial):
    effect = force_ancova_effect(trial.officer_months, exposure="calls_attended")
    data, _, _ = window_panel(
        trial.officer_months, "force_reports", exposure="calls_attended", carry=["block_id"]
    )
    post, _ = _post_with_pre_rate(data, "block_id")
    design = force_design(post)
    fit = sm.GLM(
        post["y"],
        design,
        family=sm.families.Poisson(),
        offset=np.log(post["exposure"].to_numpy()),
    ).fit(cov_type="cluster", cov_kwds={"groups": cluster_codes(post["cluster"])})
    assert effect.extras["log_rate_ratio"] == pytest.approx(fit.params["treated_arm"], rel=1e-6)
    assert effect.extras["std_error_log_cr1"] == pytest.approx(fit.bse["treated_arm"], rel=1e-4)


def test_recovers_planted_effects_on_a_large_trial(large_trial):
    truth = large_trial.truth
    for effect in ancova_itt_effects(large_trial.encounters, ITEMS):
        planted = truth[effect.outcome] * (100 if effect.scale == "percentage_points" else 1)
        if effect.scale == "rate_ratio":
            error = abs(math.log(effect.estimate / planted)) / effect.extras["std_error_log"]
        else:
            error = abs(effect.estimate - planted) / effect.std_error
        assert error < 3.5, (effect.outcome, effect.estimate, planted)
    force = force_ancova_effect(large_trial.officer_months)
    assert abs(math.log(force.estimate / 0.8)) < 3.5 * force.extras["std_error_log"]
    assert force.ci_low < 0.8 < force.ci_high


def test_primary_errors_are_smaller_than_the_difference_in_differences(large_trial):
    for item, kind in ITEMS.items():
        primary = ancova_itt_effect(large_trial.encounters, outcome=item, kind=kind)
        did = itt_effect(large_trial.encounters, outcome=item, kind=kind)
        if kind == "count":
            ratio = primary.extras["std_error_log"] / did.extras["std_error_log"]
        else:
            scale = 100 if kind == "binary" else 1
            ratio = primary.std_error / (scale * did.std_error)
        assert ratio < 0.9, (item, ratio)
    primary = force_ancova_effect(large_trial.officer_months)
    did = force_effect(large_trial.officer_months, negative_binomial=False)
    assert primary.extras["std_error_log"] < did.extras["std_error_log"]


def test_officers_without_pre_period_clips_keep_their_post_period_encounters(trial):
    encounters = trial.encounters
    without_pre = encounters.loc[encounters["study_period"] == "post", "officer_id"]
    without_pre = set(without_pre) - set(
        encounters.loc[encounters["study_period"] == "pre", "officer_id"]
    )
    effect = ancova_itt_effect(encounters, outcome="empathy", kind="rating")
    assert effect.extras["n_officers_without_pre"] == len(without_pre) > 0
    assert effect.n_obs == int((encounters["study_period"] == "post").sum())
    assert any("missing indicator" in note for note in effect.notes)


def test_a_rare_item_with_blocks_of_zeros_averages_over_every_encounter():
    scenario = TrialScenario(
        n_officers=300,
        n_blocks=30,
        binary_heterogeneity=0.01,
        items={"threatened": ItemSpec("binary", 0.02, 0.0)},
    )
    trial = simulate_trial(scenario, seed=4)
    effect = ancova_itt_effect(trial.encounters, outcome="threatened", kind="binary")
    assert effect.extras["blocks_without_variation"] > 0
    assert effect.n_obs == int((trial.encounters["study_period"] == "post").sum())
    assert math.isfinite(effect.std_error) and effect.std_error > 0
    # the logit AME and the linear probability model agree closely for a rare item
    assert abs(effect.estimate - effect.extras["lpm_estimate"]) < 0.5 * effect.std_error


def test_an_arm_without_any_event_falls_back_to_the_linear_probability_model(trial):
    encounters = trial.encounters.copy()
    post_treated = (encounters["study_period"] == "post") & (encounters["arm"] == "treatment")
    encounters.loc[post_treated, "personal_conversation"] = 0
    effect = ancova_itt_effect(encounters, outcome="personal_conversation", kind="binary")
    assert any("linear probability model instead" in note for note in effect.notes)
    assert effect.estimate < 0


def test_a_null_says_what_its_interval_rules_out(trial):
    effect = force_ancova_effect(trial.officer_months, outcome="complaints")
    note = effect.notes[-1]
    assert note.startswith("the 95% interval rules out rate ratios below")
    assert f"{effect.ci_low:.3f}" in note and f"{100 * (effect.ci_low - 1):+.1f}%" in note
    binary = ancova_itt_effect(trial.encounters, outcome="explained_reason", kind="binary")
    assert binary.notes[-1].endswith("percentage points")


def test_per_officer_month_is_the_primary_scale_and_per_call_the_secondary(trial):
    per_month = force_ancova_effect(trial.officer_months)
    per_call = force_ancova_effect(trial.officer_months, exposure="calls_attended")
    assert "per officer-month" in per_month.estimator
    assert "per calls_attended" in per_call.estimator
    # months without calls are dropped only on the per-call scale
    assert per_month.n_obs > per_call.n_obs


def test_unknown_kind_and_missing_columns_are_refused(trial):
    with pytest.raises(ValueError, match="kind must be one of"):
        ancova_itt_effect(trial.encounters, outcome="empathy", kind="ordinal")
    with pytest.raises(KeyError, match="block_id"):
        ancova_itt_effect(
            trial.encounters.drop(columns="block_id"), outcome="empathy", kind="rating"
        )


def test_results_serialise_with_the_design_briefs_field_names(trial):
    record = ancova_itt_effect(trial.encounters, outcome="empathy", kind="rating").to_dict()
    assert {"estimate", "std_error", "ci_low", "ci_high", "p_value", "n_units"} <= set(record)
    assert isinstance(pd.Series(record["notes"]).iloc[0], str)
