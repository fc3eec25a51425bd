"""Power and minimum detectable effect of the wait-list trial, approximated analytically, and
the sample-size table.

The approximation (delta method). Let S_ap be the events of arm a in period p, with
expectation mu_ap = rate x exposure_ap x RR^(a x p) and officer multipliers g_i with variance
alpha. With month effects absorbing the common trend, log RR_hat ~ log(S_11/S_10) -
log(S_01/S_00), and

    Var(log S_a1 - log S_a0) = 1/mu_a1 + 1/mu_a0 + alpha x sum_i (w_i1 - w_i0)^2,

w_ip = officer i's share of arm a's exposure in period p (Var(S) = mu + alpha sum E_i^2 rate^2,
Cov(S_a1, S_a0) = alpha rate^2 RR sum E_i1 E_i0; divide by mu_a1 mu_a0). Hence

    Var(log RR_hat) ~ sum over the four arm x period cells of 1/mu_ap
                      + alpha x sum over arms and officers of (w_i1 - w_i0)^2.

The second term vanishes when each officer's share of the exposure is the same before and after
(the pre/post design compares every officer with themself, so a stable propensity to use force
cancels); with Poisson call counts it is about 2 alpha / calls per arm and period, negligible.
Overdispersion matters again if officers' propensities drift from month to month, or in a
post-only comparison (Var ~ 2/mu + 4 alpha / n_officers). Power = Phi(|log RR| / se - z) +
Phi(-|log RR| / se - z), z = 1.96; the MDE solves |log RR| = (z + z_0.8) x se(RR) for a
reduction (RR < 1). It ignores the finite-cluster downward bias of the sandwich, so it is a
little optimistic for small trials.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.power_baseline import ForceBaseline

LOUISVILLE_RATE_RATIO = 0.72  # Engel et al. 2022: force -28% after ICAT
SIZE_TABLE_RATE_RATIOS = (LOUISVILLE_RATE_RATIO, 0.8, 0.9)
TARGET_POWER = 0.8
ALPHA = 0.05


def two_sided_critical_value(alpha: float = ALPHA) -> float:
    """The normal critical value of a two-sided test at level `alpha` (1.96 at 5%)."""
    return float(stats.norm.ppf(1 - alpha / 2))


def analytic_std_error(
    baseline: ForceBaseline, rate_ratio: float, n_officers: int, n_months: int
) -> float:
    """se(log RR_hat) of the module docstring's formula, at expected exposures."""
    per_arm = n_officers / 2.0
    mu_control = per_arm * n_months * baseline.rate_per_officer_month
    variance = 3.0 / mu_control + 1.0 / (mu_control * rate_ratio)
    calls_per_arm_period = per_arm * n_months * baseline.calls_per_officer_month
    variance += baseline.dispersion * 2.0 * 2.0 / calls_per_arm_period  # 2 arms, E sum (dw)^2
    return math.sqrt(variance)


def analytic_power(
    baseline: ForceBaseline,
    rate_ratio: float,
    n_officers: int,
    n_months: int,
    alpha: float = ALPHA,
) -> float:
    se = analytic_std_error(baseline, rate_ratio, n_officers, n_months)
    z = two_sided_critical_value(alpha)
    shift = abs(math.log(rate_ratio)) / se
    return float(stats.norm.cdf(shift - z) + stats.norm.cdf(-shift - z))


def analytic_mde(
    baseline: ForceBaseline,
    n_officers: int,
    n_months: int,
    alpha: float = ALPHA,
    power: float = TARGET_POWER,
) -> float:
    """The rate ratio below 1 detected with `power` (ignoring the far tail's tiny rejection)."""
    multiplier = two_sided_critical_value(alpha) + stats.norm.ppf(power)
    ratio = 0.5
    for _ in range(100):
        updated = math.exp(-multiplier * analytic_std_error(baseline, ratio, n_officers, n_months))
        if abs(updated - ratio) < 1e-10:
            break
        ratio = updated
    return ratio


def required_officers(
    baseline: ForceBaseline, rate_ratio: float, n_months: int, power: float = TARGET_POWER
) -> int:
    """Officers (both arms) for `power` at `rate_ratio` with `n_months` per period (analytic)."""
    return _smallest(lambda n: analytic_power(baseline, rate_ratio, n, n_months) >= power, 2)


def required_months(
    baseline: ForceBaseline, rate_ratio: float, n_officers: int, power: float = TARGET_POWER
) -> int:
    """Months per period for `power` at `rate_ratio` with `n_officers` (analytic)."""
    return _smallest(lambda m: analytic_power(baseline, rate_ratio, n_officers, m) >= power, 1)


def _smallest(condition, low: int) -> int:
    high = max(low, 1)
    while not condition(high):
        high *= 2
        if high > 10**8:
            return -1
    while low < high:
        middle = (low + high) // 2
        if condition(middle):
            high = middle
        else:
            low = middle + 1
    return high


def sample_size_table(
    baseline: ForceBaseline,
    rate_ratios: Sequence[float] = SIZE_TABLE_RATE_RATIOS,
    *,
    n_officers: int | None = None,
    n_months: int | None = None,
    power: float = TARGET_POWER,
) -> pd.DataFrame:
    """Per rate ratio: the analytic power of this trial, the officers needed at its months and
    the months per period needed with its officers, for `power` (80%)."""
    n_officers = int(n_officers or baseline.n_officers)
    n_months = int(n_months or baseline.n_months)
    return pd.DataFrame(
        [
            {
                "rate_ratio": ratio,
                "change": f"{ratio - 1:+.0%}",
                "power_this_trial": analytic_power(baseline, ratio, n_officers, n_months),
                "officers_needed": required_officers(baseline, ratio, n_months, power),
                "at_months_per_period": n_months,
                "months_needed": required_months(baseline, ratio, n_officers, power),
                "with_officers": n_officers,
            }
            for ratio in rate_ratios
        ]
    )


def power_curve(
    baseline: ForceBaseline,
    sizes: Sequence[tuple[int, int]],
    rate_ratios: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Analytic power over rate ratios for trial sizes (officers, months per period)."""
    ratios = rate_ratios if rate_ratios is not None else np.round(np.linspace(0.4, 1.0, 25), 4)
    return pd.DataFrame(
        [
            {
                "n_officers": n,
                "n_months": m,
                "rate_ratio": float(r),
                "power_analytic": analytic_power(baseline, float(r), n, m),
            }
            for n, m in sizes
            for r in ratios
        ]
    )
