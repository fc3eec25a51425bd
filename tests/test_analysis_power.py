"""Power and MDE of the force analysis: the fast estimator is force_effect's, simulation agrees
with the analytic approximation, and the department's baseline is recovered."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from analysis.force import force_effect, poisson_did_month_fe
from analysis.power import (
    analytic_mde,
    analytic_power,
    force_baseline,
    force_power,
    given_baseline,
    required_officers,
    sample_size_table,
    simulate_counts,
    simulated_power,
)
from analysis.simulate import TrialScenario, simulate_trial
from middlestep.cli import main

BASELINE = given_baseline(0.03, dispersion=1.0, n_officers=300, n_months=12)


def _officer_months(events: np.ndarray, calls: np.ndarray, treated_arm: np.ndarray) -> pd.DataFrame:
    n_officers, n_months = events.shape
    months = pd.date_range("2024-01-01", periods=n_months, freq="MS")
    trial_month = months[n_months // 2]
    return pd.DataFrame(
        {
            "officer_id": np.repeat([f"o{i}" for i in range(n_officers)], n_months),
            "month_start": np.tile(months, n_officers),
            "force_reports": events.ravel(),
            "calls_attended": calls.ravel(),
            "arm": np.repeat(np.where(treated_arm > 0, "treatment", "control"), n_months),
            "cohort_month": np.repeat(
                np.where(treated_arm > 0, trial_month, trial_month + pd.DateOffset(months=12)),
                n_months,
            ),
        }
    )


def test_fast_estimator_equals_force_effect_with_month_fixed_effects():
    trials = simulate_counts(BASELINE, [0.7], n_officers=120, n_months=12, n_simulations=3, seed=4)
    trial = trials[0.7]
    trial.calls[0, :5, 3] = 0  # officer-months without calls are dropped by both
    log_ratio, std_error = poisson_did_month_fe(
        trial.events, trial.calls, trial.treated_arm, trial.post
    )
    for k in range(3):
        effect = force_effect(
            _officer_months(trial.events[k], trial.calls[k], trial.treated_arm),
            negative_binomial=False,
            active=None,
        )
        assert log_ratio[k] == pytest.approx(effect.extras["log_rate_ratio"], abs=1e-9)
        assert std_error[k] == pytest.approx(effect.extras["std_error_log"], rel=1e-8)


def test_simulated_did_power_agrees_with_its_analytic_approximation_within_mc_error():
    table = simulated_power(
        BASELINE,
        [0.5, 0.72, 1.0],
        n_officers=300,
        n_months=12,
        n_simulations=400,
        seed=11,
        estimator="did",
    )
    for row in table.itertuples():
        band = 3 * math.sqrt(row.power_analytic * (1 - row.power_analytic) / 400) + 0.02
        assert abs(row.power - row.power_analytic) < band, row
    size = table.loc[table["rate_ratio"] == 1.0, "power"].item()
    assert 0.01 <= size <= 0.10  # the test holds its level
    # the SE the estimator reports matches the spread of its estimates
    sd, se = table["sd_log_rate_ratio"].to_numpy(), table["mean_std_error_log"].to_numpy()
    assert np.all(np.abs(se / sd - 1) < 0.15)


def test_simulated_power_of_the_primary_holds_its_level_and_its_se_is_the_spread():
    table = simulated_power(
        BASELINE, [0.5, 0.72, 1.0], n_officers=300, n_months=12, n_simulations=400, seed=11
    )
    assert set(table["estimator"]) == {"primary"} and "power_analytic" not in table
    size = table.loc[table["rate_ratio"] == 1.0, "power"].item()
    assert 0.01 <= size <= 0.10
    sd, se = table["sd_log_rate_ratio"].to_numpy(), table["mean_std_error_log"].to_numpy()
    assert np.all(np.abs(se / sd - 1) < 0.15)
    assert table["power"].is_monotonic_decreasing  # ordered by rate ratio: larger effects first


def test_an_unknown_estimator_is_refused():
    with pytest.raises(ValueError, match="estimator"):
        simulated_power(BASELINE, [0.72], n_officers=20, n_months=6, estimator="ols")


def test_default_department_cannot_see_a_louisville_size_reduction():
    result = force_power(BASELINE, rate_ratio=0.72, n_simulations=200, seed=1)
    assert result.power < 0.35 and result.power_did < 0.35 and result.power_analytic < 0.35
    assert 0.3 < result.mde_rate_ratio < 0.6
    assert result.mde_rate_ratio_did == pytest.approx(result.mde_rate_ratio_analytic, abs=0.06)
    # the primary (post-period ANCOVA) detects smaller reductions than the DiD at this baseline
    assert result.mde_rate_ratio > result.mde_rate_ratio_did + 0.03
    record = result.to_dict()
    for name in ("baseline_rate", "n_officers", "n_months", "rate_ratio", "power"):
        assert name in record
    assert {
        "power_mc_error",
        "mde_rate_ratio",
        "power_did",
        "mde_rate_ratio_did",
        "power_analytic",
        "mde_rate_ratio_analytic",
    } <= set(record)


def test_analytic_mde_has_80_percent_power_and_sizes_grow_as_effects_shrink():
    mde = analytic_mde(BASELINE, 300, 12)
    assert analytic_power(BASELINE, mde, 300, 12) == pytest.approx(0.8, abs=0.005)
    table = sample_size_table(BASELINE)
    assert list(table["rate_ratio"]) == [0.72, 0.8, 0.9]
    assert table["officers_needed"].is_monotonic_increasing
    needed = required_officers(BASELINE, 0.72, 12)
    assert analytic_power(BASELINE, 0.72, needed, 12) >= 0.8
    assert analytic_power(BASELINE, 0.72, needed - 2, 12) < 0.8


def test_baseline_recovers_rate_and_overdispersion_of_a_simulated_department():
    scenario = TrialScenario(n_officers=2000, force_overdispersion=2.0)  # alpha = 1 / 2
    trial = simulate_trial(scenario, seed=3)
    baseline = force_baseline(trial.officer_months)
    seasonal_mean = 1.0  # the simulator's seasonal factor averages 1 over a year
    assert baseline.rate_per_call == pytest.approx(scenario.force_per_call * seasonal_mean, rel=0.1)
    assert baseline.dispersion == pytest.approx(0.5, abs=0.15)
    assert baseline.n_officers == 2000 and baseline.n_months == 12


def test_cli_power_from_parameters_prints_the_json_fields(capsys):
    code = main(
        [
            "power",
            "--baseline-rate",
            "0.03",
            "--rate-ratio",
            "0.72",
            "--simulations",
            "100",
            "--json",
        ]
    )
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    assert document["rate_ratio"] == 0.72 and document["n_officers"] == 300
    assert 0 <= document["power"] <= 1 and document["power_mc_error"] > 0
    assert document["mde_rate_ratio"] < 1 and len(document["sample_size"]) == 3


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--baseline-rate", "-1"], "--baseline-rate: -1 is not above zero"),
        (["--baseline-rate", "0.03", "--simulations", "0"], "--simulations: 0 is not above zero"),
        (["--baseline-rate", "0.03", "--rate-ratio", "0"], "--rate-ratio: 0 is not above zero"),
        (["--baseline-rate", "0.03", "--officers", "1"], "at least 2 officers"),
        (["--baseline-rate", "0.03", "--months", "0"], "--months: 0 is not above zero"),
    ],
)
def test_cli_power_refuses_impossible_trials_with_a_usage_line(arguments, message, capsys):
    """They ended in a math domain error or a division by zero deep in the simulation."""
    with pytest.raises(SystemExit) as stopped:
        main(["power", *arguments])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
