"""Intent-to-treat effects of the training on the SSO-coded communication of officers.

The wait-list design: officers were randomized to training at `trial_start_on` (arm
"treatment") or a year later (arm "control"). Encounters coded before `trial_start_on`
(`study_period` = "pre") and in the year after it ("post", when only the treatment arm is
trained) give a difference in differences: arm x post, on encounter-level data, with inference
clustered by officer (the unit of randomization), cluster-robust sandwich covariance.

One model per item kind (`middlestep.contract.SSO_ITEMS`):

* binary: logistic regression (GLM binomial) of the item on arm, post and arm:post. The effect is
  reported on the probability scale (0.08 = 8 percentage points): the difference in differences
  of the model's predicted cell probabilities, with a delta-method standard error from the
  clustered covariance. Without block fixed effects the model is saturated, so the estimate is
  exactly the difference in differences of the four cell means. The odds ratio exp(arm:post) and
  its interval are in `extras`.
* count: Poisson regression (quasi-likelihood: only the mean model is assumed; the clustered
  sandwich covers overdispersion). Estimate = rate ratio exp(arm:post), interval on the ratio
  scale, p-value of the log-scale Wald test; `std_error` is the delta-method SE of the ratio
  (as Stata's `irr` reports it), the log-scale SE is `extras["std_error_log"]`.
* rating: linear regression of the rating (mean of the codings) divided by the standard
  deviation of all pre-period encounters (both arms pooled). Estimate in SD units.

`block_fixed_effects=True` adds randomization-block fixed effects (precision only: assignment is
random within blocks). The binary model is then no longer saturated; its effect is the average
over the encounters of the predicted-probability difference in differences.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import expit
from statsmodels.miscmodels.ordinal_model import OrderedModel

from analysis.inference import (
    cluster_codes,
    ratio_from_log_scale,
    treatment_indicator,
    wald_p_value,
)
from analysis.memo import memoized
from analysis.results import Effect, clustered_effect

KINDS = ("binary", "count", "rating")
PERIODS = ("pre", "post")
INTERACTION = "treated_arm:post"

_ESTIMATORS = {
    "binary": "ITT diff-in-diff, logit (probability scale)",
    "count": "ITT diff-in-diff, Poisson QMLE",
    "rating": "ITT diff-in-diff, OLS on pre-period SD units",
}


def itt_effect(
    encounters: pd.DataFrame,
    *,
    outcome: str,
    kind: str,
    cluster: str = "officer_id",
    arm: str = "arm",
    period: str = "study_period",
    block: str = "block_id",
    block_fixed_effects: bool = False,
    ordered_logit: bool = False,
) -> Effect:
    """The arm x post difference in differences of one SSO item, clustered by `cluster`.

    `encounters` is encounter-level (`marts.fct_encounters`): rows outside the pre and post
    periods, outside the two arms, or with the item missing are left out. `ordered_logit=True`
    (ratings only) also fits an ordered logit of the rounded rating and reports its arm:post
    coefficient (log odds of a higher rating) in `extras`.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    data = _did_frame(encounters, outcome, cluster, arm, period, block, block_fixed_effects)
    if kind == "binary":
        return _binary_effect(data, outcome, block_fixed_effects)
    if kind == "count":
        return _count_effect(data, outcome, block_fixed_effects)
    return _rating_effect(data, outcome, block_fixed_effects, ordered_logit)


@memoized
def itt_effects(
    encounters: pd.DataFrame,
    items: dict[str, str],
    *,
    cluster: str = "officer_id",
    arm: str = "arm",
    period: str = "study_period",
    block: str = "block_id",
    block_fixed_effects: bool = False,
) -> list[Effect]:
    """`itt_effect` for every item of `items` (item -> kind, as `SSO_ITEMS`), in that order."""
    return [
        itt_effect(
            encounters,
            outcome=item,
            kind=kind,
            cluster=cluster,
            arm=arm,
            period=period,
            block=block,
            block_fixed_effects=block_fixed_effects,
        )
        for item, kind in items.items()
    ]


