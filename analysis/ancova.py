"""Primary intent-to-treat effects on the SSO items: post-period ANCOVA with block effects.

The effect of *assignment* to training (ITT) on one SSO item, estimated the way the design
allows: the officers were randomized within blocks, so a comparison of the arms' post-period
encounters, with block fixed effects and the officer's own pre-period mean of the item as a
covariate, estimates the same ITT as the difference in differences, with far less variance. Pre
and post clips are different encounters, often of different officers, so the DiD's pre-period
cells add noise without removing any bias (McKenzie 2012, "Beyond baseline and follow-up", J.
Dev. Econ. 99(2)). The DiD stays as a robustness row (`analysis.communication.itt_effect`).

Data: the post-period encounters of the two arms (`study_period` = "post": after the treatment
arm's training and before the wait-list's), one row each, inference clustered by officer.

Regressors: constant, arm, block dummies, the officer's pre-period mean of the item (binary: the
share; count: log(mean + 0.5); rating: in pre-period SD units) and an indicator of an officer
without pre-period clips. Officers without pre-period clips keep their post-period encounters:
their covariate is set to the pooled pre-period value and the indicator absorbs the difference
(the missing-indicator method; valid for the ITT because both are baseline facts).

Per item kind:

* binary: logit; the effect is its average marginal effect of assignment, in percentage points:
  the mean over the post-period encounters of P(y = 1 | arm = 1, x) - P(y = 1 | arm = 0, x).
  Standardization under the canonical link estimates the arms' difference in proportions even
  if the logit is misspecified (Rosenblum & van der Laan 2010, Int. J. Biostat. 6(1)).
  Delta-method SE from the cluster-robust covariance. Blocks whose post-period encounters all
  share one value have no finite fixed effect: they are left out of the fit and add zero to the
  average (the limit of their predicted difference). The linear probability model (OLS, same
  regressors) is reported beside it as a check (`lpm_estimate`, `lpm_std_error`, points).
* count: Poisson QMLE; the estimate is the rate ratio exp(arm); interval and p-value on the log
  scale, `std_error` the delta-method SE of the ratio, `std_error_log` in extras.
* rating: OLS of the rating over the pooled pre-period SD of the encounter ratings (both arms;
  the DiD's scale): the effect is in pre-period SD units.

Covariance: CR2 (analysis/sandwich.py) by default, the CR1 SE in `std_error_cr1`; normal
critical values (the trial has hundreds of officers). Every result carries a note of what its
interval rules out, so that a null says which effects it excludes.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import expit

from analysis.ancova_data import PRE_MISSING, design_frame, post_frame
from analysis.inference import cluster_codes, ratio_from_log_scale, wald_p_value
from analysis.results import Effect, clustered_effect, rules_out_note, with_rules_out_note
from analysis.sandwich import cluster_covariance

KINDS = ("binary", "count", "rating")

__all__ = [  # the data and the note stay importable from here
    "ancova_itt_effect",
    "ancova_itt_effects",
    "design_frame",
    "post_frame",
    "rules_out_note",
    "with_rules_out_note",
]

_ESTIMATORS = {
    "binary": "ITT post-period ANCOVA, logit AME (block FE, pre-period mean)",
    "count": "ITT post-period ANCOVA, Poisson QMLE (block FE, pre-period mean)",
    "rating": "ITT post-period ANCOVA, OLS in pre-period SD units (block FE, pre-period mean)",
}


def ancova_itt_effect(
    encounters: pd.DataFrame,
    *,
    outcome: str,
    kind: str,
    cluster: str = "officer_id",
    arm: str = "arm",
    period: str = "study_period",
    block: str = "block_id",
    covariance: str = "CR2",
) -> Effect:
    """The ITT effect of assignment on one SSO item (module docstring)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    absent = [c for c in (outcome, cluster, arm, period, block) if c not in encounters.columns]
    if absent:
        raise KeyError(f"encounters have no column(s) {absent}")
    data, pre_sd, notes = post_frame(encounters, outcome, kind, cluster, arm, period, block)
    if kind == "binary":
        return _binary(data, outcome, covariance, notes)
    if kind == "count":
        return _count(data, outcome, covariance, notes)
    return _rating(data, outcome, covariance, pre_sd, notes)


