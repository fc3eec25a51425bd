"""Primary intent-to-treat effect on force (and complaints) per officer-month: Poisson ANCOVA.

The effect of assignment to training on the monthly count of force reports (or complaints),
estimated on the post-period officer-months of both arms (from the treatment arm's training
month to the month before the wait-list's), with the officer's own pre-period rate as the
covariate. Under randomization within blocks this is the ITT of the arm x post DiD
(`analysis.force.force_effect`, kept as a robustness row), with less variance: the officer's
pre-period rate predicts the post-period count without the DiD's noise of subtracting it.

Model: Poisson QMLE of the officer-month's count on the arm, block fixed effects, calendar-month
fixed effects, log((pre-period events + 0.5) / pre-period exposure) of the officer (the 0.5 keeps
officers without a pre-period event finite) and an indicator of an officer without pre-period
months (who gets the mean covariate: the missing-indicator method). Inference clustered by
officer, CR2 (analysis/sandwich.py; CR1 in `std_error_log_cr1`). Estimate = rate ratio exp(arm);
interval and p-value on the log scale; `std_error` is the delta-method SE of the ratio.

Two scales:

* per officer-month (`exposure=None`, primary): the count itself. Calls attended are themselves
  a possible outcome of assignment (a trained officer may be sent to, or take, fewer calls), so
  a per-call rate would condition on a post-treatment variable.
* per call attended (`exposure="calls_attended"`, secondary): log(calls) as the offset, and the
  pre-period rate per call as the covariate; officer-months without calls are dropped.

Months flagged inactive are left out of both periods.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm

from analysis.force_window import window_panel
from analysis.inference import cluster_codes, ratio_from_log_scale
from analysis.results import Effect, with_rules_out_note
from analysis.sandwich import cluster_covariance

PRE_EVENTS_OFFSET = 0.5


def force_ancova_effect(
    officer_months: pd.DataFrame,
    *,
    outcome: str = "force_reports",
    exposure: str | None = None,
    block: str = "block_id",
    covariance: str = "CR2",
    **window,
) -> Effect:
    """The ITT rate ratio of `outcome` per officer-month (or per `exposure`), module docstring.
    `window`: the columns and dates of the comparison window, as `window_panel` takes them
    (cluster, arm, month, active, trial_start, control_start, pre_months)."""
    post, n_zero, events_zero, n_without_pre = post_period_panel(
        officer_months, outcome, exposure=exposure, block=block, **window
    )
    scale_words = f"per {exposure}" if exposure else "per officer-month"
    notes = [
        f"ITT: effect of assignment to training on {outcome} {scale_words}, post-period "
        f"officer-months, block and calendar-month fixed effects, SE clustered by officer "
        f"({covariance})",
        f"covariate: log((pre-period events + {PRE_EVENTS_OFFSET}) / pre-period exposure); "
        f"{n_without_pre} officers without pre-period months get the mean and a missing "
        "indicator",
    ]
    if exposure:
        notes.append(
            f"per-call scale: log({exposure}) offset; {n_zero} officer-months without "
            f"{exposure} dropped ({events_zero} events); {exposure} may itself respond to "
            "assignment"
        )
    extras: dict = {
        "rate_treatment_post": _rate(post, 1.0),
        "rate_control_post": _rate(post, 0.0),
        "n_officers_without_pre": n_without_pre,
        "covariance": covariance,
    }
    arm_events = post.groupby("treated_arm")["y"].sum()
    if len(arm_events) < 2 or (arm_events <= 0).any():
        nan = math.nan
        notes.append("an arm has no post-period events: the rate ratio is not estimable")
        return _effect(post, outcome, nan, nan, (nan, nan), nan, exposure, extras, notes)

    # a block or month without events has no finite effect and says nothing about the arm's
    with_events = (post.groupby("block")["y"].transform("sum") > 0) & (
        post.groupby("month")["y"].transform("sum") > 0
    )
    fitted = post[with_events]
    design = design_frame(fitted)
    offset = np.log(fitted["exposure"].to_numpy(float))
    fit = sm.GLM(fitted["y"], design, family=sm.families.Poisson(), offset=offset).fit()
    mu = np.asarray(fit.mu, float)
    x, residual = design.to_numpy(float), fitted["y"].to_numpy(float) - mu
    groups = cluster_codes(fitted["cluster"])
    primary = cluster_covariance(x, residual, mu, groups, kind=covariance)
    cr1 = cluster_covariance(x, residual, mu, groups, kind="CR1")
    arm_column = design.columns.get_loc("treated_arm")
    log_ratio = float(fit.params["treated_arm"])
    log_se = math.sqrt(primary[arm_column, arm_column])
    extras.update(
        {
            "log_rate_ratio": log_ratio,
            "std_error_log": log_se,
            "std_error_log_cr1": math.sqrt(cr1[arm_column, arm_column]),
            "n_obs_without_events_block_or_month": int((~with_events).sum()),
        }
    )
    return _effect(post, outcome, *ratio_from_log_scale(log_ratio, log_se), exposure, extras, notes)


def post_period_panel(
    officer_months: pd.DataFrame,
    outcome: str,
    *,
    exposure: str | None = None,
    block: str = "block_id",
    carry: Sequence[str] = (),
    **window,
) -> tuple[pd.DataFrame, int, int, int]:
    """The post-period officer-months of the ITT window in model form (`analysis.force_window`'s
    `window_panel`; `window` takes its cluster, arm, month, active, trial_start, control_start
    and pre_months), with the block as "block", the officer's log pre-period rate and the missing
    indicator; and the officer-months dropped for zero exposure, their events, and the officers
    without pre-period months."""
    data, n_zero, events_zero = window_panel(
        officer_months, outcome, exposure=exposure, carry=[block, *carry], **window
    )
    post, n_without_pre = _post_with_pre_rate(data, block)
    return post, n_zero, events_zero, n_without_pre


def _post_with_pre_rate(data: pd.DataFrame, block: str) -> tuple[pd.DataFrame, int]:
    """The post-period rows with the officer's log pre-period rate and the missing indicator."""
    pre = data[data["post"] == 0].groupby("cluster")[["y", "exposure"]].sum()
    pre = pre[pre["exposure"] > 0]
    log_rate = np.log((pre["y"] + PRE_EVENTS_OFFSET) / pre["exposure"])
    post = data[data["post"] == 1].reset_index(drop=True)
    post = post.rename(columns={block: "block"})
    post["block"] = post["block"].astype("string").fillna("(none)")
    post["pre_log_rate"] = post["cluster"].map(log_rate).astype(float)
    missing = post["pre_log_rate"].isna()
    post["pre_log_rate"] = post["pre_log_rate"].fillna(float(log_rate.mean()))
    post["pre_missing"] = missing.astype(float)
    return post, int(post.loc[missing, "cluster"].nunique())


