"""The officer-months of the wait-list trial's comparison window, in model form.

The window is the wait-list design's: the `pre_months` months before the treatment arm's
training month ("pre") against the months from it up to the control arm's training month
("post"), when only the treatment arm is trained. The month that holds `trial_start` counts as
post. Officer-months with no exposure (no calls attended, or exposure missing) have no place in
a rate model (log 0 is not an offset) and are dropped, and counted; months flagged inactive are
dropped too. Every officer-month estimator of the trial (analysis/force.py, force_ancova.py,
compliance.py, mediation.py, randomization.py) reads its data through `window_panel`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd

from analysis.inference import treatment_indicator
from analysis.marts import study_dates


def window_panel(
    officer_months: pd.DataFrame,
    outcome: str,
    *,
    exposure: str | None = "calls_attended",
    cluster: str = "officer_id",
    arm: str = "arm",
    month: str = "month_start",
    active: str | None = "is_active",
    trial_start: date | None = None,
    control_start: date | None = None,
    pre_months: int = 12,
    carry: Sequence[str] = (),
) -> tuple[pd.DataFrame, int, int]:
    """The officer-months of the ITT window in model form (y, treated_arm, post, month, cluster,
    exposure), with the number of officer-months dropped for zero exposure and their events.
    The `carry` columns of `officer_months` come along unchanged, row for row, so a second
    variable of the same officer-months needs no second panel."""
    trial_month, control_month = trial_window(officer_months, arm, trial_start, control_start)
    return _panel(
        officer_months,
        outcome,
        exposure,
        cluster,
        arm,
        month,
        active,
        trial_month,
        control_month,
        pre_months,
        carry,
    )


def trial_window(
    officer_months: pd.DataFrame,
    arm: str,
    trial_start: date | None,
    control_start: date | None,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first months of the treatment arm's and the control arm's training (defaults: the
    earliest `cohort_month` of each arm; without a control date, 12 months after the first)."""
    if trial_start is None:
        dates = study_dates(officer_months, arm=arm, cohort="cohort_month")
        trial_start = dates.trial_start_on
        control_start = control_start or dates.control_start_on
    trial_month = pd.Timestamp(trial_start).to_period("M").to_timestamp()
    if control_start is None:
        control_month = trial_month + pd.DateOffset(months=12)
    else:
        control_month = pd.Timestamp(control_start).to_period("M").to_timestamp()
    if control_month <= trial_month:
        raise ValueError("the control arm's training does not come after the treatment arm's")
    return trial_month, control_month


def _panel(
    officer_months: pd.DataFrame,
    outcome: str,
    exposure: str | None,
    cluster: str,
    arm: str,
    month: str,
    active: str | None,
    trial_month: pd.Timestamp,
    control_month: pd.Timestamp,
    pre_months: int,
    carry: Sequence[str] = (),
) -> tuple[pd.DataFrame, int, int]:
    needed = [outcome, cluster, arm, month] + ([exposure] if exposure else []) + list(carry)
    absent = [column for column in needed if column not in officer_months.columns]
    if absent:
        raise KeyError(f"officer-months have no column(s) {absent}")
    month_start = pd.to_datetime(officer_months[month])
    in_window = (month_start >= trial_month - pd.DateOffset(months=pre_months)) & (
        month_start < control_month
    )
    if active and active in officer_months.columns:
        in_window &= officer_months[active].fillna(False).astype(bool)
    window = officer_months.loc[in_window, list(dict.fromkeys(needed))]
    month_start = month_start[in_window]
    data = pd.DataFrame(
        {
            "y": pd.to_numeric(window[outcome], errors="coerce").astype(float),
            "treated_arm": treatment_indicator(window[arm]),
            "post": (month_start >= trial_month).astype(float),
            "month": month_labels(month_start),
            "cluster": window[cluster],
            "exposure": (
                pd.to_numeric(window[exposure], errors="coerce").astype(float) if exposure else 1.0
            ),
        }
    )
    for column in carry:
        if column in data.columns:
            raise ValueError(f"cannot carry {column!r}: the panel has a column of that name")
        data[column] = window[column]
    data = data.dropna(subset=["y", "treated_arm", "cluster"])
    without_exposure = ~(data["exposure"] > 0)
    n_zero = int(without_exposure.sum())
    events_zero = int(data.loc[without_exposure, "y"].sum())
    return data[~without_exposure].reset_index(drop=True), n_zero, events_zero


def month_labels(month_start: pd.Series) -> pd.Series:
    """'YYYY-MM' of every date (NaN for NaT), formatted once per distinct date: strftime row
    by row takes a second on a large department's officer-months."""
    codes, distinct = pd.factorize(month_start, use_na_sentinel=False)
    labels = pd.DatetimeIndex(distinct).strftime("%Y-%m").to_numpy(object)
    return pd.Series(labels[codes], index=month_start.index, dtype=object)