def ancova_itt_effects(encounters: pd.DataFrame, items: dict[str, str], **options) -> list[Effect]:
    """`ancova_itt_effect` for every item of `items` (item -> kind), in that order."""
    return [
        ancova_itt_effect(encounters, outcome=item, kind=kind, **options)
        for item, kind in items.items()
    ]


def _groups(data: pd.DataFrame) -> np.ndarray:
    return cluster_codes(data["cluster"])


def _glm(data: pd.DataFrame, design: pd.DataFrame, family):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sm.GLM(data["y"], design, family=family).fit()


def _covariances(design, residual, weights, groups, covariance: str):
    x = design.to_numpy(float)
    primary = cluster_covariance(x, residual, weights, groups, kind=covariance)
    cr1 = cluster_covariance(x, residual, weights, groups, kind="CR1")
    return primary, cr1


def _arm_means(data: pd.DataFrame) -> dict[str, float]:
    means = data.groupby("treated_arm")["y"].mean()
    return {
        "mean_treatment_post": float(means.get(1.0, math.nan)),
        "mean_control_post": float(means.get(0.0, math.nan)),
    }


def _effect(
    data: pd.DataFrame,
    outcome: str,
    kind: str,
    estimate: float,
    std_error: float,
    *,
    scale: str,
    covariance: str,
    ci: tuple[float, float] | None = None,
    p_value: float | None = None,
    extras: dict | None = None,
    notes: list[str] | tuple[str, ...] = (),
) -> Effect:
    effect = clustered_effect(
        data,
        outcome=outcome,
        estimator=_ESTIMATORS[kind],
        estimate=estimate,
        std_error=std_error,
        scale=scale,
        ci=ci,
        p_value=p_value,
        extras={
            **_arm_means(data),
            "n_officers_without_pre": int(
                data.loc[data[PRE_MISSING] > 0, "cluster"].nunique()
                if PRE_MISSING in data.columns
                else 0
            ),
            "covariance": covariance,
            **(extras or {}),
        },
        notes=(
            "ITT: effect of assignment to training, post-period encounters, block fixed "
            f"effects, SE clustered by officer ({covariance})",
            *notes,
        ),
    )
    return with_rules_out_note(effect)


# --- per kind -----------------------------------------------------------------------------------


def _binary(data: pd.DataFrame, outcome: str, covariance: str, notes: list[str]) -> Effect:
    arm_means = data.groupby("treated_arm")["y"].mean()
    lpm = _linear_probability(data, covariance)
    if ((arm_means <= 0) | (arm_means >= 1)).any():
        notes = notes + [
            "binary: an arm's post-period encounters all share one value, so the logit has "
            "no finite estimate; linear probability model instead"
        ]
        estimate, std_error, cr1 = lpm
        return _effect(
            data,
            outcome,
            "binary",
            100 * estimate,
            100 * std_error,
            scale="percentage_points",
            covariance=covariance,
            extras={"std_error_cr1": 100 * cr1, "estimate_proportion": estimate},
            notes=notes,
        )
    varying = data.groupby("block")["y"].transform(lambda y: y.nunique() > 1).astype(bool)
    fitted = data[varying]
    design = design_frame(fitted)
    fit = _glm(fitted, design, sm.families.Binomial())
    params = fit.params.to_numpy()
    mu = np.asarray(fit.mu, float)
    primary, cr1 = _covariances(
        design, fitted["y"].to_numpy() - mu, mu * (1 - mu), _groups(fitted), covariance
    )
    x = design.to_numpy(float)
    arm_column = design.columns.get_loc("treated_arm")
    treated_x, control_x = x.copy(), x.copy()
    treated_x[:, arm_column], control_x[:, arm_column] = 1.0, 0.0
    p1, p0 = expit(treated_x @ params), expit(control_x @ params)
    # blocks left out of the fit add zero difference but count in the average
    ame = float((p1 - p0).sum() / len(data))
    gradient = ((p1 * (1 - p1)) @ treated_x - (p0 * (1 - p0)) @ control_x) / len(data)
    std_error = math.sqrt(float(gradient @ primary @ gradient))
    std_error_cr1 = math.sqrt(float(gradient @ cr1 @ gradient))
    n_constant_blocks = int(data["block"].nunique() - fitted["block"].nunique())
    log_odds, log_odds_se = float(fit.params["treated_arm"]), math.sqrt(primary[1, 1])
    extras = {
        "estimate_proportion": ame,
        "std_error_cr1": 100 * std_error_cr1,
        "lpm_estimate": 100 * lpm[0],
        "lpm_std_error": 100 * lpm[1],
        "odds_ratio": math.exp(log_odds),
        "odds_ratio_p_value": wald_p_value(log_odds, log_odds_se),
        "blocks_without_variation": n_constant_blocks,
    }
    notes = notes + [
        "binary: average marginal effect of assignment from a logit, in percentage points "
        "(delta-method SE); the linear probability model's estimate is in lpm_estimate",
    ]
    if n_constant_blocks:
        notes.append(
            f"{n_constant_blocks} blocks without variation in the item: left out of the logit, "
            "zero difference in the average"
        )
    return _effect(
        data,
        outcome,
        "binary",
        100 * ame,
        100 * std_error,
        scale="percentage_points",
        covariance=covariance,
        extras=extras,
        notes=notes,
    )


