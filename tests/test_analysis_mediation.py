"""Mediation: the IKY sensitivity formula, recovery of a planted path from communication to
force in encounters, and no mediated effect where none was planted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.mediation import (
    _bootstrap_draws,
    encounter_mediation,
    linear_mediation,
    officer_mediation,
)
from benchmarks.planted import cached_department


def _linear_data(seed: int, rho: float = 0.0, n: int = 4000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, n).astype(float)
    errors = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], n)
    m = 0.5 * t + errors[:, 0]
    y = 0.3 * t + 0.8 * m + errors[:, 1]
    return pd.DataFrame({"t": t, "m": m, "y": y, "cluster": np.arange(n) // 4})


def test_linear_mediation_recovers_acme_ade_and_the_sensitivity_curve_crosses_zero_at_rho_tilde():
    result = linear_mediation(
        _linear_data(1), treatment="t", mediator="m", outcome="y", n_bootstrap=100, seed=1
    )
    assert result.acme == pytest.approx(0.4, abs=0.08)  # 0.5 x 0.8
    assert result.ade == pytest.approx(0.3, abs=0.1)
    assert result.acme + result.ade == pytest.approx(result.total, abs=1e-9)
    assert result.acme_ci[0] < 0.4 < result.acme_ci[1]
    curve = result.sensitivity.set_index("rho")["acme"]
    assert curve.loc[0.0] == pytest.approx(result.acme, abs=1e-9)  # rho = 0: the product
    zero = np.interp(0.0, curve.to_numpy()[::-1], curve.index.to_numpy()[::-1])
    assert zero == pytest.approx(result.rho_at_zero_acme, abs=0.03)


def test_a_confounded_mediator_biases_the_acme_and_rho_at_the_truth_corrects_it():
    result = linear_mediation(
        _linear_data(2, rho=0.4), treatment="t", mediator="m", outcome="y", n_bootstrap=20
    )
    assert result.acme > 0.55  # biased upwards by the correlated errors
    curve = result.sensitivity.set_index("rho")["acme"]
    assert curve.loc[0.4] == pytest.approx(0.4, abs=0.08)  # the true rho recovers it


def test_planted_path_from_conversation_to_force_is_recovered_in_encounters():
    department = cached_department("planted", seed=5)
    truth = department["truth"]["outcomes"]["force_used"]["estimand"]  # all of it mediated
    result = encounter_mediation(department["encounters"], n_bootstrap=100, seed=3)
    assert result.acme < 0 and result.acme_ci[1] < 0
    # coder error in the mediator attenuates the ACME (and leaks into the ADE)
    assert 1.5 * truth < result.acme < 0.5 * truth  # truth < 0
    assert result.ade_ci[0] < 0 < result.ade_ci[1] or abs(result.ade) < 0.02
    assert "sequential ignorability" in result.summary()


def test_no_mediated_force_effect_at_officer_level_where_none_was_planted():
    department = cached_department("planted", seed=5)
    result = officer_mediation(
        department["encounters"], department["officer_months"], n_bootstrap=100, seed=3
    )
    assert result.acme_ci[0] < 0 < result.acme_ci[1]
    assert result.n_units > 200
    record = result.to_dict()
    assert {"acme", "ade", "rho_at_zero_acme", "assumption", "sensitivity"} <= set(record)


def test_bootstrap_draws_equal_refits_on_resampled_officers():
    # the draws come from per-officer cross products weighted by each draw's officer counts;
    # refitting least squares on the resampled rows must give the same ACME, ADE and total,
    # also with a control that is constant in every row (minimum-norm fits, as the point fit)
    data = _linear_data(3, n=600).assign(never=0.0)
    result = linear_mediation(
        data, treatment="t", mediator="m", outcome="y", controls=["never"], n_bootstrap=40
    )
    rng = np.random.default_rng(0)
    members = [np.flatnonzero(data["cluster"].to_numpy() == g) for g in range(150)]
    draws = []
    for _ in range(40):
        rows = np.concatenate([members[g] for g in rng.integers(0, 150, 150)])
        sample = data.iloc[rows]
        design = np.column_stack([np.ones(len(sample)), sample["never"], sample["t"]])
        beta2 = np.linalg.lstsq(design, sample["m"], rcond=None)[0][-1]
        outcome = np.linalg.lstsq(np.column_stack([design, sample["m"]]), sample["y"], rcond=None)
        total = np.linalg.lstsq(design, sample["y"], rcond=None)[0][-1]
        draws.append((beta2 * outcome[0][-1], outcome[0][-2], total))
    expected = np.percentile(draws, [2.5, 97.5], axis=0)
    actual = np.array([result.acme_ci, result.ade_ci, result.total_ci]).T
    assert actual == pytest.approx(expected, abs=1e-10)


def test_a_draw_without_treated_officers_is_left_out_of_the_intervals():
    data = _linear_data(4, n=40)  # 10 officers: some draws take no treated one
    data["t"] = (data["cluster"] < 2).astype(float)
    result = linear_mediation(data, treatment="t", mediator="m", outcome="y", n_bootstrap=200)
    assert np.isfinite(result.acme_ci).all() and np.isfinite(result.ade_ci).all()
    draws = _bootstrap_draws(
        np.ones((40, 1)),
        data["t"].to_numpy(),
        data["m"].to_numpy(),
        data["y"].to_numpy(),
        data["cluster"].to_numpy(),
        200,
        0,
    )
    rng = np.random.default_rng(0)
    no_treated = [not (rng.integers(0, 10, 10) < 2).any() for _ in range(200)]
    assert any(no_treated)
    assert np.isnan(draws[no_treated]).all() and np.isfinite(draws[~np.array(no_treated)]).all()


def test_proportion_mediated_only_when_the_total_effects_interval_excludes_zero():
    data = _linear_data(5)
    shown = linear_mediation(data, treatment="t", mediator="m", outcome="y", n_bootstrap=100)
    assert shown.total_ci[0] > 0
    assert shown.proportion_mediated == pytest.approx(shown.acme / shown.total)
    # a direct effect that cancels the mediated one: the total is about zero
    null_total = data.assign(y=data["y"] - 0.7 * data["t"])
    hidden = linear_mediation(null_total, treatment="t", mediator="m", outcome="y", n_bootstrap=100)
    assert hidden.total_ci[0] < 0 < hidden.total_ci[1]
    assert np.isnan(hidden.proportion_mediated)
