"""Simulated staggered roll-outs with planted effects, for tests and benchmarks.

Units are assigned to cohorts at random (so the design is a randomized staggered roll-out);
outcomes are a unit effect plus a common period effect plus noise, plus `effect(event time)`
once treated. With `counts=True` outcomes are Poisson counts with a low base rate, shaped like
monthly complaints or use-of-force reports per officer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd


def simulate_staggered_panel(
    n_units: int = 400,
    n_periods: int = 10,
    cohorts: Sequence[float] = (3, 5, 7, np.inf),
    *,
    effect: Callable[[np.ndarray], np.ndarray] | float = 1.0,
    noise_sd: float = 1.0,
    unit_sd: float = 1.0,
    counts: bool = False,
    base_rate: float = 0.05,
    seed: int = 0,
) -> pd.DataFrame:
    """A long balanced panel with columns unit, period (1..T), cohort, outcome, effect.

    `effect` maps event time (period - cohort, >= 0 where treated) to the treatment effect; a
    number is a constant effect. `effect` in the output is each cell's planted effect (0 before
    treatment), so averages of it over the cells of an estimand give the true value.
    """
    rng = np.random.default_rng(seed)
    cohort_values = np.asarray(cohorts, dtype=float)
    unit_cohort = cohort_values[rng.integers(len(cohort_values), size=n_units)]
    periods = np.arange(1, n_periods + 1, dtype=float)
    event_time = periods[None, :] - unit_cohort[:, None]
    treated = event_time >= 0
    planted = np.zeros_like(event_time)
    if callable(effect):
        planted[treated] = effect(event_time[treated])
    else:
        planted[treated] = float(effect)
    if counts:
        unit_rate = base_rate * rng.gamma(2.0, 0.5, size=n_units)
        season = 1.0 + 0.2 * np.sin(2 * np.pi * periods / 12.0)
        rate = unit_rate[:, None] * season[None, :] * np.exp(planted)
        outcome = rng.poisson(rate).astype(float)
        planted = rate - unit_rate[:, None] * season[None, :]
    else:
        unit_level = rng.normal(0.0, unit_sd, size=n_units)
        trend = 0.3 * periods + rng.normal(0.0, 0.5, size=n_periods)
        noise = rng.normal(0.0, noise_sd, size=(n_units, n_periods))
        outcome = unit_level[:, None] + trend[None, :] + noise + planted
    return pd.DataFrame(
        {
            "unit": np.repeat(np.arange(1, n_units + 1), n_periods),
            "period": np.tile(periods.astype(int), n_units),
            "cohort": np.repeat(unit_cohort, n_periods),
            "outcome": outcome.ravel(),
            "effect": planted.ravel(),
        }
    )


def simulate_chicago_sized_panel(seed: int = 0, n_outcomes: int = 3) -> pd.DataFrame:
    """A panel the size of the Chicago main sample: 5,537 units x 72 months, 48 cohorts in
    15..72 and no never-treated group, with `n_outcomes` monthly count outcomes
    `outcome_1, ...` (base rate about 0.05, a 10% reduction once treated)."""
    rng = np.random.default_rng(seed)
    n_units, n_periods = 5537, 72
    cohort_values = np.sort(rng.choice(np.arange(15, 73), size=48, replace=False)).astype(float)
    unit_cohort = cohort_values[rng.integers(len(cohort_values), size=n_units)]
    periods = np.arange(1, n_periods + 1, dtype=float)
    treated = periods[None, :] >= unit_cohort[:, None]
    panel = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(1, n_units + 1), n_periods),
            "period": np.tile(periods.astype(int), n_units),
            "cohort": np.repeat(unit_cohort, n_periods),
        }
    )
    for k in range(1, n_outcomes + 1):
        unit_rate = 0.05 * rng.gamma(2.0, 0.5, size=n_units)
        rate = unit_rate[:, None] * np.where(treated, 0.9, 1.0)
        panel[f"outcome_{k}"] = rng.poisson(rate).astype(float).ravel()
    return panel
