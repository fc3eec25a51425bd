"""The baseline balance table of the randomized arms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.balance import BALANCE_COLUMNS, balance_table, standardized_mean_difference
from analysis.simulate import TrialScenario, simulate_trial


@pytest.fixture(scope="module")
def large_trial():
    return simulate_trial(TrialScenario(n_officers=2000, n_blocks=20), seed=31)


def test_randomized_arms_show_small_standardized_differences(large_trial):
    table = balance_table(
        large_trial.officers,
        large_trial.officer_months,
        encounters=large_trial.encounters,
        items=["personal_conversation", "empathy"],
    )
    assert list(table.columns) == BALANCE_COLUMNS
    covariates = table[table["group"] != "joint"]
    assert {
        "tenure_years_at_assignment",
        "age_at_assignment",
        "sex_female",
        "race_black",
        "calls_per_month_pre",
        "force_reports_per_officer_month_pre",
        "complaints_per_officer_month_pre",
        "personal_conversation_pre_mean",
        "empathy_pre_mean",
    } <= set(covariates["covariate"])
    # with 1,000 officers per arm the SD of an SMD is about 0.045
    assert covariates["smd"].abs().max() < 0.15
    assert (covariates["n_treatment"] + covariates["n_control"]).max() == 2000
    joint = table[table["group"] == "joint"].iloc[0]
    assert joint["p_value"] > 0.01


def test_block_randomization_splits_each_block_evenly(large_trial):
    table = balance_table(large_trial.officers, large_trial.officer_months)
    tenure = table.set_index("covariate").loc["tenure_years_at_assignment"]
    assert tenure["n_treatment"] == tenure["n_control"] == 1000


def test_detects_a_planted_imbalance(large_trial):
    officers = large_trial.officers.copy()
    older = officers["arm"] == "treatment"
    officers.loc[older, "age_at_assignment"] += 3.0
    table = balance_table(officers, large_trial.officer_months).set_index("covariate")
    age = table.loc["age_at_assignment"]
    assert age["smd"] > 0.3
    assert age["p_value"] < 1e-6
    assert table.loc[table["group"] == "joint", "p_value"].iloc[0] < 1e-6


def test_pre_period_rates_are_officer_means_over_the_twelve_pre_months():
    trial = simulate_trial(TrialScenario(n_officers=40, n_blocks=2), seed=2)
    months = trial.officer_months
    pre = months[(months["month_start"] >= "2024-01-01") & (months["month_start"] < "2025-01-01")]
    expected = pre.groupby("arm")["calls_attended"].mean()  # equal months per officer
    table = balance_table(trial.officers, months).set_index("covariate")
    calls = table.loc["calls_per_month_pre"]
    assert calls["mean_treatment"] == pytest.approx(expected["treatment"])
    assert calls["mean_control"] == pytest.approx(expected["control"])


def test_standardized_mean_difference_by_hand():
    treatment = pd.Series([1.0, 2.0, 3.0])  # mean 2, var 1
    control = pd.Series([0.0, 1.0, 2.0, 3.0, 4.0])  # mean 2 - 0, var 2.5
    expected = (2.0 - 2.0) / np.sqrt((1.0 + 2.5) / 2)
    assert standardized_mean_difference(treatment, control) == pytest.approx(expected)
    shifted = standardized_mean_difference(treatment + 1.0, control)
    assert shifted == pytest.approx(1.0 / np.sqrt(1.75))
