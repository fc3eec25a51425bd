"""Many outcomes: adjusted p-values across the communication items, and one summary index.

* `adjusted_p_values`: Holm (family-wise error) and Benjamini-Hochberg (false discovery rate)
  adjusted p-values (statsmodels `multipletests`) across a family of effects.
* `summary_index` / `summary_index_effect`: the standardized summary index of Anderson (2008,
  JASA 103(484), "Multiple inference and gender differences in the effects of early
  intervention"): every item is signed so that higher = more de-escalation, standardized by the
  control arm's pre-period mean and SD, and the items are averaged with GLS weights (the row
  sums of the inverse of their covariance matrix, estimated on all pre-period encounters, so
  that highly correlated items count less, normalised to sum to one). The index is then
  re-standardized to the control arm's pre-period SD, and its intent-to-treat effect is the
  same arm x post difference in differences as every rating (OLS, officer-clustered SE), in SD
  units: one pre-specified outcome instead of many.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.stats.multitest import multipletests

from analysis.inference import cluster_codes, treatment_indicator, wald_interval, wald_p_value
from analysis.memo import memoized
from analysis.results import Effect

INDEX_NAME = "deescalation_index"

# +1: more is more de-escalation; -1: more is less.
DEESCALATION_SIGNS: dict[str, int] = {
    "personal_conversation": 1,
    "repeated_commands": -1,
    "commands_issued": -1,
    "empathy": 1,
    "explained_reason": 1,
    "listened": 1,
    "respect": 1,
    "calm_tone": 1,
    "gave_choices": 1,
    "used_time_distance": 1,
    "threatened": -1,
    "used_profanity": -1,
}


def adjusted_p_values(
    effects: Sequence[Effect], methods: Sequence[str] = ("holm", "fdr_bh"), alpha: float = 0.05
) -> pd.DataFrame:
    """One row per effect: the p-value, each method's adjusted p-value and whether it rejects
    at `alpha`. Effects without a p-value are listed but take no part in the adjustment."""
    frame = pd.DataFrame(
        {
            "outcome": [effect.outcome for effect in effects],
            "estimate": [effect.estimate for effect in effects],
            "scale": [effect.scale for effect in effects],
            "p_value": [effect.p_value for effect in effects],
        }
    )
    if "fisher_p_value" in {key for effect in effects for key in effect.extras}:
        frame["fisher_p_value"] = [effect.extras.get("fisher_p_value") for effect in effects]
    finite = frame["p_value"].notna() & np.isfinite(frame["p_value"].astype(float))
    for method in methods:
        column = {"holm": "p_holm", "fdr_bh": "p_bh"}.get(method, f"p_{method}")
        frame[column] = np.nan
        frame[f"rejected_{column[2:]}"] = False
        if finite.any():
            rejected, adjusted, _, _ = multipletests(
                frame.loc[finite, "p_value"].astype(float), alpha=alpha, method=method
            )
            frame.loc[finite, column] = adjusted
            frame.loc[finite, f"rejected_{column[2:]}"] = rejected
    return frame


@dataclass(frozen=True)
class SummaryIndex:
    """The index per encounter, and how it was built."""

    values: pd.Series
    weights: dict[str, float]
    signs: dict[str, int]
    control_pre_mean: dict[str, float]
    control_pre_sd: dict[str, float]


def summary_index(
    encounters: pd.DataFrame,
    items: Sequence[str],
    *,
    signs: Mapping[str, int] | None = None,
    arm: str = "arm",
    period: str = "study_period",
) -> SummaryIndex:
    """Anderson's GLS-weighted index of `items` (module docstring), one value per encounter
    (NaN where an item is missing)."""
    signs = {item: int((signs or DEESCALATION_SIGNS).get(item, 1)) for item in items}
    values = encounters[list(items)].apply(pd.to_numeric, errors="coerce").astype(float)
    is_pre = encounters[period].astype("object") == "pre"
    control_pre = is_pre & (treatment_indicator(encounters[arm]) == 0)
    mean = values[control_pre].mean()
    sd = values[control_pre].std(ddof=1)
    constant = [item for item in items if not sd[item] > 0]
    if constant:
        raise ValueError(f"items without variation in the control arm's pre period: {constant}")
    standardized = (values - mean) / sd * pd.Series(signs)
    covariance = standardized[is_pre].dropna().cov().to_numpy()
    row_sums = np.linalg.pinv(covariance).sum(axis=1)
    weights = row_sums / row_sums.sum()
    index = standardized.to_numpy() @ weights
    index_sd = float(np.nanstd(index[control_pre.to_numpy()], ddof=1))
    index_mean = float(np.nanmean(index[control_pre.to_numpy()]))
    return SummaryIndex(
        values=pd.Series((index - index_mean) / index_sd, index=encounters.index, name=INDEX_NAME),
        weights=dict(zip(items, map(float, weights), strict=True)),
        signs=signs,
        control_pre_mean={item: float(mean[item]) for item in items},
        control_pre_sd={item: float(sd[item]) for item in items},
    )


@memoized
def summary_index_effect(
    encounters: pd.DataFrame,
    items: Sequence[str],
    *,
    signs: Mapping[str, int] | None = None,
    cluster: str = "officer_id",
    arm: str = "arm",
    period: str = "study_period",
) -> Effect:
    """The ITT difference in differences of the summary index (SD units of the control arm's
    pre-period index), officer-clustered."""
    index = summary_index(encounters, items, signs=signs, arm=arm, period=period)
    data = pd.DataFrame(
        {
            "y": index.values,
            "treated_arm": treatment_indicator(encounters[arm]),
            "post": encounters[period].astype("object").map({"pre": 0.0, "post": 1.0}),
            "cluster": encounters[cluster],
        }
    ).dropna()
    design = pd.DataFrame(
        {
            "const": 1.0,
            "treated_arm": data["treated_arm"],
            "post": data["post"],
            "treated_arm:post": data["treated_arm"] * data["post"],
        }
    )
    fit = sm.OLS(data["y"], design).fit(
        cov_type="cluster", cov_kwds={"groups": cluster_codes(data["cluster"])}
    )
    estimate = float(fit.params["treated_arm:post"])
    std_error = float(fit.bse["treated_arm:post"])
    low, high = wald_interval(estimate, std_error)
    extras = {f"weight_{item}": weight for item, weight in index.weights.items()}
    extras["n_items"] = len(items)
    return Effect(
        outcome=INDEX_NAME,
        estimator="ITT diff-in-diff, OLS on Anderson summary index",
        estimate=estimate,
        std_error=std_error,
        ci_low=low,
        ci_high=high,
        p_value=wald_p_value(estimate, std_error),
        n_units=int(data["cluster"].nunique()),
        n_obs=len(data),
        scale="sd",
        extras=extras,
        notes=(
            "Anderson (2008) index: items signed so higher = more de-escalation, standardized by "
            "the control arm's pre-period SD, GLS-weighted (inverse covariance row sums)",
            "items: " + ", ".join(items),
        ),
    )
