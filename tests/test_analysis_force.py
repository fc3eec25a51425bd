"""The officer-month rate-ratio estimator for force reports and complaints."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from analysis.force import force_effect
from analysis.simulate import TrialScenario, simulate_trial


def toy_officer_months() -> pd.DataFrame:
    """Two officers per arm, one pre month (Dec 2024) and one post month (Jan 2025)."""
    rows = []
    counts = {  # (arm, month) -> [(force_reports, calls_attended) per officer]
        ("control", "2024-12-01"): [(2, 50), (2, 50)],
        ("control", "2025-01-01"): [(3, 60), (1, 40)],
        ("treatment", "2024-12-01"): [(4, 80), (0, 20)],
        ("treatment", "2025-01-01"): [(1, 50), (0, 50)],
    }
    for (arm, month), officers in counts.items():
        for position, (force, calls) in enumerate(officers):
            rows.append(
                {
                    "officer_id": f"{arm}-{position}",
                    "arm": arm,
                    "month_start": pd.Timestamp(month),
                    "cohort_month": pd.Timestamp(
                        "2025-01-01" if arm == "treatment" else "2025-02-01"
                    ),
                    "force_reports": force,
                    "complaints": force,
                    "calls_attended": calls,
                    "is_active": True,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def large_trial():
    scenario = TrialScenario(
        n_officers=1500,
        force_per_call=0.15 / 60.0,
        force_rate_ratio=0.7,
        complaints_per_call=0.1 / 60.0,
        complaints_rate_ratio=1.25,
    )
    return simulate_trial(scenario, seed=21)


def test_saturated_toy_panel_gives_the_ratio_of_rate_ratios():
    effect = force_effect(toy_officer_months(), pre_months=1, negative_binomial=False)
    # treatment: 1/100 after, 4/100 before; control: 4/100 after, 4/100 before
    assert effect.estimate == pytest.approx((1 / 100) / (4 / 100) / ((4 / 100) / (4 / 100)))
    assert effect.scale == "rate_ratio"
    assert effect.extras["rate_treatment_post"] == pytest.approx(0.01)
    assert effect.extras["window_post_end"] == "2025-01-01"
    assert effect.n_units == 4
    assert effect.n_obs == 8
    assert effect.ci_low < effect.estimate < effect.ci_high


def test_officer_months_without_calls_are_dropped_and_counted():
    months = toy_officer_months()
    extra = months.iloc[[0]].assign(calls_attended=0, force_reports=1)
    effect = force_effect(pd.concat([months, extra]), pre_months=1, negative_binomial=False)
    assert effect.extras["n_obs_zero_exposure"] == 1
    assert effect.extras["events_zero_exposure"] == 1
    assert effect.n_obs == 8
    assert effect.estimate == pytest.approx(0.25)


def test_months_outside_the_window_and_inactive_months_are_left_out():
    months = toy_officer_months()
    late = months.assign(month_start=pd.Timestamp("2025-03-01"), force_reports=50)
    early = months.assign(month_start=pd.Timestamp("2024-06-01"), force_reports=50)
    inactive = months.assign(is_active=False, force_reports=50, officer_id="gone")
    effect = force_effect(
        pd.concat([months, late, early, inactive]), pre_months=1, negative_binomial=False
    )
    assert effect.estimate == pytest.approx(0.25)
    assert effect.n_obs == 8


def test_explicit_dates_within_the_month_use_that_month():
    effect = force_effect(
        toy_officer_months(),
        trial_start=date(2025, 1, 15),
        control_start=date(2025, 2, 10),
        pre_months=1,
        negative_binomial=False,
    )
    assert effect.estimate == pytest.approx(0.25)


def test_window_defaults_to_twelve_months_either_side_of_the_trial_start(large_trial):
    effect = force_effect(large_trial.officer_months, negative_binomial=False)
    assert effect.extras["window_pre_start"] == "2024-01-01"
    assert effect.extras["window_post_start"] == "2025-01-01"
    assert effect.extras["window_post_end"] == "2025-12-01"
    assert effect.n_obs + effect.extras["n_obs_zero_exposure"] == 1500 * 24


@pytest.mark.parametrize("outcome", ["force_reports", "complaints"])
def test_recovers_the_planted_rate_ratio(large_trial, outcome):
    effect = force_effect(large_trial.officer_months, outcome=outcome, negative_binomial=False)
    truth = large_trial.truth[outcome]
    z = (effect.extras["log_rate_ratio"] - np.log(truth)) / effect.extras["std_error_log"]
    assert abs(z) < 3.5, (effect.estimate, truth)
    assert effect.extras["std_error_log"] < 0.08
    assert effect.outcome == outcome


def test_negative_binomial_check_agrees_with_poisson():
    trial = simulate_trial(TrialScenario(force_per_call=0.1 / 60.0), seed=4)
    effect = force_effect(trial.officer_months)
    assert effect.extras["nb_converged"]
    assert effect.extras["nb_rate_ratio"] == pytest.approx(effect.estimate, rel=0.1)
    assert effect.extras["nb_alpha"] > 0


def test_planted_null_on_force_is_rarely_significant():
    rejections = 0
    for seed in range(12):
        trial = simulate_trial(TrialScenario(n_officers=150), seed=300 + seed)
        effect = force_effect(trial.officer_months, negative_binomial=False)
        rejections += effect.p_value < 0.05
    # expected 0.6 of 12; 4 or more has probability < 0.003 under a correct 5% test
    assert rejections <= 3


def test_no_events_in_a_cell_gives_an_undefined_ratio_not_an_error():
    months = toy_officer_months()
    months.loc[months["arm"] == "treatment", "force_reports"] = 0
    effect = force_effect(months, pre_months=1, negative_binomial=False)
    assert np.isnan(effect.estimate)
    assert effect.to_dict()["estimate"] is None


def test_closed_form_nb2_derivatives_equal_statsmodels_numerical_ones():
    """The NB check's model only replaces how statsmodels computes its derivatives."""
    import statsmodels.api as sm

    from analysis.force_negative_binomial import NegativeBinomial2

    rng = np.random.default_rng(3)
    exog = sm.add_constant(rng.normal(size=(400, 2)))
    offset = np.log(rng.uniform(5, 50, 400))
    endog = rng.negative_binomial(2, 2 / (2 + np.exp(-2.5 + offset + exog[:, 1] * 0.3)))
    params = np.array([-2.4, 0.25, -0.1, 0.6])
    ours = NegativeBinomial2(endog, exog, offset=offset, loglike_method="nb2")
    theirs = sm.NegativeBinomial(endog, exog, offset=offset, loglike_method="nb2")
    for transformed in (False, True):  # alpha itself, or log alpha as in some optimizers
        ours._transparams = theirs._transparams = transformed
        np.testing.assert_allclose(ours.score_obs(params), theirs.score_obs(params), rtol=1e-6)
        np.testing.assert_allclose(ours.hessian(params), theirs.hessian(params), rtol=1e-6)


