"""The department's baseline for a power calculation: force rates, call volume and
overdispersion before training (`force_baseline`), or given as parameters (`given_baseline`).
analysis/power.py uses it to simulate and approximate the trial's power.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from datetime import date

import numpy as np
import pandas as pd
import statsmodels.api as sm

from analysis.inference import treatment_indicator
from analysis.marts import study_dates
from analysis.results import json_value


@dataclass(frozen=True)
class ForceBaseline:
    """What a power calculation needs about a department's force counts before training."""

    outcome: str
    rate_per_officer_month: float
    rate_per_call: float
    calls_per_officer_month: float
    calls_officer_shape: float  # gamma shape of officers' call volume (inf = all alike)
    dispersion: float  # NB2 alpha across officers: variance of the officer multiplier
    n_officers: int
    n_months: int  # months per period (pre = post)
    n_events_pre: int
    source: str = "given"

    def to_dict(self) -> dict:
        return {k: json_value(v) for k, v in asdict(self).items()}


def force_baseline(
    officer_months: pd.DataFrame,
    *,
    outcome: str = "force_reports",
    exposure: str = "calls_attended",
    officer: str = "officer_id",
    arm: str = "arm",
    month: str = "month_start",
    active: str | None = "is_active",
    trial_start: date | None = None,
    pre_months: int = 12,
) -> ForceBaseline:
    """Baseline rates and overdispersion from the pre-period officer-months of the trial's
    officers (both arms: before training they are one population).

    The dispersion is the NB2 alpha of an intercept-only negative binomial fit of each officer's
    pre-period total with log(calls) as offset (a stable gamma multiplier per officer makes the
    totals exactly NB2); the call volume's between-officer gamma shape is from the variance of
    officers' mean calls per month net of the Poisson part.
    """
    if trial_start is None:
        trial_start = study_dates(officer_months, arm=arm, cohort="cohort_month").trial_start_on
    trial_month = pd.Timestamp(trial_start).to_period("M").to_timestamp()
    month_start = pd.to_datetime(officer_months[month])
    keep = (
        (month_start >= trial_month - pd.DateOffset(months=pre_months))
        & (month_start < trial_month)
        & treatment_indicator(officer_months[arm]).notna()
    )
    if active and active in officer_months.columns:
        keep &= officer_months[active].fillna(False).astype(bool)
    pre = officer_months.loc[keep, [officer, outcome, exposure]].copy()
    pre[outcome] = pd.to_numeric(pre[outcome], errors="coerce")
    pre[exposure] = pd.to_numeric(pre[exposure], errors="coerce")
    pre = pre.dropna()
    if pre.empty:
        raise ValueError("no pre-period officer-months to estimate a baseline from")
    per_officer = pre.groupby(officer).agg(
        events=(outcome, "sum"), calls=(exposure, "sum"), months=(exposure, "size")
    )
    per_officer = per_officer[per_officer["calls"] > 0]
    events, calls = float(pre[outcome].sum()), float(pre[exposure].sum())
    calls_per_month = calls / len(pre)
    officer_calls = per_officer["calls"] / per_officer["months"]
    excess = officer_calls.var(ddof=1) - (calls_per_month / per_officer["months"]).mean()
    cv2 = max(excess, 0.0) / calls_per_month**2
    return ForceBaseline(
        outcome=outcome,
        rate_per_officer_month=events / len(pre),
        rate_per_call=events / calls if calls > 0 else math.nan,
        calls_per_officer_month=calls_per_month,
        calls_officer_shape=1.0 / cv2 if cv2 > 0 else math.inf,
        dispersion=nb2_dispersion(per_officer["events"], per_officer["calls"]),
        n_officers=int(per_officer.shape[0]),
        n_months=int(pre_months),
        n_events_pre=int(events),
        source="pre-period officer-months",
    )


def nb2_dispersion(events: pd.Series, exposure: pd.Series) -> float:
    """NB2 alpha of intercept-only totals with a log-exposure offset (0 if not overdispersed)."""
    y = events.to_numpy(float)
    offset = np.log(exposure.to_numpy(float))
    if y.sum() == 0:
        return 0.0
    mean = y.sum() / exposure.sum()
    mu = mean * exposure.to_numpy(float)
    moment = float(((y - mu) ** 2 - y).sum() / (mu**2).sum())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = sm.NegativeBinomial(
                y, np.ones((len(y), 1)), offset=offset, loglike_method="nb2"
            ).fit(start_params=[math.log(mean), max(moment, 0.1)], disp=False, maxiter=200)
        alpha = float(fit.params[-1])
        if math.isfinite(alpha) and alpha > 1e-6:
            return alpha
    except (np.linalg.LinAlgError, ValueError):
        pass
    return max(moment, 0.0)


def given_baseline(
    rate_per_officer_month: float,
    *,
    dispersion: float = 1.0,
    calls_per_officer_month: float = 60.0,
    calls_officer_shape: float = 8.0,
    n_officers: int = 300,
    n_months: int = 12,
    outcome: str = "force_reports",
) -> ForceBaseline:
    """A baseline from parameters (no department data)."""
    return ForceBaseline(
        outcome=outcome,
        rate_per_officer_month=rate_per_officer_month,
        rate_per_call=rate_per_officer_month / calls_per_officer_month,
        calls_per_officer_month=calls_per_officer_month,
        calls_officer_shape=calls_officer_shape,
        dispersion=dispersion,
        n_officers=n_officers,
        n_months=n_months,
        n_events_pre=0,
    )