def _linear_probability(data: pd.DataFrame, covariance: str) -> tuple[float, float, float]:
    """(estimate, SE, CR1 SE) of the arm in the OLS of the item on the ANCOVA regressors."""
    design = design_frame(data)
    x = design.to_numpy(float)
    y = data["y"].to_numpy(float)
    params = np.linalg.lstsq(x, y, rcond=None)[0]
    primary, cr1 = _covariances(design, y - x @ params, np.ones(len(y)), _groups(data), covariance)
    return float(params[1]), math.sqrt(primary[1, 1]), math.sqrt(cr1[1, 1])


def _count(data: pd.DataFrame, outcome: str, covariance: str, notes: list[str]) -> Effect:
    if (data.groupby("treated_arm")["y"].sum() <= 0).any():
        nan = math.nan
        return _effect(
            data,
            outcome,
            "count",
            nan,
            nan,
            scale="rate_ratio",
            covariance=covariance,
            ci=(nan, nan),
            p_value=nan,
            notes=notes + ["count: an arm has no events, so the rate ratio is not estimable"],
        )
    fitted = data[data.groupby("block")["y"].transform("sum") > 0]
    design = design_frame(fitted)
    fit = _glm(fitted, design, sm.families.Poisson())
    mu = np.asarray(fit.mu, float)
    primary, cr1 = _covariances(
        design, fitted["y"].to_numpy() - mu, mu, _groups(fitted), covariance
    )
    log_ratio, log_se = float(fit.params["treated_arm"]), math.sqrt(primary[1, 1])
    ratio, std_error, ci, p_value = ratio_from_log_scale(log_ratio, log_se)
    return _effect(
        data,
        outcome,
        "count",
        ratio,
        std_error,
        scale="rate_ratio",
        covariance=covariance,
        ci=ci,
        p_value=p_value,
        extras={
            "log_rate_ratio": log_ratio,
            "std_error_log": log_se,
            "std_error_log_cr1": math.sqrt(cr1[1, 1]),
        },
        notes=notes + ["count: Poisson QMLE rate ratio exp(arm); CI and p-value on the log scale"],
    )


def _rating(
    data: pd.DataFrame, outcome: str, covariance: str, pre_sd: float, notes: list[str]
) -> Effect:
    scaled = data.assign(y=data["y"] / pre_sd)
    design = design_frame(scaled)
    x = design.to_numpy(float)
    y = scaled["y"].to_numpy(float)
    params = np.linalg.lstsq(x, y, rcond=None)[0]
    primary, cr1 = _covariances(
        design, y - x @ params, np.ones(len(y)), _groups(scaled), covariance
    )
    estimate, std_error = float(params[1]), math.sqrt(primary[1, 1])
    return _effect(
        data,
        outcome,
        "rating",
        estimate,
        std_error,
        scale="sd",
        covariance=covariance,
        extras={
            "pre_period_sd": pre_sd,
            "difference_rating_points": estimate * pre_sd,
            "std_error_cr1": math.sqrt(cr1[1, 1]),
        },
        notes=notes
        + ["rating: OLS of the rating over the pooled pre-period SD (the SD taken as known)"],
    )