def _did_frame(
    encounters: pd.DataFrame,
    outcome: str,
    cluster: str,
    arm: str,
    period: str,
    block: str,
    block_fixed_effects: bool,
) -> pd.DataFrame:
    needed = [outcome, cluster, arm, period] + ([block] if block_fixed_effects else [])
    absent = [column for column in needed if column not in encounters.columns]
    if absent:
        raise KeyError(f"encounters have no column(s) {absent}")
    data = pd.DataFrame(
        {
            "y": pd.to_numeric(encounters[outcome], errors="coerce").astype(float),
            "treated_arm": treatment_indicator(encounters[arm]),
            "post": encounters[period].astype("object").map({"pre": 0.0, "post": 1.0}),
            "cluster": encounters[cluster],
        }
    )
    if block_fixed_effects:
        data["block"] = encounters[block].astype("string")
    data = data.dropna().reset_index(drop=True)
    cells = data.groupby(["treated_arm", "post"]).size()
    if len(cells) < 4:
        raise ValueError(
            f"{outcome}: the arm x period table has empty cells ({len(cells)} of 4 observed)"
        )
    return data


def _design(data: pd.DataFrame, block_fixed_effects: bool) -> pd.DataFrame:
    """The regressors: constant, arm, post, arm:post (in that order), then block dummies."""
    design = pd.DataFrame(
        {"const": 1.0, "treated_arm": data["treated_arm"], "post": data["post"]}, index=data.index
    )
    design[INTERACTION] = design["treated_arm"] * design["post"]
    if block_fixed_effects:
        blocks = pd.get_dummies(data["block"], prefix="block", drop_first=True, dtype=float)
        design = pd.concat([design, blocks], axis=1)
    return design


def _cell_means(data: pd.DataFrame) -> dict[str, float]:
    means = data.groupby(["treated_arm", "post"])["y"].mean()
    names = {0.0: "control", 1.0: "treatment"}
    return {f"mean_{names[a]}_{PERIODS[int(p)]}": float(value) for (a, p), value in means.items()}


