"""Officer baseline moderators for the subgroup table: facts fixed before assignment.

Subgroups may only be defined by what assignment could not have changed. For an officer that is
the roster at assignment (`marts.dim_officers`) and the officer's own record before the trial
began; never anything coded in the post-period encounters or counted after training.

Levels per moderator (`officer_moderator_levels`):

* `sex`, `unit_type_at_assignment`: the roster's value (missing stays missing);
* `tenure_years_at_assignment`, `age_at_assignment`: "above median" / "at or below median", the
  median over the randomized officers;
* `pre_period_force_rate`: the officer's force reports per active month in the pre-period (the
  months before the treatment arm's training month), "above median" / "at or below median";
  officers without a pre-period month are missing (not put in a level).

The medians are of baseline facts only, so the split is itself pre-treatment.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd

# The plan's officer moderators (plans/<department>.yaml `moderators`, besides the call type)
OFFICER_MODERATORS = (
    "sex",
    "tenure_years_at_assignment",
    "unit_type_at_assignment",
    "pre_period_force_rate",
)
_CATEGORICAL = ("sex", "race", "rank", "unit_at_assignment", "unit_type_at_assignment")
_MEDIAN_SPLIT = ("tenure_years_at_assignment", "age_at_assignment")
PRE_FORCE = "pre_period_force_rate"
ABOVE, BELOW = "above median", "at or below median"


def officer_moderator_levels(
    officers: pd.DataFrame,
    officer_months: pd.DataFrame | None = None,
    moderators: Sequence[str] = OFFICER_MODERATORS,
    *,
    trial_start: date | None = None,
    officer: str = "officer_id",
    arm: str = "arm",
) -> pd.DataFrame:
    """One row per randomized officer: `officer` and a level column per moderator it can make
    (module docstring). `trial_start` (the treatment arm's training) ends the pre-period of
    `pre_period_force_rate`; without it that moderator is left out."""
    randomized = officers[officers[arm].notna()].drop_duplicates(officer)
    levels = pd.DataFrame({officer: randomized[officer].astype(str).to_numpy()})
    for name in moderators:
        if name in _CATEGORICAL and name in randomized.columns:
            values = randomized[name].astype("string").to_numpy()
            levels[name] = pd.Series(values, dtype="string")
        elif name in _MEDIAN_SPLIT and name in randomized.columns:
            levels[name] = _median_split(pd.to_numeric(randomized[name], errors="coerce"))
        elif name == PRE_FORCE and officer_months is not None and trial_start is not None:
            rate = pre_period_force_rate(officer_months, trial_start, officer=officer)
            levels[name] = _median_split(levels[officer].map(rate))
    return levels


def pre_period_force_rate(
    officer_months: pd.DataFrame,
    trial_start: date,
    *,
    officer: str = "officer_id",
    outcome: str = "force_reports",
    month: str = "month_start",
    active: str = "is_active",
) -> pd.Series:
    """Force reports per active month before the treatment arm's training month, per officer."""
    months = pd.to_datetime(officer_months[month])
    before = months < pd.Timestamp(trial_start).to_period("M").to_timestamp()
    if active in officer_months.columns:
        before &= officer_months[active].fillna(False).astype(bool)
    pre = officer_months.loc[before]
    grouped = pd.to_numeric(pre[outcome], errors="coerce").groupby(pre[officer].astype(str))
    return grouped.mean()


def _median_split(values: pd.Series) -> pd.Series:
    values = pd.Series(np.asarray(values, float))
    median = values.median()
    split = np.where(values > median, ABOVE, BELOW)
    return pd.Series(split, dtype="string").where(values.notna())
