"""Power and minimum detectable effect (MDE) of the wait-list trial for a rare count outcome.

The question a department asks after a null on force: was the trial big enough to see an effect
at all? The answer here is by simulation through the primary estimator of force
(`analysis.force_ancova.force_ancova_effect`: Poisson ANCOVA of the post-period officer-month
count on the arm, calendar-month effects and the officer's pre-period rate, officer-clustered
CR2, 5% two-sided Wald test). Beside it, the same for the difference-in-differences kept as a
robustness row (`analysis.force.force_effect`, per call) and that estimator's analytic
approximation.

The pieces: the department's baseline (analysis/power_baseline.py), the simulation through the
estimator (analysis/power_simulation.py, with its data-generating process) and the analytic
approximation with the sample-size table (analysis/power_analytic.py, with its derivation).
This module combines them into one `PowerResult` (`force_power`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from analysis.memo import memoized
from analysis.power_analytic import (
    ALPHA,
    LOUISVILLE_RATE_RATIO,
    SIZE_TABLE_RATE_RATIOS,
    TARGET_POWER,
    analytic_mde,
    analytic_power,
    analytic_std_error,
    power_curve,
    required_months,
    required_officers,
    sample_size_table,
)
from analysis.power_baseline import ForceBaseline, force_baseline, given_baseline, nb2_dispersion
from analysis.power_simulation import (
    ESTIMATORS,
    SimulatedCounts,
    simulate_counts,
    simulated_power,
)
from analysis.results import json_value

# the pieces' names stay importable from here
__all__ = [
    "ALPHA",
    "LOUISVILLE_RATE_RATIO",
    "SIZE_TABLE_RATE_RATIOS",
    "TARGET_POWER",
    "ForceBaseline",
    "PowerResult",
    "SimulatedCounts",
    "analytic_mde",
    "analytic_power",
    "analytic_std_error",
    "force_baseline",
    "force_power",
    "given_baseline",
    "nb2_dispersion",
    "power_curve",
    "required_months",
    "required_officers",
    "sample_size_table",
    "simulate_counts",
    "simulated_power",
]


@dataclass(frozen=True)
class PowerResult:
    """Power to detect `rate_ratio` and the MDE at `target_power`, by simulation through the
    primary estimator; `*_did` the same for the difference-in-differences robustness row, and
    `*_analytic` that row's analytic approximation."""

    outcome: str
    baseline_rate: float  # events per officer-month before training
    baseline_rate_per_call: float
    dispersion: float
    n_officers: int
    n_months: int
    rate_ratio: float
    power: float
    power_mc_error: float
    mde_rate_ratio: float
    power_did: float
    mde_rate_ratio_did: float
    power_analytic: float
    mde_rate_ratio_analytic: float
    std_error_log_analytic: float
    n_simulations: int
    seed: int
    alpha: float = ALPHA
    target_power: float = TARGET_POWER
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        record = asdict(self)
        record["notes"] = list(self.notes)
        return {k: json_value(v) for k, v in record.items()}

    def summary(self) -> str:
        width = 78
        lines = [
            f"Power of the ITT force analysis — {self.outcome}".center(width),
            "=" * width,
            f"baseline: {self.baseline_rate:.4g} per officer-month "
            f"({self.baseline_rate_per_call:.3g} per call), NB2 dispersion {self.dispersion:.3g}",
            f"trial: {self.n_officers} officers, {self.n_months} months before and after",
            "-" * width,
            f"{'':<34}{'primary':>14}{'DiD':>14}{'DiD analytic':>14}",
            f"{f'power at rate ratio {self.rate_ratio:.3g}':<34}{self.power:>14.3f}"
            f"{self.power_did:>14.3f}{self.power_analytic:>14.3f}",
            f"{'  (Monte Carlo error)':<34}{self.power_mc_error:>14.3f}",
            f"{f'MDE rate ratio ({self.target_power:.0%} power)':<34}"
            f"{self.mde_rate_ratio:>14.3f}{self.mde_rate_ratio_did:>14.3f}"
            f"{self.mde_rate_ratio_analytic:>14.3f}",
            "-" * width,
            f"{self.n_simulations} simulations (seed {self.seed}), {self.alpha:.0%} two-sided",
        ]
        lines += [f"note: {note}" for note in self.notes]
        lines.append("=" * width)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


