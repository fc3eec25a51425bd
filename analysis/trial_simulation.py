"""Simulated trials of a department (analysis/planning.py plans with them): a wait-list trial
estimated by the primary estimator of force, the Poisson ANCOVA per officer-month served
(`analysis.power_primary.ancova_log_ratios`), or by the difference-in-differences robustness row
(`analysis.force_cells.poisson_did_month_fe`); and a stepped wedge estimated by the staggered
roll-out estimator on the officers serving throughout. `baseline` is an
`analysis.planning.PlanningBaseline`: rate per officer-month, NB2 dispersion across officers and
the monthly separation rate (turnover).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.memo import memoized
from analysis.power_analytic import ALPHA, two_sided_critical_value
from analysis.power_simulation import (
    check_estimator,
    fit_simulated_trials,
    power_row,
    waitlist_layout,
)

if TYPE_CHECKING:  # planning.py imports this module: the type only
    from analysis.planning import PlanningBaseline


def _base_counts(
    baseline: PlanningBaseline, rng, n_simulations: int, n_officers: int, n_months: int
):
    """(events at rate ratio 1, months served) of simulated officers: shape (sims, officers,
    months)."""
    alpha = baseline.dispersion
    size = (n_simulations, n_officers)
    propensity = rng.gamma(1.0 / alpha, alpha, size) if alpha > 1e-9 else np.ones(size)
    hazard = min(max(baseline.monthly_separation, 0.0), 1.0)
    # the month an officer leaves (geometric); serving until then
    leaves = rng.geometric(hazard, size) if hazard > 0 else np.full(size, n_months + 1)
    serving = (np.arange(n_months)[None, None, :] < leaves[..., None] - 1).astype(float)
    events = rng.poisson(baseline.rate_per_officer_month * propensity[..., None] * serving)
    return events, serving


def _thinned(rng, events: np.ndarray, treated: np.ndarray, ratios: Sequence[float]):
    """Events at each rate ratio (descending): treated cells thinned from the previous ratio."""
    current, previous = events, 1.0
    for ratio in sorted(ratios, reverse=True):
        keep = rng.binomial(current.astype(np.int64), min(ratio / previous, 1.0))
        current = np.where(treated, keep, current)
        previous = ratio
        yield float(ratio), current


@memoized
def waitlist_power(
    baseline: PlanningBaseline,
    rate_ratios: Sequence[float],
    *,
    n_officers: int,
    n_months: int,
    n_simulations: int = 200,
    seed: int = 0,
    alpha: float = ALPHA,
    estimator: str = "primary",
) -> pd.DataFrame:
    """Rejection rate per rate ratio (at most 1) of a wait-list trial of `n_officers` with
    `n_months` before and after the first arm's training, estimated by `estimator` (a key of
    `analysis.power_simulation.ESTIMATORS`)."""
    check_estimator(estimator)
    rng = np.random.default_rng(seed)
    n_total = 2 * n_months
    arm, post = waitlist_layout(n_officers, n_months)
    treated = (arm[:, None] * post[None, :] > 0)[None, ...]
    z = two_sided_critical_value(alpha)
    rejected = {float(r): 0 for r in rate_ratios}
    for start in range(0, n_simulations, 50):  # chunks: the arrays of big trials are large
        chunk = min(50, n_simulations - start)
        events, serving = _base_counts(baseline, rng, chunk, n_officers, n_total)
        for ratio, counts in _thinned(rng, events, treated, rate_ratios):
            with np.errstate(invalid="ignore"):  # a trial too small for a variance: no test
                log_ratio, std_error = fit_simulated_trials(
                    estimator, counts, serving, arm, post, serving
                )
                rejected[ratio] += int(np.nansum(np.abs(log_ratio) / std_error > z))
    return _power_frame(rejected, n_simulations, n_officers, n_months)


def stepped_wedge_cohorts(n_officers: int, n_months: int, n_cohorts: int) -> np.ndarray:
    """The period (1-based) each officer's cohort is trained: cohort g of `n_cohorts` at
    1 + round((g + 1) n_months / (n_cohorts + 1)), officers dealt to cohorts in turn."""
    starts = 1 + np.round((np.arange(n_cohorts) + 1) * n_months / (n_cohorts + 1))
    return starts[np.arange(n_officers) % n_cohorts]


@memoized
def stepped_wedge_power(
    baseline: PlanningBaseline,
    rate_ratios: Sequence[float],
    *,
    n_officers: int,
    n_months: int,
    n_cohorts: int = 6,
    n_simulations: int = 100,
    seed: int = 0,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Rejection rate per rate ratio of a stepped wedge of `n_officers` in `n_cohorts` over
    `n_months`, by the staggered estimator on the officers serving throughout."""
    from analysis.staggered import staggered

    rng = np.random.default_rng(seed)
    first = stepped_wedge_cohorts(n_officers, n_months, n_cohorts)
    periods = np.arange(1, n_months + 1)
    treated = (periods[None, :] >= first[:, None])[None, ...]
    rejected = {float(r): 0 for r in rate_ratios}
    events, serving = _base_counts(baseline, rng, n_simulations, n_officers, n_months)
    throughout = serving.min(axis=2) > 0  # the balanced panel: officers who never left
    for ratio, counts in _thinned(rng, events, treated, rate_ratios):
        for k in range(n_simulations):
            kept = np.flatnonzero(throughout[k])
            frame = pd.DataFrame(
                {
                    "uid": np.repeat(kept, n_months),
                    "period": np.tile(periods, len(kept)),
                    "first_trained": np.repeat(first[kept], n_months),
                    "force": counts[k, kept].ravel().astype(float),
                }
            )
            try:
                with warnings.catch_warnings():  # dropped singleton cohorts: said in the notes
                    warnings.simplefilter("ignore")
                    effect = staggered(
                        frame, unit="uid", time="period", cohort="first_trained", outcome="force"
                    )
            except ValueError:  # too few officers left to estimate: no rejection
                continue
            if math.isfinite(effect.p_value) and effect.p_value < alpha:
                rejected[ratio] += 1
    return _power_frame(rejected, n_simulations, n_officers, n_months)


def _power_frame(rejected: dict, n_simulations: int, n_officers: int, n_months: int):
    return pd.DataFrame(
        [
            power_row(ratio, rejected[ratio] / n_simulations, n_officers, n_months, n_simulations)
            for ratio in sorted(rejected)
        ]
    )
