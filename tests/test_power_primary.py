"""The primary force estimator fitted on all simulated trials at once
(`analysis.power_primary.ancova_log_ratios`) is `force_ancova_effect` itself on a balanced panel:
the same estimate and CR2 standard error, trial by trial; and its intervals cover the planted
rate ratio at the nominal rate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.force_ancova import force_ancova_effect
from analysis.power import given_baseline, simulate_counts
from analysis.power_primary import ancova_log_ratios

MONTHS = pd.date_range("2020-01-01", periods=24, freq="MS").date


def _officer_months(trial, k: int) -> pd.DataFrame:
    events = trial.events[k]
    n_officers, n_months = events.shape
    officer = np.repeat(np.arange(n_officers), n_months)
    return pd.DataFrame(
        {
            "officer_id": [f"officer-{i}" for i in officer],
            "arm": np.where(trial.treated_arm[officer] > 0, "treatment", "control"),
            "block_id": "all",
            "month_start": np.tile(MONTHS[:n_months], n_officers),
            "is_active": True,
            "force_reports": events.ravel(),
        }
    )


@pytest.mark.parametrize("dispersion", [0.3, 2.0])
def test_the_fast_fit_is_the_primary_estimator_trial_by_trial(dispersion):
    baseline = given_baseline(0.03, dispersion=dispersion, n_officers=120, n_months=12)
    trial = simulate_counts(baseline, [0.7], n_officers=120, n_months=12, n_simulations=4, seed=11)[
        0.7
    ]
    log_ratio, std_error = ancova_log_ratios(trial.events, trial.treated_arm, trial.post)
    for k in range(4):
        effect = force_ancova_effect(_officer_months(trial, k), trial_start=MONTHS[12])
        assert log_ratio[k] == pytest.approx(effect.extras["log_rate_ratio"], abs=1e-8)
        assert std_error[k] == pytest.approx(effect.extras["std_error_log"], rel=1e-6)


def test_intervals_cover_the_planted_rate_ratio_at_the_nominal_rate():
    n = 1000
    baseline = given_baseline(0.04, dispersion=1.0, n_officers=200, n_months=12)
    trial = simulate_counts(baseline, [0.75], n_officers=200, n_months=12, n_simulations=n, seed=5)[
        0.75
    ]
    log_ratio, std_error = ancova_log_ratios(trial.events, trial.treated_arm, trial.post)
    covered = np.abs(log_ratio - math.log(0.75)) <= 1.959964 * std_error
    band = 3 * math.sqrt(0.95 * 0.05 / n)
    assert abs(covered.mean() - 0.95) < band
    # the SE is the spread of the estimates (not only the interval's share)
    assert np.std(log_ratio, ddof=1) / np.mean(std_error) == pytest.approx(1.0, abs=0.08)


def test_a_trial_with_an_arm_without_post_period_events_is_not_estimable():
    baseline = given_baseline(0.03, n_officers=20, n_months=12)
    trial = simulate_counts(baseline, [1.0], n_officers=20, n_months=12, n_simulations=2, seed=1)[
        1.0
    ]
    events = trial.events.copy()
    events[0][:, 12:][trial.treated_arm > 0] = 0.0
    log_ratio, std_error = ancova_log_ratios(events, trial.treated_arm, trial.post)
    assert math.isnan(log_ratio[0]) and math.isnan(std_error[0])
    assert math.isfinite(log_ratio[1])
