"""Where does de-escalation work? Intent-to-treat effects by kind of call and of civilian.

Subgroups of coded encounters (`encounter_subgroups`):

* `call_type_group`: the call's group (the seed `call_type_groups`: disturbance, domestic,
  traffic, mental health, property, violent, other);
* `civilian_resistance`: "high" if the coded resistance rating is 2 or more (any resistance
  beyond none), else "low";
* `civilian_intoxicated`, `civilian_mental_illness`: "yes" if the civilian showed signs of
  intoxication (of mental illness), else "no".

The civilian's state is coded in the same encounter as the officer's behaviour, so it is a
post-treatment variable: its subgroups are available (`POST_TREATMENT_SUBGROUPS`) but not used by
default, and the report's subgroups are the dispatched call type only.

Per subgroup level, `itt_effect` on that level's encounters. The interaction test asks whether
the effect differs between levels: a linear model of the item (probability points, rating or
count) on arm x post x level with all lower-order terms, officer-clustered, and the joint Wald
test that every arm x post x level term is zero (chi-square, levels - 1 degrees of freedom).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from analysis.communication import itt_effect
from analysis.inference import cluster_codes, treatment_indicator
from analysis.memo import memoized
from analysis.results import Effect, json_number

# The subgroups the report uses: pre-treatment only (the dispatched call type). The civilian's
# state is coded in the same encounter training aims to change, so its levels are exploratory
# (`POST_TREATMENT_SUBGROUPS`), never a default.
SUBGROUPS = ("call_type_group",)
POST_TREATMENT_SUBGROUPS = (
    "civilian_resistance",
    "civilian_intoxicated",
    "civilian_mental_illness",
)
_BINARY_SUBGROUPS = ("civilian_intoxicated", "civilian_mental_illness")
HIGH_RESISTANCE = 2.0
MIN_ENCOUNTERS = 30  # per level; smaller levels are pooled into "other" or dropped


@dataclass(frozen=True)
class SubgroupEffects:
    """The effect of training on one item within each level of one subgroup variable."""

    outcome: str
    subgroup: str
    effects: tuple[Effect, ...]  # one per level; `extras["level"]` names it
    interaction_statistic: float
    interaction_df: int
    interaction_p_value: float

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "outcome": self.outcome,
                    "subgroup": self.subgroup,
                    "level": effect.extras.get("level"),
                    "estimate": effect.estimate,
                    "ci_low": effect.ci_low,
                    "ci_high": effect.ci_high,
                    "p_value": effect.p_value,
                    "n_obs": effect.n_obs,
                    "scale": effect.scale,
                    "interaction_p_value": self.interaction_p_value,
                }
                for effect in self.effects
            ]
        )

    def to_dict(self) -> dict:
        return {
            "outcome": self.outcome,
            "subgroup": self.subgroup,
            "interaction_statistic": json_number(self.interaction_statistic),
            "interaction_df": self.interaction_df,
            "interaction_p_value": json_number(self.interaction_p_value),
            "effects": [effect.to_dict() for effect in self.effects],
        }

    def summary(self) -> str:
        lines = [f"{self.outcome} by {self.subgroup}"]
        for effect in self.effects:
            lines.append(
                f"  {str(effect.extras.get('level')):<32}{effect.estimate:>10.4f}"
                f"  [{effect.ci_low:.4f}, {effect.ci_high:.4f}]  n={effect.n_obs}"
            )
        lines.append(
            f"  interaction: chi2({self.interaction_df}) = {self.interaction_statistic:.2f}, "
            f"p = {self.interaction_p_value:.3g}"
        )
        return "\n".join(lines)


def encounter_subgroups(
    encounters: pd.DataFrame, call_type_groups: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """The encounters with the subgroup columns of the module docstring added."""
    frame = encounters.copy()
    if "call_type" in frame.columns:
        groups = call_type_groups or {}
        call_type = frame["call_type"].astype("string")
        normalised = call_type.str.lower().str.replace("_", " ", regex=False)
        frame["call_type_group"] = normalised.map(lambda c: groups.get(c, "other") if c else None)
    if "civilian_resistance" in frame.columns:
        resistance = pd.to_numeric(frame["civilian_resistance"], errors="coerce")
        frame["civilian_resistance_level"] = np.where(
            resistance.isna(), None, np.where(resistance >= HIGH_RESISTANCE, "high", "low")
        )
    for condition in _BINARY_SUBGROUPS:
        if condition in frame.columns:
            signs = pd.to_numeric(frame[condition], errors="coerce")
            frame[f"{condition}_level"] = np.where(
                signs.isna(), None, np.where(signs > 0, "yes", "no")
            )
    return frame


def _subgroup_column(subgroup: str) -> str:
    if subgroup in ("civilian_resistance", *_BINARY_SUBGROUPS):
        return f"{subgroup}_level"
    return subgroup


def subgroup_effects(
    encounters: pd.DataFrame,
    *,
    outcome: str,
    kind: str,
    subgroup: str,
    cluster: str = "officer_id",
    arm: str = "arm",
    period: str = "study_period",
    min_encounters: int = MIN_ENCOUNTERS,
) -> SubgroupEffects:
    """ITT effect of `outcome` per level of `subgroup` (a column of `encounter_subgroups`),
    and the joint interaction test."""
    column = _subgroup_column(subgroup)
    data = encounters[encounters[period].astype("object").isin(["pre", "post"])]
    level = data[column].astype("string")
    counts = level.value_counts()
    small = counts[counts < min_encounters].index
    if len(small) > 1:
        level = level.where(~level.isin(small), "other (pooled)")
    elif len(small) == 1:
        level = level.where(~level.isin(small), pd.NA)
    data = data.assign(_level=level).dropna(subset=["_level"])
    effects = []
    for name in sorted(data["_level"].unique()):
        subset = data[data["_level"] == name]
        try:
            effect = itt_effect(subset, outcome=outcome, kind=kind, cluster=cluster, arm=arm)
        except ValueError:
            continue
        effects.append(
            Effect(
                **{
                    **{f: getattr(effect, f) for f in effect.__dataclass_fields__},
                    "outcome": f"{outcome} | {subgroup} = {name}",
                    "extras": {**effect.extras, "level": str(name), "subgroup": subgroup},
                }
            )
        )
    statistic, df, p_value = _interaction_test(data, outcome, cluster, arm, period)
    return SubgroupEffects(outcome, subgroup, tuple(effects), statistic, df, p_value)


def _interaction_test(
    data: pd.DataFrame, outcome: str, cluster: str, arm: str, period: str
) -> tuple[float, int, float]:
    frame = pd.DataFrame(
        {
            "y": pd.to_numeric(data[outcome], errors="coerce"),
            "a": treatment_indicator(data[arm]),
            "p": data[period].astype("object").map({"pre": 0.0, "post": 1.0}),
            "g": data["_level"].astype(str),
            "cluster": data[cluster],
        }
    ).dropna()
    levels = sorted(frame["g"].unique())
    if len(levels) < 2:
        return math.nan, 0, math.nan
    dummies = pd.get_dummies(frame["g"], dtype=float)[levels[1:]]
    design = pd.DataFrame({"const": 1.0, "a": frame["a"], "p": frame["p"]}, index=frame.index)
    design["a:p"] = frame["a"] * frame["p"]
    tested = []
    for name in levels[1:]:
        g = dummies[name]
        design[f"g[{name}]"] = g
        design[f"a:g[{name}]"] = frame["a"] * g
        design[f"p:g[{name}]"] = frame["p"] * g
        design[f"a:p:g[{name}]"] = frame["a"] * frame["p"] * g
        tested.append(f"a:p:g[{name}]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.OLS(frame["y"], design).fit(
            cov_type="cluster", cov_kwds={"groups": cluster_codes(frame["cluster"])}
        )
    params = fit.params[tested].to_numpy()
    covariance = fit.cov_params().loc[tested, tested].to_numpy()
    try:
        statistic = float(params @ np.linalg.solve(covariance, params))
    except np.linalg.LinAlgError:
        return math.nan, len(tested), math.nan
    return statistic, len(tested), float(stats.chi2.sf(statistic, len(tested)))


@memoized
def heterogeneity_table(
    encounters: pd.DataFrame,
    items: Mapping[str, str],
    subgroups: Sequence[str] = SUBGROUPS,
    call_type_groups: Mapping[str, str] | None = None,
) -> list[SubgroupEffects]:
    """`subgroup_effects` for every item x subgroup available in the encounters."""
    frame = encounter_subgroups(encounters, call_type_groups)
    results = []
    for item, kind in items.items():
        for subgroup in subgroups:
            if _subgroup_column(subgroup) in frame.columns and item in frame.columns:
                results.append(subgroup_effects(frame, outcome=item, kind=kind, subgroup=subgroup))
    return results
