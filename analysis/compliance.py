"""The effect of completing the training on those who took it: assignment as the instrument.

Some assigned officers never complete the training, and those who do are trained part-way into
the post period, so the intent-to-treat effect is diluted. Two-stage least squares with the
assignment-by-period term as the instrument recovers the effect of *being trained* for the
compliers (the local average treatment effect; Angrist, Imbens & Rubin 1996), under the
exclusion restriction (assignment changes outcomes only through training) and monotonicity (no
officer is trained because of being put in the wait-list). Wait-list officers trained early
(always-takers) are allowed.

* Encounters (`complier_effect`): the endogenous variable is "the officer completed the
  training before the encounter" (`dim_officers.first_trained_on` < `encounter_on`), the
  instrument arm x post, the exogenous regressors constant, arm and post (the DiD), so 2SLS is the
  Wald ratio of the outcome's DiD to the DiD in the share of encounters with a trained officer.
  Outcomes on the linear scale of their ITT: probability points (binary), pre-period SD units
  (rating, the SD pooled over both arms' pre-period encounters, as `itt_effect`), counts per
  encounter (count).
* Officer-months (`complier_force_effect`): the rate per call attended, weighted by calls (so
  the weighted means are rates), with calendar-month fixed effects and the arm; the endogenous
  variable is the month's `is_trained` flag (trained by that month), the instrument arm x post.
  The 2SLS coefficient is a difference in force reports per call among compliers; divided by the
  control arm's post-period rate it is reported as a rate ratio (1 + difference / rate, the
  rate taken as known).

Inference: the 2SLS sandwich clustered by officer (the unit of randomization), with the
small-sample factor G/(G-1) x (N-1)/(N-K); the first stage's F statistic is the square of the
instrument's cluster-robust t statistic (one instrument). F below 10 flags a weak instrument.
Implemented with numpy (the `linearmodels` package is not a dependency).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.force_window import window_panel
from analysis.inference import cluster_codes, treatment_indicator, wald_interval, wald_p_value
from analysis.memo import memoized
from analysis.results import Effect

WEAK_INSTRUMENT_F = 10.0


@dataclass(frozen=True)
class TwoStageLeastSquares:
    """A just-identified 2SLS fit with one endogenous regressor."""

    estimate: float
    std_error: float
    first_stage: float
    first_stage_std_error: float
    first_stage_f: float
    reduced_form: float
    reduced_form_std_error: float
    n_obs: int
    n_clusters: int


def two_stage_least_squares(
    outcome: np.ndarray,
    endogenous: np.ndarray,
    instrument: np.ndarray,
    exogenous: np.ndarray,
    clusters: np.ndarray,
    weights: np.ndarray | None = None,
) -> TwoStageLeastSquares:
    """2SLS of `outcome` on [`exogenous`, `endogenous`] instrumented by `instrument`, with
    officer-clustered covariance; also the first stage and the reduced form (OLS on
    [`exogenous`, `instrument`], clustered)."""
    y = np.asarray(outcome, float)
    d = np.asarray(endogenous, float)
    z = np.asarray(instrument, float)
    w_exog = np.asarray(exogenous, float)
    groups = cluster_codes(pd.Series(clusters))
    root = np.sqrt(np.asarray(weights, float)) if weights is not None else np.ones(len(y))
    y, d, z = y * root, d * root, z * root
    w_exog = w_exog * root[:, None]
    regressors = np.column_stack([w_exog, d])
    instruments = np.column_stack([w_exog, z])
    projection = np.linalg.lstsq(instruments, regressors, rcond=None)[0]
    fitted = instruments @ projection
    params = np.linalg.lstsq(fitted, y, rcond=None)[0]
    residual = y - regressors @ params
    covariance = _cluster_covariance(fitted, residual, groups)
    first, first_cov = _ols_clustered(instruments, d, groups)
    reduced, reduced_cov = _ols_clustered(instruments, y, groups)
    first_se = math.sqrt(first_cov[-1, -1])
    return TwoStageLeastSquares(
        estimate=float(params[-1]),
        std_error=math.sqrt(covariance[-1, -1]),
        first_stage=float(first[-1]),
        first_stage_std_error=first_se,
        first_stage_f=float((first[-1] / first_se) ** 2) if first_se > 0 else math.nan,
        reduced_form=float(reduced[-1]),
        reduced_form_std_error=math.sqrt(reduced_cov[-1, -1]),
        n_obs=len(y),
        n_clusters=int(groups.max() + 1),
    )


def _ols_clustered(design: np.ndarray, y: np.ndarray, groups: np.ndarray):
    params = np.linalg.lstsq(design, y, rcond=None)[0]
    return params, _cluster_covariance(design, y - design @ params, groups)


def _cluster_covariance(design: np.ndarray, residual: np.ndarray, groups: np.ndarray):
    """(X'X)^-1 sum_g (X_g'u_g)(X_g'u_g)' (X'X)^-1 x G/(G-1) x (N-1)/(N-K)."""
    n, k = design.shape
    n_groups = int(groups.max() + 1)
    scores = np.zeros((n_groups, k))
    np.add.at(scores, groups, design * residual[:, None])
    bread = np.linalg.pinv(design.T @ design)
    correction = n_groups / (n_groups - 1.0) * (n - 1.0) / (n - k)
    return bread @ (scores.T @ scores) @ bread * correction


@memoized
def complier_effect(
    encounters: pd.DataFrame,
    officers: pd.DataFrame,
    *,
    outcome: str,
    kind: str,
    cluster: str = "officer_id",
    arm: str = "arm",
    period: str = "study_period",
    encounter_on: str = "encounter_on",
    first_trained_on: str = "first_trained_on",
) -> Effect:
    """The effect of the training on compliers for one SSO item, 2SLS (module docstring)."""
    trained_on = pd.to_datetime(
        officers.drop_duplicates(cluster).set_index(cluster)[first_trained_on]
    )
    data = pd.DataFrame(
        {
            "y": pd.to_numeric(encounters[outcome], errors="coerce").astype(float),
            "treated_arm": treatment_indicator(encounters[arm]),
            "post": encounters[period].astype("object").map({"pre": 0.0, "post": 1.0}),
            "cluster": encounters[cluster],
            "trained_on": encounters[cluster].map(trained_on),
            "encounter_on": pd.to_datetime(encounters[encounter_on]),
        }
    )
    data = data.dropna(subset=["y", "treated_arm", "post", "cluster", "encounter_on"])
    data["trained"] = (data["trained_on"] < data["encounter_on"]).astype(float)
    scale = "difference"
    extras: dict = {}
    if kind == "rating":
        pre_sd = float(data.loc[data["post"] == 0, "y"].std(ddof=1))
        data["y"] = data["y"] / pre_sd
        scale, extras["pre_period_sd"] = "sd", pre_sd
    elif kind == "count":
        scale = "mean_difference"
    exogenous = np.column_stack([np.ones(len(data)), data["treated_arm"], data["post"]])
    fit = two_stage_least_squares(
        data["y"].to_numpy(),
        data["trained"].to_numpy(),
        (data["treated_arm"] * data["post"]).to_numpy(),
        exogenous,
        data["cluster"].to_numpy(),
    )
    return _complier_effect(
        outcome, fit, scale, extras, "2SLS (complier effect), encounters", "trained before it"
    )


def complier_force_effect(
    officer_months: pd.DataFrame,
    *,
    outcome: str = "force_reports",
    exposure: str = "calls_attended",
    trained: str = "is_trained",
    cluster: str = "officer_id",
    arm: str = "arm",
    month: str = "month_start",
    active: str | None = "is_active",
    pre_months: int = 12,
) -> Effect:
    """The effect of the training on compliers' force per call (module docstring)."""
    # one panel, the training flag carried along its rows
    data, _, _ = window_panel(
        officer_months,
        outcome,
        exposure=exposure,
        cluster=cluster,
        arm=arm,
        month=month,
        active=active,
        pre_months=pre_months,
        carry=[trained],
    )
    return _complier_force_on_panel(data, outcome, trained)


@memoized  # the window's panel, not all officer-months: later months leave the fit alone
def _complier_force_on_panel(data: pd.DataFrame, outcome: str, trained: str) -> Effect:
    trained_flags = data[trained].fillna(False).astype(float)
    months = pd.get_dummies(data["month"], prefix="month", dtype=float).to_numpy()
    exogenous = np.column_stack([months, data["treated_arm"]])
    fit = two_stage_least_squares(
        (data["y"] / data["exposure"]).to_numpy(),
        trained_flags.to_numpy(),
        (data["treated_arm"] * data["post"]).to_numpy(),
        exogenous,
        data["cluster"].to_numpy(),
        weights=data["exposure"].to_numpy(),
    )
    control_post = data[(data["treated_arm"] == 0) & (data["post"] == 1)]
    rate = float(control_post["y"].sum() / control_post["exposure"].sum())
    extras = {
        "rate_difference_per_call": fit.estimate,
        "rate_difference_std_error": fit.std_error,
        "control_post_rate_per_call": rate,
    }
    return _complier_effect(
        outcome,
        fit,
        "rate_ratio",
        extras,
        "2SLS (complier effect), officer-months, rate per call",
        "trained by the month",
        ratio_base=rate,
    )


def _complier_effect(
    outcome: str,
    fit: TwoStageLeastSquares,
    scale: str,
    extras: dict,
    estimator: str,
    endogenous: str,
    ratio_base: float | None = None,
) -> Effect:
    estimate, std_error = fit.estimate, fit.std_error
    low, high = wald_interval(estimate, std_error)
    p_value = wald_p_value(estimate, std_error)
    truncated = False
    if ratio_base is not None:
        estimate, low, high = (1 + v / ratio_base for v in (estimate, low, high))
        std_error = std_error / ratio_base
        truncated = low < 0
        low = max(low, 0.0)
    extras = {
        **extras,
        "first_stage": fit.first_stage,
        "first_stage_std_error": fit.first_stage_std_error,
        "first_stage_f": fit.first_stage_f,
        "itt_linear": fit.reduced_form,
        "itt_linear_std_error": fit.reduced_form_std_error,
    }
    notes = [
        f"instrument: arm x post; endogenous: the officer {endogenous}; SE clustered by officer",
        f"first stage: trained share +{fit.first_stage:.3f} (cluster-robust F "
        f"{fit.first_stage_f:.1f})",
    ]
    if truncated:
        notes.append("the interval of the rate difference reaches below -rate: truncated at 0")
    if not fit.first_stage_f >= WEAK_INSTRUMENT_F:
        notes.append(f"weak instrument: first-stage F below {WEAK_INSTRUMENT_F:g}")
    return Effect(
        outcome=outcome,
        estimator=estimator,
        estimate=float(estimate),
        std_error=float(std_error),
        ci_low=float(low),
        ci_high=float(high),
        p_value=p_value,
        n_units=fit.n_clusters,
        n_obs=fit.n_obs,
        scale=scale,
        extras=extras,
        notes=tuple(notes),
    )
