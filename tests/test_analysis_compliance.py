"""Complier effects by 2SLS: the Wald ratio, the clustered first stage, and recovery of the
effect of training on compliers under planted non-compliance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.compliance import complier_effect, complier_force_effect, two_stage_least_squares
from analysis.simulate import TrialScenario, simulate_trial
from benchmarks.planted import cached_department


def test_just_identified_2sls_is_the_ratio_of_reduced_form_to_first_stage():
    rng = np.random.default_rng(0)
    n = 3000
    z = rng.integers(0, 2, n).astype(float)
    u = rng.normal(size=n)
    d = ((z * 0.7 + 0.1 + 0.2 * u) > rng.random(n)).astype(float)  # endogenous: depends on u
    y = 2.0 * d + u + rng.normal(size=n)
    clusters = np.repeat(np.arange(n // 3), 3)
    fit = two_stage_least_squares(y, d, z, np.ones((n, 1)), clusters)
    reduced = y[z == 1].mean() - y[z == 0].mean()
    first = d[z == 1].mean() - d[z == 0].mean()
    assert fit.estimate == pytest.approx(reduced / first, rel=1e-9)
    assert fit.first_stage == pytest.approx(first, rel=1e-9)
    assert fit.first_stage_f > 100
    assert abs(fit.estimate - 2.0) < 3 * fit.std_error
    ols = np.polyfit(d, y, 1)[0]
    assert ols > 2.2  # OLS is confounded by u, 2SLS is not


def test_complier_effect_recovers_the_planted_effect_among_the_trained():
    department = cached_department("planted", seed=5)
    encounters, officers = department["encounters"], department["officers"]
    truth = department["truth"]["outcomes"]["personal_conversation"]
    effect = complier_effect(encounters, officers, outcome="personal_conversation", kind="binary")
    assert effect.ci_low <= truth["estimand_if_trained"] <= effect.ci_high
    # with 35% never trained, the ITT is diluted and the complier effect is not
    assert effect.extras["itt_linear"] < 0.8 * effect.estimate
    assert 0.5 < effect.extras["first_stage"] < 0.75  # about 65% x 95% of post exposure
    assert effect.extras["first_stage_f"] > 100
    assert effect.to_dict()["first_stage_f"] == effect.extras["first_stage_f"]


def test_complier_force_effect_recovers_the_rate_ratio_of_trained_officers():
    estimates = []
    for seed in range(3):
        trial = simulate_trial(
            TrialScenario(
                n_officers=1000, compliance=0.6, force_rate_ratio=0.5, force_per_call=0.2 / 60
            ),
            seed=seed,
        )
        months = trial.officer_months
        effect = complier_force_effect(months)
        assert effect.extras["first_stage"] == pytest.approx(0.6, abs=0.06)
        estimates.append(effect.estimate)
        assert effect.ci_low <= 0.5 <= effect.ci_high
    assert np.mean(estimates) == pytest.approx(0.5, abs=0.1)


def test_no_effect_among_compliers_when_nothing_was_planted():
    trial = simulate_trial(TrialScenario(n_officers=600, compliance=0.7), seed=4)
    encounters = trial.encounters.assign(
        encounter_on=np.where(
            trial.encounters["study_period"] == "pre",
            pd.Timestamp("2024-06-01"),
            pd.Timestamp("2025-06-01"),
        )
    )
    trained = (trial.officers["arm"] == "treatment") & (
        np.random.default_rng(0).random(len(trial.officers)) < 0.7
    )
    officers = trial.officers.assign(
        first_trained_on=pd.Series(pd.Timestamp("2025-01-05"), index=trial.officers.index).where(
            trained
        )
    )
    effect = complier_effect(encounters, officers, outcome="explained_reason", kind="binary")
    assert effect.extras["first_stage"] == pytest.approx(0.7, abs=0.08)
    assert effect.ci_low < 0 < effect.ci_high
