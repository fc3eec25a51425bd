"""Power by simulation through the analysis' estimators of force.

Data-generating process of a simulated trial (every parameter estimated from the department's
own pre-period officer-months by `force_baseline`, or given):

* `n_officers` officers, half per arm; `n_months` months before the treatment arm's training
  and `n_months` after it (the wait-list design's pre and post periods);
* calls attended per officer-month ~ Poisson(calls_per_officer_month x c_i), c_i ~ Gamma with
  the department's between-officer variation of call volume;
* force reports per officer-month ~ Poisson(rate_per_call x calls x g_i x RR^(treated arm x
  post)), g_i ~ Gamma(1/dispersion, dispersion): officers differ in their propensity to use
  force (the NB2 overdispersion across officers), RR is the intent-to-treat rate ratio.

Each simulated trial is estimated by the primary estimator, the Poisson ANCOVA of force per
officer-month (`analysis.force_ancova.force_ancova_effect`; fitted on every trial at once by
`analysis.power_primary.ancova_log_ratios`), or with `estimator="did"` by the difference-in-
differences kept as a robustness row (`analysis.force.force_effect`; fast path
`analysis.force_cells.poisson_did_month_fe`, exact from its arm x month cells), which is the
estimator the analytic approximation (analysis/power_analytic.py) describes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.force_cells import poisson_did_month_fe
from analysis.memo import memoized
from analysis.power_analytic import ALPHA, analytic_power, two_sided_critical_value
from analysis.power_baseline import ForceBaseline
from analysis.power_primary import ancova_log_ratios

ESTIMATORS = {
    "primary": "Poisson ANCOVA of force per officer-month (the primary estimator)",
    "did": "Poisson difference-in-differences per call (the robustness row)",
}


def check_estimator(estimator: str) -> None:
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator {estimator!r}: one of {', '.join(ESTIMATORS)}")


def fit_simulated_trials(
    estimator: str, events, exposure, treated_arm, post, serving=None
) -> tuple[np.ndarray, np.ndarray]:
    """(log rate ratio, SE) of every simulated trial by `estimator`: the DiD on `exposure` (calls,
    or months served), the primary on the months `serving` (default: every month)."""
    if estimator == "did":
        return poisson_did_month_fe(events, exposure, treated_arm, post)
    return ancova_log_ratios(events, treated_arm, post, serving)


@dataclass(frozen=True)
class SimulatedCounts:
    """Simulated trials: arrays of shape (simulations, officers, months)."""

    events: np.ndarray
    calls: np.ndarray
    treated_arm: np.ndarray  # (officers,)
    post: np.ndarray  # (months,)


def waitlist_layout(n_officers: int, n_months: int) -> tuple[np.ndarray, np.ndarray]:
    """A simulated wait-list trial's design: the arm of every officer (every other one in the
    treatment arm, 1.0) and, for each of the 2 x `n_months` months, whether it is after the
    first arm's training (post, 1.0)."""
    treated_arm = (np.arange(n_officers) % 2 == 0).astype(float)
    post = (np.arange(2 * n_months) >= n_months).astype(float)
    return treated_arm, post


def power_row(
    rate_ratio: float, power: float, n_officers: int, n_months: int, n_simulations: int
) -> dict[str, float]:
    """One row of a simulated power table: the rejection rate and its Monte Carlo error."""
    return {
        "rate_ratio": rate_ratio,
        "n_officers": n_officers,
        "n_months": n_months,
        "power": power,
        "power_mc_error": math.sqrt(power * (1 - power) / n_simulations),
    }


def simulate_counts(
    baseline: ForceBaseline,
    rate_ratios: Sequence[float],
    *,
    n_officers: int,
    n_months: int,
    n_simulations: int,
    seed: int,
) -> dict[float, SimulatedCounts]:
    """Trials at every rate ratio from common random numbers: the treated-arm post events of
    the largest ratio are thinned for the smaller ones (so power curves are smooth)."""
    rng = np.random.default_rng(seed)
    n_total = 2 * n_months
    treated_arm, post = waitlist_layout(n_officers, n_months)
    shape_calls = baseline.calls_officer_shape
    size = (n_simulations, n_officers)
    call_factor = (
        rng.gamma(shape_calls, 1.0 / shape_calls, size) if math.isfinite(shape_calls) else 1.0
    )
    calls = rng.poisson(
        baseline.calls_per_officer_month * np.broadcast_to(call_factor, size)[..., None],
        (*size, n_total),
    ).astype(float)
    alpha = baseline.dispersion
    propensity = rng.gamma(1.0 / alpha, alpha, size) if alpha > 1e-9 else np.ones(size)
    top = max(max(rate_ratios), 1.0)
    treated_post = treated_arm[None, :, None] * post[None, None, :]
    mean = baseline.rate_per_call * calls * propensity[..., None]
    base = rng.poisson(mean * np.where(treated_post > 0, top, 1.0))
    # thinning: each treated-post event survives at ratio r with probability r / top
    uniforms_per_event = _event_uniforms(rng, base)
    result = {}
    for ratio in rate_ratios:
        kept = _thin(base, uniforms_per_event, ratio / top)
        events = np.where(treated_post > 0, kept, base).astype(float)
        result[float(ratio)] = SimulatedCounts(events, calls, treated_arm, post)
    return result


def _event_uniforms(rng: np.random.Generator, counts: np.ndarray) -> tuple[np.ndarray, ...]:
    flat = counts.ravel()
    cell = np.repeat(np.arange(flat.size), flat)
    return cell, rng.random(cell.size)


def _thin(counts: np.ndarray, uniforms, keep_probability: float) -> np.ndarray:
    cell, u = uniforms
    kept = np.bincount(cell[u < keep_probability], minlength=counts.size)
    return kept.reshape(counts.shape)


@memoized
def simulated_power(
    baseline: ForceBaseline,
    rate_ratios: Sequence[float],
    *,
    n_officers: int,
    n_months: int,
    n_simulations: int = 200,
    seed: int = 0,
    alpha: float = ALPHA,
    estimator: str = "primary",
) -> pd.DataFrame:
    """Rejection rate of the 5% two-sided Wald test of `estimator` (a key of `ESTIMATORS`) at
    each rate ratio (common random numbers); a trial whose rate ratio is not estimable (an arm or
    cell without events) counts as no rejection. `power_analytic` is the difference-in-
    differences' analytic approximation, given beside the simulated DiD only."""
    check_estimator(estimator)
    trials = simulate_counts(
        baseline,
        rate_ratios,
        n_officers=n_officers,
        n_months=n_months,
        n_simulations=n_simulations,
        seed=seed,
    )
    z = two_sided_critical_value(alpha)
    rows = []
    for ratio, trial in trials.items():
        log_ratio, std_error = fit_simulated_trials(
            estimator, trial.events, trial.calls, trial.treated_arm, trial.post
        )
        with np.errstate(invalid="ignore"):
            rejected = np.abs(log_ratio) / std_error > z
        power = float(np.nan_to_num(rejected, nan=0.0).mean())
        analytic = analytic_power(baseline, ratio, n_officers, n_months, alpha)
        rows.append(
            {
                **power_row(ratio, power, n_officers, n_months, n_simulations),
                "estimator": estimator,
                **({"power_analytic": analytic} if estimator == "did" else {}),
                "share_not_estimable": float(np.isnan(log_ratio).mean()),
                "mean_std_error_log": float(np.nanmean(std_error)),
                "sd_log_rate_ratio": float(np.nanstd(log_ratio, ddof=1)),
            }
        )
    return pd.DataFrame(rows)