@memoized
def force_power(
    baseline: ForceBaseline,
    *,
    rate_ratio: float = LOUISVILLE_RATE_RATIO,
    n_officers: int | None = None,
    n_months: int | None = None,
    n_simulations: int = 200,
    seed: int = 0,
    alpha: float = ALPHA,
    target_power: float = TARGET_POWER,
) -> PowerResult:
    """Power at `rate_ratio` and the MDE (both by simulation and analytic) for a trial of
    `n_officers` x `n_months` (default: the department's own size)."""
    n_officers = int(n_officers or baseline.n_officers)
    n_months = int(n_months or baseline.n_months)
    mde_analytic = analytic_mde(baseline, n_officers, n_months, alpha, target_power)
    # a grid around the DiD's analytic MDE (the primary's lies within it), and the asked ratio
    log_mde = math.log(mde_analytic)
    factors = (0.4, 0.55, 0.7, 0.85, 1.0, 1.15, 1.3, 1.5)
    grid = sorted({float(np.exp(log_mde * f)) for f in factors})
    found = {}
    for estimator in ESTIMATORS:
        table = simulated_power(
            baseline,
            [*grid, rate_ratio],
            n_officers=n_officers,
            n_months=n_months,
            n_simulations=n_simulations,
            seed=seed,
            alpha=alpha,
            estimator=estimator,
        )
        asked = table[np.isclose(table["rate_ratio"], rate_ratio)].iloc[0]
        reductions = table[table["rate_ratio"] < 1].sort_values("rate_ratio", ascending=False)
        found[estimator] = asked, _interpolate_mde(reductions, target_power)
    (asked, mde), (asked_did, mde_did) = found["primary"], found["did"]
    notes = (
        "simulation through the primary estimator (Poisson ANCOVA of force per officer-month on "
        "the arm, month effects and the officer's pre-period rate, officer-clustered CR2); "
        "beside it the difference-in-differences robustness row (Poisson per call, month "
        "effects) by simulation and by its delta-method approximation",
        "rate ratios are intent-to-treat: non-completion and training part-way into the post "
        "period dilute an effect among trained officers towards 1",
    )
    return PowerResult(
        outcome=baseline.outcome,
        baseline_rate=baseline.rate_per_officer_month,
        baseline_rate_per_call=baseline.rate_per_call,
        dispersion=baseline.dispersion,
        n_officers=n_officers,
        n_months=n_months,
        rate_ratio=float(rate_ratio),
        power=float(asked["power"]),
        power_mc_error=float(asked["power_mc_error"]),
        mde_rate_ratio=mde,
        power_did=float(asked_did["power"]),
        mde_rate_ratio_did=mde_did,
        power_analytic=analytic_power(baseline, rate_ratio, n_officers, n_months, alpha),
        mde_rate_ratio_analytic=mde_analytic,
        std_error_log_analytic=analytic_std_error(baseline, rate_ratio, n_officers, n_months),
        n_simulations=int(n_simulations),
        seed=int(seed),
        alpha=alpha,
        target_power=target_power,
        notes=notes,
    )


def _interpolate_mde(reductions: pd.DataFrame, target: float) -> float:
    """Log-linear interpolation of the ratio where simulated power crosses `target`."""
    ratios = reductions["rate_ratio"].to_numpy()
    power = np.maximum.accumulate(reductions["power"].to_numpy())  # monotone in the effect
    above = np.flatnonzero(power >= target)
    if len(above) == 0:
        return math.nan
    first = above[0]
    if first == 0:
        return float(ratios[0])
    low, high = power[first - 1], power[first]
    weight = (target - low) / (high - low) if high > low else 1.0
    log_ratio = (1 - weight) * math.log(ratios[first - 1]) + weight * math.log(ratios[first])
    return float(math.exp(log_ratio))