def design_frame(post: pd.DataFrame) -> pd.DataFrame:
    design = pd.DataFrame(
        {"const": 1.0, "treated_arm": post["treated_arm"], "pre_log_rate": post["pre_log_rate"]},
        index=post.index,
    )
    if post["pre_missing"].std(ddof=0) > 0:
        design["pre_missing"] = post["pre_missing"]
    blocks = pd.get_dummies(post["block"], prefix="block", drop_first=True, dtype=float)
    months = pd.get_dummies(post["month"], prefix="month", drop_first=True, dtype=float)
    return pd.concat([design, blocks, months], axis=1)


def _rate(post: pd.DataFrame, treated_arm: float) -> float:
    arm_rows = post[post["treated_arm"] == treated_arm]
    exposure = float(arm_rows["exposure"].sum())
    return float(arm_rows["y"].sum()) / exposure if exposure > 0 else math.nan


def _effect(
    post: pd.DataFrame,
    outcome: str,
    estimate: float,
    std_error: float,
    ci: tuple[float, float],
    p_value: float,
    exposure: str | None,
    extras: dict,
    notes: list[str],
) -> Effect:
    scale_words = f"per {exposure}" if exposure else "per officer-month"
    effect = Effect(
        outcome=outcome,
        estimator=f"ITT post-period Poisson ANCOVA, rate {scale_words} (block and month FE)",
        estimate=float(estimate),
        std_error=float(std_error),
        ci_low=float(ci[0]),
        ci_high=float(ci[1]),
        p_value=float(p_value),
        n_units=int(post["cluster"].nunique()),
        n_obs=len(post),
        scale="rate_ratio",
        extras=extras,
        notes=tuple(notes),
    )
    return with_rules_out_note(effect)
