"""The randomization-based joint balance test: its size over re-randomizations of a real-looking
roster (rare categories included), and its power against a planted imbalance."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.balance import officer_covariates
from analysis.balance_randomization import (
    balance_statistics,
    randomization_balance_test,
    roster_balance_test,
)
from analysis.randomization import block_permutations
from analysis.simulate import TrialScenario, simulate_trial

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's benchmarks/

from benchmarks.planted import cached_department  # noqa: E402

N_RERANDOMIZATIONS = 1000
INNER_PERMUTATIONS = 199  # p = (1 + #) / 200: P(p <= 0.05) is exactly 10/200 under the null


def _officer_covariate_names(groups: dict[str, str]) -> list[str]:
    return [name for name, group in groups.items() if group != "sso"]


@pytest.fixture(scope="module")
def roster():
    """The generator's default department as `officer_covariates` sees it, with a category of
    only 4 officers (sex 'unknown'), as on the demo's roster."""
    department = cached_department("default")
    simulated = department["simulated"]
    officers = department["officers"].merge(
        simulated.officers.assign(officer_id=lambda f: f["officer_id"].astype(str)),
        on="officer_id",
    )
    cohort_on = pd.to_datetime(officers["cohort_on"])
    officers["tenure_years_at_assignment"] = (
        cohort_on - pd.to_datetime(officers["appointed_on"])
    ).dt.days / 365.25
    officers["age_at_assignment"] = cohort_on.dt.year - officers["birth_year"]
    officers["sex"] = officers["sex"].astype(str).replace("unknown", "male")
    officers.loc[officers.index[[3, 50, 120, 260]], "sex"] = "unknown"
    covariates, groups = officer_covariates(officers, department["officer_months"])
    return covariates, _officer_covariate_names(groups)


def test_roster_has_a_four_officer_category_and_pre_period_rates(roster):
    covariates, names = roster
    assert covariates["sex_unknown"].sum() == 4
    assert {"sex_unknown", "force_reports_per_officer_month_pre"} <= set(names)
    assert covariates["block"].nunique() == 12


def test_size_is_five_percent_over_1000_within_block_rerandomizations(roster):
    covariates, names = roster
    treated = covariates["treated_arm"].to_numpy()
    assignments = block_permutations(treated, covariates["block"].to_numpy(), N_RERANDOMIZATIONS, 7)
    rejections = 0
    for draw, assignment in enumerate(assignments):
        rerandomized = covariates.assign(treated_arm=assignment)
        test = randomization_balance_test(
            rerandomized, names, n_permutations=INNER_PERMUTATIONS, seed=1000 + draw
        )
        rejections += test.p_value <= 0.05
    rate = rejections / N_RERANDOMIZATIONS
    print(f"\nrejection rate at 5% over {N_RERANDOMIZATIONS} re-randomizations: {rate:.3f}")
    # Monte Carlo SE of a 5% rate over 1,000 draws is 0.7 points
    assert 0.035 <= rate <= 0.065


def test_statistic_is_the_stratified_mahalanobis_distance_with_chi_square_reference(roster):
    covariates, names = roster
    test = randomization_balance_test(covariates, names, n_permutations=999, seed=3)
    # the sex levels add to one and one race level is redundant: the rank drops by two
    assert test.df == len(test.covariates) - 2
    assert test.n_officers == 300 and test.n_blocks == 12
    # with 300 officers the chi-square reference is close to the randomization distribution
    assert abs(test.p_value - test.p_value_chi2) < 0.1
    assert 0.0 < test.p_value <= 1.0


def test_permuted_statistics_average_the_rank_of_the_covariance(roster):
    covariates, names = roster
    test = randomization_balance_test(covariates, names, n_permutations=10, seed=0)
    # E[d' V^+ d] = rank(V) exactly under the randomization distribution
    from analysis.balance_randomization import (
        _centred_within_blocks,
        _imputed_covariates,
        _precision,
    )

    values, _ = _imputed_covariates(covariates, names)
    blocks = covariates["block"].to_numpy()
    centred = _centred_within_blocks(values, blocks)
    precision, df = _precision(centred, covariates["treated_arm"].to_numpy(), blocks)
    draws = block_permutations(covariates["treated_arm"].to_numpy(), blocks, 4000, 11)
    mean = balance_statistics(draws, centred, precision).mean()
    assert df == test.df
    assert abs(mean - df) < 0.05 * df


def test_detects_a_planted_imbalance_in_age():
    trial = simulate_trial(TrialScenario(n_officers=300, n_blocks=10), seed=5)
    balanced = roster_balance_test(trial.officers, trial.officer_months, seed=1)
    officers = trial.officers.copy()
    officers.loc[officers["arm"] == "treatment", "age_at_assignment"] += 2.5
    imbalanced = roster_balance_test(officers, trial.officer_months, seed=1)
    assert balanced.p_value > 0.05
    assert imbalanced.p_value < 0.01


def test_officers_without_pre_period_months_are_kept_with_a_missing_indicator():
    trial = simulate_trial(TrialScenario(n_officers=200, n_blocks=10), seed=2)
    months = trial.officer_months
    newcomers = trial.officers["officer_id"].iloc[:15]
    months = months[~(months["officer_id"].isin(newcomers) & (months["month_start"] < "2025-01"))]
    covariates, groups = officer_covariates(trial.officers, months)
    test = randomization_balance_test(
        covariates, _officer_covariate_names(groups), n_permutations=200
    )
    assert test.n_officers == 200
    assert "calls_per_month_pre" in test.imputed
    assert "calls_per_month_pre_missing" in test.covariates
    assert np.isfinite(test.statistic)