@pytest.mark.parametrize("outcome", ["force_reports", "complaints"])
def test_the_cell_fit_equals_statsmodels_glm_on_every_officer_month(large_trial, outcome):
    """The Poisson fit from arm x month cells gives statsmodels' officer-month GLM exactly:
    coefficients and cluster-robust standard errors (its small-sample correction included)."""
    import statsmodels.api as sm

    from analysis.force_cells import month_fe_design, poisson_cluster_fit
    from analysis.force_window import window_panel
    from analysis.inference import cluster_codes

    data, _, _ = window_panel(large_trial.officer_months, outcome)
    groups = cluster_codes(data["cluster"])
    params, std_errors = poisson_cluster_fit(data, groups)
    full = sm.GLM(
        data["y"],
        month_fe_design(data),
        family=sm.families.Poisson(),
        offset=np.log(data["exposure"].to_numpy()),
    ).fit(cov_type="cluster", cov_kwds={"groups": groups})
    pd.testing.assert_index_equal(params.index, full.params.index)
    np.testing.assert_allclose(params, full.params, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(std_errors, full.bse, rtol=1e-6)


def test_a_month_without_events_is_left_out_of_the_nb_check_which_converges(large_trial):
    """The night's month holds a day of calls and no force report yet: its fixed effect has no
    finite value, which used to keep the NB2 check from converging."""
    months = large_trial.officer_months.copy()
    month = pd.to_datetime(months["month_start"])
    post = force_effect(months).extras["window_post_end"]
    last = month == pd.Timestamp(post)
    months.loc[last, "force_reports"] = 0
    effect = force_effect(months)
    assert effect.extras["nb_converged"]
    assert effect.extras["nb_months_without_events"] == 1
    assert effect.extras["nb_rate_ratio"] == pytest.approx(effect.estimate, rel=0.1)


def test_nb_check_is_finite_when_newton_would_step_alpha_below_zero():
    """Little overdispersion (gamma shape 50): from alpha = 1 Newton steps alpha below zero, the
    likelihood turns NaN and statsmodels still says converged. The check falls back to BFGS on
    log(alpha) and agrees with the Poisson estimate (NB2 with alpha near 0 is Poisson)."""
    trial = simulate_trial(TrialScenario(force_overdispersion=50.0), seed=0)
    effect = force_effect(trial.officer_months, outcome="force_reports")
    assert effect.extras["nb_method"].startswith("bfgs")
    assert math.isfinite(effect.extras["nb_rate_ratio"]) and effect.extras["nb_alpha"] > 0
    assert effect.extras["nb_ci_low"] < effect.extras["nb_rate_ratio"] < effect.extras["nb_ci_high"]
    assert effect.extras["nb_rate_ratio"] == pytest.approx(effect.estimate, rel=0.05)
