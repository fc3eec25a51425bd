"""The encounter-level ITT estimators: exact on hand-computable tables, unbiased on simulations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from analysis.communication import itt_effect, itt_effects
from analysis.simulate import DEFAULT_ITEMS, ItemSpec, TrialScenario, simulate_trial

# Each officer codes one encounter per period; outcomes by arm x period (4 officers per arm).
TOY_OUTCOMES = {
    ("control", "pre"): [1, 0, 1, 0],
    ("control", "post"): [0, 1, 1, 0],
    ("treatment", "pre"): [1, 0, 0, 0],
    ("treatment", "post"): [1, 1, 1, 0],
}


def toy_encounters(outcomes: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    rows = []
    for (arm, period), values in outcomes.items():
        for position, value in enumerate(values):
            rows.append(
                {
                    "officer_id": f"{arm}-{position}",
                    "arm": arm,
                    "block_id": f"b{position % 2}",
                    "study_period": period,
                    "item": value,
                }
            )
    return pd.DataFrame(rows)


def cell_mean_did(outcomes: dict[tuple[str, str], list[float]]) -> float:
    mean = {cell: float(np.mean(values)) for cell, values in outcomes.items()}
    return (mean[("treatment", "post")] - mean[("treatment", "pre")]) - (
        mean[("control", "post")] - mean[("control", "pre")]
    )


@pytest.fixture(scope="module")
def large_trial():
    return simulate_trial(TrialScenario(n_officers=2000, clips_per_officer_period=3.0), seed=11)


def test_binary_estimate_is_the_difference_in_differences_of_cell_means():
    effect = itt_effect(toy_encounters(TOY_OUTCOMES), outcome="item", kind="binary")
    # (0.75 - 0.25) - (0.5 - 0.5) = 0.5 points of probability
    assert cell_mean_did(TOY_OUTCOMES) == 0.5
    assert effect.estimate == pytest.approx(0.5, abs=1e-9)
    assert effect.scale == "difference"
    # odds ratio: (3 / (1/3)) / (1 / 1) = 9
    assert effect.extras["odds_ratio"] == pytest.approx(9.0, rel=1e-6)
    assert effect.extras["mean_treatment_post"] == 0.75
    assert effect.n_units == 8
    assert effect.n_obs == 16
    assert effect.ci_low < effect.estimate < effect.ci_high


def test_binary_delta_method_se_equals_the_clustered_linear_probability_se():
    """The logit is saturated, so on the probability scale it is the linear probability model."""
    encounters = simulate_trial(seed=5).encounters
    effect = itt_effect(encounters, outcome="personal_conversation", kind="binary")
    data = encounters[encounters["study_period"].isin(["pre", "post"])]
    treated = (data["arm"] == "treatment").astype(float)
    post = (data["study_period"] == "post").astype(float)
    design = sm.add_constant(
        pd.DataFrame({"arm": treated, "post": post, "arm_post": treated * post})
    )
    groups = pd.factorize(data["officer_id"])[0]
    linear = sm.OLS(data["personal_conversation"].astype(float), design).fit(
        cov_type="cluster", cov_kwds={"groups": groups}
    )
    assert effect.estimate == pytest.approx(linear.params["arm_post"], abs=1e-9)
    assert effect.std_error == pytest.approx(linear.bse["arm_post"], rel=1e-6)


def test_count_estimate_is_the_ratio_of_cell_mean_ratios():
    outcomes = {
        ("control", "pre"): [2, 4, 3, 3],
        ("control", "post"): [3, 3, 4, 2],
        ("treatment", "pre"): [4, 4, 2, 2],
        ("treatment", "post"): [1, 2, 2, 1],
    }
    effect = itt_effect(toy_encounters(outcomes), outcome="item", kind="count")
    # (1.5 / 3) / (3 / 3) = 0.5
    assert effect.estimate == pytest.approx(0.5, rel=1e-8)
    assert effect.scale == "rate_ratio"
    assert effect.ci_low < 0.5 < effect.ci_high
    assert effect.std_error == pytest.approx(0.5 * effect.extras["std_error_log"])
    assert effect.extras["log_rate_ratio"] == pytest.approx(np.log(0.5))


def test_rating_estimate_is_the_cell_mean_did_over_the_pooled_pre_period_sd():
    outcomes = {
        ("control", "pre"): [2, 3, 3, 4],
        ("control", "post"): [3, 3, 3, 3],
        ("treatment", "pre"): [1, 3, 2, 2],
        ("treatment", "post"): [3, 4, 3, 4],
    }
    effect = itt_effect(toy_encounters(outcomes), outcome="item", kind="rating")
    pre_sd = np.std(outcomes[("control", "pre")] + outcomes[("treatment", "pre")], ddof=1)
    assert effect.extras["pre_period_sd"] == pytest.approx(pre_sd)
    assert effect.estimate == pytest.approx(cell_mean_did(outcomes) / pre_sd, rel=1e-9)
    assert effect.scale == "sd"


def test_late_period_and_unassigned_officers_are_left_out():
    encounters = toy_encounters(TOY_OUTCOMES)
    noise = encounters.assign(study_period="late", item=1)
    unassigned = encounters.assign(arm=None, item=0)
    effect = itt_effect(pd.concat([encounters, noise, unassigned]), outcome="item", kind="binary")
    assert effect.estimate == pytest.approx(0.5, abs=1e-9)
    assert effect.n_obs == 16


def test_empty_cell_of_the_design_is_an_error():
    encounters = toy_encounters(TOY_OUTCOMES)
    encounters = encounters[
        ~((encounters["arm"] == "control") & (encounters["study_period"] == "post"))
    ]
    with pytest.raises(ValueError, match="empty cells"):
        itt_effect(encounters, outcome="item", kind="binary")


def test_binary_cell_without_events_falls_back_to_the_linear_probability_model():
    outcomes = dict(TOY_OUTCOMES)
    outcomes[("control", "pre")] = [0, 0, 0, 0]
    effect = itt_effect(toy_encounters(outcomes), outcome="item", kind="binary")
    assert effect.estimate == pytest.approx(cell_mean_did(outcomes), abs=1e-9)
    assert any("linear probability" in note for note in effect.notes)


@pytest.fixture(scope="module")
def effects_over_departments():
    """Every default item estimated in 8 departments of 1,000 officers (about 4,000 encounters
    each in the pre and post periods)."""
    kinds = {item: spec.kind for item, spec in DEFAULT_ITEMS.items()}
    departments = [
        simulate_trial(TrialScenario(n_officers=1000, clips_per_officer_period=2.0), seed=40 + k)
        for k in range(8)
    ]
    return departments[0].truth, [itt_effects(d.encounters, kinds) for d in departments]


@pytest.mark.parametrize("item", list(DEFAULT_ITEMS))
def test_recovers_the_planted_effect_on_average_over_departments(effects_over_departments, item):
    truth, effects_by_department = effects_over_departments
    effects = [e for department in effects_by_department for e in department if e.outcome == item]
    if DEFAULT_ITEMS[item].kind == "count":  # compare on the log scale, where the CI is built
        estimates = np.array([e.extras["log_rate_ratio"] for e in effects])
        std_errors = np.array([e.extras["std_error_log"] for e in effects])
        target = np.log(truth[item])
    else:
        estimates = np.array([e.estimate for e in effects])
        std_errors = np.array([e.std_error for e in effects])
        target = truth[item]
    # the mean of 8 independent estimates is within 3 of its standard errors of the estimand
    assert abs(estimates.mean() - target) < 3 * np.sqrt((std_errors**2).sum()) / len(effects)
    # precision of a 1,000-officer department: about 3 points, 0.065 SD, 0.045 in log ratio
    kind = DEFAULT_ITEMS[item].kind
    assert std_errors.mean() < {"binary": 0.035, "rating": 0.075, "count": 0.06}[kind]


def test_block_fixed_effects_keep_the_estimate_and_shrink_nothing_much(large_trial):
    plain = itt_effect(large_trial.encounters, outcome="empathy", kind="rating")
    blocked = itt_effect(
        large_trial.encounters, outcome="empathy", kind="rating", block_fixed_effects=True
    )
    assert blocked.estimate == pytest.approx(plain.estimate, abs=0.02)
    binary = itt_effect(
        large_trial.encounters,
        outcome="personal_conversation",
        kind="binary",
        block_fixed_effects=True,
    )
    assert binary.ci_low <= large_trial.truth["personal_conversation"] <= binary.ci_high


def test_planted_zero_is_rarely_significant():
    scenario = TrialScenario(
        items={
            "explained_reason": ItemSpec("binary", 0.5, 0.0, trend=0.03),
            "commands_issued": ItemSpec("count", 2.5, 1.0, trend=1.05),
            "listened": ItemSpec("rating", 3.0, 0.0, trend=0.1),
        }
    )
    kinds = {item: spec.kind for item, spec in scenario.items.items()}
    rejections = {item: 0 for item in kinds}
    n_departments = 30
    for seed in range(n_departments):
        encounters = simulate_trial(scenario, seed=100 + seed).encounters
        for effect in itt_effects(encounters, kinds):
            rejections[effect.outcome] += effect.p_value < 0.05
    # expected 1.5 of 30 each; 6 or more has probability < 0.01 under a correct 5% test
    assert all(count <= 5 for count in rejections.values()), rejections


def test_itt_effects_follow_the_items_order_and_kinds(large_trial):
    items = {"empathy": "rating", "personal_conversation": "binary", "commands_issued": "count"}
    effects = itt_effects(large_trial.encounters, items)
    assert [e.outcome for e in effects] == list(items)
    assert [e.scale for e in effects] == ["sd", "difference", "rate_ratio"]


def test_ordered_logit_extra_agrees_with_the_linear_model():
    encounters = simulate_trial(seed=8).encounters
    effect = itt_effect(encounters, outcome="empathy", kind="rating", ordered_logit=True)
    coefficient = effect.extras["ordered_logit_coef"]
    assert np.sign(coefficient) == np.sign(effect.estimate)
    # a shift of d SD in a logistic latent (SD pi / sqrt(3)) is about 1.8 d in log odds
    assert coefficient == pytest.approx(1.8 * effect.estimate, abs=0.3)


def test_result_serialises_with_the_design_brief_field_names():
    record = itt_effect(toy_encounters(TOY_OUTCOMES), outcome="item", kind="binary").to_dict()
    for key in ("estimate", "std_error", "ci_low", "ci_high", "p_value", "n_units", "odds_ratio"):
        assert key in record


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="kind"):
        itt_effect(toy_encounters(TOY_OUTCOMES), outcome="item", kind="ordinal")


def test_categorical_columns_are_read_like_text():
    encounters = toy_encounters(TOY_OUTCOMES)
    encounters = encounters.astype({"arm": "category", "study_period": "category"})
    effect = itt_effect(encounters, outcome="item", kind="binary")
    assert effect.estimate == pytest.approx(0.5, abs=1e-9)