def _cluster_fit(model, data: pd.DataFrame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(cov_type="cluster", cov_kwds={"groups": cluster_codes(data["cluster"])})


def _effect(
    data: pd.DataFrame,
    outcome: str,
    kind: str,
    estimate: float,
    std_error: float,
    *,
    scale: str,
    ci: tuple[float, float] | None = None,
    p_value: float | None = None,
    extras: dict | None = None,
    notes: tuple[str, ...] = (),
) -> Effect:
    return clustered_effect(
        data,
        outcome=outcome,
        estimator=_ESTIMATORS[kind],
        estimate=estimate,
        std_error=std_error,
        scale=scale,
        ci=ci,
        p_value=p_value,
        extras={**_cell_means(data), **(extras or {})},
        notes=("ITT: arm x post (pre vs post periods), SE clustered by officer",) + notes,
    )


def _binary_effect(data: pd.DataFrame, outcome: str, block_fixed_effects: bool) -> Effect:
    cell_rates = data.groupby(["treated_arm", "post"])["y"].mean()
    if ((cell_rates <= 0) | (cell_rates >= 1)).any():
        return _linear_probability_effect(data, outcome, block_fixed_effects)
    fit = _cluster_fit(
        sm.GLM(data["y"], _design(data, block_fixed_effects), family=sm.families.Binomial()),
        data,
    )
    params = fit.params.to_numpy()
    covariance = np.asarray(fit.cov_params())
    design = fit.model.exog.copy()  # columns: const, treated_arm, post, arm:post, blocks...

    estimate, gradient = 0.0, np.zeros_like(params)
    for treated_arm, post, sign in ((1, 1, 1), (1, 0, -1), (0, 1, -1), (0, 0, 1)):
        design[:, 1:4] = (treated_arm, post, treated_arm * post)
        probability = expit(design @ params)
        estimate += sign * probability.mean()
        gradient += sign * (probability * (1 - probability)) @ design / len(design)
    std_error = math.sqrt(float(gradient @ covariance @ gradient))

    odds_ratio, _, (low, high), odds_ratio_p_value = ratio_from_log_scale(
        float(fit.params[INTERACTION]), float(fit.bse[INTERACTION])
    )
    extras = {
        "odds_ratio": odds_ratio,
        "odds_ratio_ci_low": low,
        "odds_ratio_ci_high": high,
        "odds_ratio_p_value": odds_ratio_p_value,
    }
    notes = (
        "binary: logit of arm, post, arm:post; effect = DiD of predicted probabilities "
        "(delta-method SE)",
    )
    if block_fixed_effects:
        notes += ("block fixed effects: predictions averaged over the encounters' blocks",)
    return _effect(
        data,
        outcome,
        "binary",
        estimate,
        std_error,
        scale="difference",
        extras=extras,
        notes=notes,
    )


def _linear_probability_effect(
    data: pd.DataFrame, outcome: str, block_fixed_effects: bool
) -> Effect:
    """Fallback when a cell has only zeros or only ones: the logit has no finite MLE there."""
    fit = _cluster_fit(sm.OLS(data["y"], _design(data, block_fixed_effects)), data)
    estimate, std_error = float(fit.params[INTERACTION]), float(fit.bse[INTERACTION])
    return _effect(
        data,
        outcome,
        "binary",
        estimate,
        std_error,
        scale="difference",
        extras={"odds_ratio": math.nan},
        notes=(
            "binary: a cell has only 0s or only 1s, so the logit has no finite estimate; "
            "linear probability model instead",
        ),
    )


def _count_effect(data: pd.DataFrame, outcome: str, block_fixed_effects: bool) -> Effect:
    cell_totals = data.groupby(["treated_arm", "post"])["y"].sum()
    if (cell_totals <= 0).any():
        nan = math.nan
        return _effect(
            data,
            outcome,
            "count",
            nan,
            nan,
            scale="rate_ratio",
            ci=(nan, nan),
            p_value=nan,
            notes=("count: a cell has no events, so the rate ratio is not estimable",),
        )
    fit = _cluster_fit(
        sm.GLM(data["y"], _design(data, block_fixed_effects), family=sm.families.Poisson()),
        data,
    )
    log_ratio, log_se = float(fit.params[INTERACTION]), float(fit.bse[INTERACTION])
    rate_ratio, std_error, ci, p_value = ratio_from_log_scale(log_ratio, log_se)
    return _effect(
        data,
        outcome,
        "count",
        rate_ratio,
        std_error,
        scale="rate_ratio",
        ci=ci,
        p_value=p_value,
        extras={"log_rate_ratio": log_ratio, "std_error_log": log_se},
        notes=(
            "count: Poisson QMLE, rate ratio exp(arm:post); CI and p-value on the log scale, "
            "std_error by the delta method",
        ),
    )


def _rating_effect(
    data: pd.DataFrame, outcome: str, block_fixed_effects: bool, ordered_logit: bool
) -> Effect:
    pre_sd = float(data.loc[data["post"] == 0, "y"].std(ddof=1))
    if not pre_sd > 0:
        raise ValueError(f"{outcome}: the pre-period ratings do not vary; no SD to scale by")
    scaled = data.assign(y=data["y"] / pre_sd)
    fit = _cluster_fit(sm.OLS(scaled["y"], _design(scaled, block_fixed_effects)), scaled)
    estimate, std_error = float(fit.params[INTERACTION]), float(fit.bse[INTERACTION])
    extras: dict = {
        "pre_period_sd": pre_sd,
        "difference_rating_points": estimate * pre_sd,
    }
    if ordered_logit:
        extras.update(_ordered_logit_extras(data))
    return _effect(
        data,
        outcome,
        "rating",
        estimate,
        std_error,
        scale="sd",
        extras=extras,
        notes=(
            "rating: OLS of the rating over the pooled pre-period SD (the SD is taken as known); "
            "an ordered logit of the rounded rating is the alternative (ordered_logit=True)",
        ),
    )


def _ordered_logit_extras(data: pd.DataFrame) -> dict[str, float]:
    levels = np.floor(data["y"].to_numpy() + 0.5)
    exog = data[["treated_arm", "post"]].assign(**{INTERACTION: data["treated_arm"] * data["post"]})
    model = OrderedModel(levels, exog, distr="logit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(
            method="bfgs",
            disp=False,
            maxiter=200,
            cov_type="cluster",
            cov_kwds={"groups": cluster_codes(data["cluster"])},
        )
    coefficient = float(fit.params[INTERACTION])
    std_error = float(fit.bse[INTERACTION])
    return {
        "ordered_logit_coef": coefficient,
        "ordered_logit_std_error": std_error,
        "ordered_logit_p_value": wald_p_value(coefficient, std_error),
    }
