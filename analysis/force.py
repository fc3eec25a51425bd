"""Intent-to-treat effects of the training on use of force (and complaints) per officer-month.

Data: `marts.fct_officer_months`, one row per officer x calendar month, in the wait-list
design's comparison window (`analysis.force_window.window_panel`): the `pre_months` months
before the treatment arm's training month ("pre") against the months from it up to the control
arm's training month ("post"), when only the treatment arm is trained.

Model: Poisson regression (quasi-likelihood) of the monthly count on the arm, arm x post and
calendar-month fixed effects (which absorb post and any common trend or seasonality), with
log(exposure) as an offset, so the effect is a ratio of rates per call attended. Inference is
clustered by officer (the sandwich also covers overdispersion). Estimate = rate ratio
exp(arm x post); interval and p-value from the log-scale Wald test; `std_error` is the
delta-method SE of the ratio, the log-scale SE is `extras["std_error_log"]`. A negative binomial
(NB2, dispersion estimated) fit of the same model is reported in `extras` as a check
(analysis/force_negative_binomial.py).

Officer-months with no exposure (no calls attended, or exposure missing) have no place in a rate
model (log 0 is not an offset) and are dropped; how many, and how many events they held, is in
`extras` (`n_obs_zero_exposure`, `events_zero_exposure`). Months flagged inactive are dropped too.

The fit is made from arm x month cells (analysis/force_cells.py): the same estimates and
clustered SEs as statsmodels' GLM on every officer-month, at a fraction of the cost; its
vectorized form `poisson_did_month_fe` fits thousands of simulated trials at once.
"""

from __future__ import annotations

import math
from datetime import date

import pandas as pd

from analysis.force_cells import ARM_POST, poisson_cluster_fit, poisson_did_month_fe
from analysis.force_negative_binomial import negative_binomial_check
from analysis.force_window import trial_window, window_panel
from analysis.inference import cluster_codes, ratio_from_log_scale
from analysis.memo import memoized
from analysis.results import Effect

# the window and the fast path live in their own modules; their names stay importable from here
__all__ = ["force_effect", "poisson_did_month_fe", "window_panel"]


def force_effect(
    officer_months: pd.DataFrame,
    *,
    outcome: str = "force_reports",
    exposure: str | None = "calls_attended",
    cluster: str = "officer_id",
    arm: str = "arm",
    month: str = "month_start",
    active: str | None = "is_active",
    trial_start: date | None = None,
    control_start: date | None = None,
    pre_months: int = 12,
    negative_binomial: bool = True,
) -> Effect:
    """The arm x post rate ratio of `outcome` (force reports, complaints, ...) per `exposure`.

    `trial_start` / `control_start` default to the earliest `cohort_month` of the treatment /
    control arm in `officer_months`; without a control date the post window is 12 months.
    `exposure=None` models counts per officer-month without an offset.
    """
    trial_month, control_month = trial_window(officer_months, arm, trial_start, control_start)
    data, n_zero, events_zero = window_panel(
        officer_months,
        outcome,
        exposure=exposure,
        cluster=cluster,
        arm=arm,
        month=month,
        active=active,
        trial_start=trial_month,
        control_start=control_month,
        pre_months=pre_months,
    )
    return _rate_ratio_effect(
        data,
        outcome,
        exposure,
        trial_month,
        control_month,
        pre_months,
        n_zero,
        events_zero,
        negative_binomial,
    )


@memoized  # the window's panel, not all officer-months: later months leave the fit alone
def _rate_ratio_effect(
    data: pd.DataFrame,
    outcome: str,
    exposure: str | None,
    trial_month: pd.Timestamp,
    control_month: pd.Timestamp,
    pre_months: int,
    n_zero: int,
    events_zero: int,
    negative_binomial: bool,
) -> Effect:
    cells = data.groupby(["treated_arm", "post"])
    extras: dict = {
        "window_pre_start": str((trial_month - pd.DateOffset(months=pre_months)).date()),
        "window_post_start": str(trial_month.date()),
        "window_post_end": str((control_month - pd.DateOffset(months=1)).date()),
        "n_obs_zero_exposure": n_zero,
        "events_zero_exposure": events_zero,
    }
    names = {0.0: "control", 1.0: "treatment"}
    for (treated_arm, post), cell in cells:
        key = f"rate_{names[treated_arm]}_{'post' if post else 'pre'}"
        extras[key] = float(cell["y"].sum() / cell["exposure"].sum())
    notes = [
        "ITT: arm x post with calendar-month fixed effects, SE clustered by officer",
        "rates per unit of "
        + (exposure if exposure else "officer-month")
        + (
            f"; {n_zero} officer-months without exposure dropped ({events_zero} events)"
            if exposure
            else ""
        ),
    ]
    n_cells = len(cells)
    if n_cells < 4 or (cells["y"].sum() <= 0).any():
        nan = math.nan
        notes.append("a cell of arm x period has no events: the rate ratio is not estimable")
        return _effect(data, outcome, nan, nan, extras, notes)

    groups = cluster_codes(data["cluster"])
    params, std_errors = poisson_cluster_fit(data, groups)
    log_ratio, log_se = float(params[ARM_POST]), float(std_errors[ARM_POST])
    extras.update({"log_rate_ratio": log_ratio, "std_error_log": log_se})
    if negative_binomial:
        extras.update(negative_binomial_check(data, groups, params))
    notes.append(
        "Poisson QMLE, log(exposure) offset; negative binomial (NB2) check in nb_* extras"
        if negative_binomial
        else "Poisson QMLE, log(exposure) offset"
    )
    return _effect(data, outcome, log_ratio, log_se, extras, notes)


def _effect(
    data: pd.DataFrame,
    outcome: str,
    log_ratio: float,
    log_se: float,
    extras: dict,
    notes: list[str],
) -> Effect:
    # NaN in, NaN out: a rate ratio that is not estimable
    rate_ratio, std_error, (ci_low, ci_high), p_value = ratio_from_log_scale(log_ratio, log_se)
    return Effect(
        outcome=outcome,
        estimator="ITT diff-in-diff, Poisson QMLE with month FE",
        estimate=rate_ratio,
        std_error=std_error,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        n_units=int(data["cluster"].nunique()),
        n_obs=len(data),
        scale="rate_ratio",
        extras=extras,
        notes=tuple(notes),
    )
