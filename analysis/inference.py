"""Small helpers the estimators share: Wald intervals and the arm / cluster codings."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95
TREATMENT_ARM = "treatment"
CONTROL_ARM = "control"


def z_critical(confidence: float = CONFIDENCE) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2.0))


def wald_interval(
    estimate: float, std_error: float, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    half_width = z_critical(confidence) * std_error
    return estimate - half_width, estimate + half_width


def wald_p_value(estimate: float, std_error: float, null: float = 0.0) -> float:
    """Two-sided p-value of a normal Wald test; NaN if the standard error is not positive."""
    if not std_error > 0 or not math.isfinite(std_error):
        return math.nan
    return float(2.0 * stats.norm.sf(abs(estimate - null) / std_error))


def ratio_from_log_scale(
    log_estimate: float, log_std_error: float
) -> tuple[float, float, tuple[float, float], float]:
    """(ratio, delta-method SE of the ratio, Wald interval on the ratio scale, p-value) of an
    estimate on the log scale: the interval and the test are the log scale's, exponentiated."""
    low, high = wald_interval(log_estimate, log_std_error)
    ratio = math.exp(log_estimate)
    return (
        ratio,
        ratio * log_std_error,
        (math.exp(low), math.exp(high)),
        wald_p_value(log_estimate, log_std_error),
    )


def treatment_indicator(arm: pd.Series) -> pd.Series:
    """1 for the treatment (immediate) arm, 0 for the control (wait-list) arm, NaN otherwise."""
    return arm.astype("object").map({TREATMENT_ARM: 1.0, CONTROL_ARM: 0.0}).astype(float)


def cluster_codes(cluster: pd.Series) -> np.ndarray:
    """Integer codes of the clusters, as statsmodels' cluster-robust covariance wants them."""
    codes, _ = pd.factorize(cluster, sort=True)
    return codes


def bootstrap_counts(rng: np.random.Generator, n_units: int, n_draws: int) -> np.ndarray:
    """(draws, units): how often each draw of `n_units` with replacement takes each unit. The
    draws are those of resampling with `rng.integers(0, n_units, n_units)` draw after draw."""
    return np.stack(
        [np.bincount(rng.integers(0, n_units, n_units), minlength=n_units) for _ in range(n_draws)]
    ).astype(float)
