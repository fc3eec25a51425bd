"""What a department's force records say before any trial: the figures its report shows when
there is no effect to estimate (no trial arms or roll-out cohorts), from frames of the marts.

* :func:`monthly_force_rates`: force reports per active officer-month, month by month, with an
  exact Poisson 95% interval for the month's count (officers are not independent within a
  month, so read the band as the least uncertainty there is);
* :func:`force_breakdown`: reports by force level, by force type or by the officer's unit, with
  their rate per 1,000 officer-months where the exposure is known;
* :func:`force_concentration`: the share of reports by the top 5% and 10% of officers, next to
  what a Poisson model with the same mean (every officer alike, each with their own months of
  service) would give: the excess is how much force is a matter of *which* officer;
* :func:`repeat_subjects`: how many civilians (by their keyed hash) appear in more than one
  report, where the export keys its civilians.

Every function takes data frames and returns data frames or a frozen result; a frame without
the rows a figure needs gives an empty frame (the caller says why), never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

TOP_SHARES: tuple[float, ...] = (0.05, 0.10)
PER = 1000.0  # rates are shown per 1,000 officer-months


def poisson_interval(counts, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """The exact (Garwood) interval of Poisson counts (arrays of the counts' shape)."""
    counts = np.asarray(counts, float)
    tail = (1.0 - level) / 2.0
    with np.errstate(invalid="ignore"):
        low = np.where(counts > 0, stats.chi2.ppf(tail, 2 * counts) / 2.0, 0.0)
    high = stats.chi2.ppf(1.0 - tail, 2 * counts + 2) / 2.0
    return low, high


def _active(officer_months: pd.DataFrame) -> pd.DataFrame:
    """The officer-months an officer served (all of them where the roster says nothing)."""
    if "is_active" not in officer_months.columns:
        return officer_months
    return officer_months[officer_months["is_active"].fillna(False).astype(bool)]


def monthly_force_rates(
    officer_months: pd.DataFrame, *, outcome: str = "force_reports"
) -> pd.DataFrame:
    """Per month: active officers, reports, reports per 1,000 officer-months and its 95%
    interval. Months with no active officer are left out."""
    columns = ["month_start", "officers", "reports", "rate_per_1000", "ci_low", "ci_high"]
    active = _active(officer_months)
    if active.empty or outcome not in active.columns:
        return pd.DataFrame(columns=columns)
    monthly = (
        active.assign(month_start=pd.to_datetime(active["month_start"]))
        .groupby("month_start")
        .agg(officers=("officer_id", "nunique"), reports=(outcome, "sum"))
        .reset_index()
    )
    low, high = poisson_interval(monthly["reports"])
    monthly["rate_per_1000"] = PER * monthly["reports"] / monthly["officers"]
    monthly["ci_low"] = PER * low / monthly["officers"]
    monthly["ci_high"] = PER * high / monthly["officers"]
    monthly["month_start"] = monthly["month_start"].dt.date
    return monthly[columns]


def force_breakdown(
    force_reports: pd.DataFrame,
    by: str,
    *,
    officer_months: pd.DataFrame | None = None,
    officers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Reports (officer x report rows) and their share by `by` (a column of the force reports,
    or `unit`: the officer's unit on the roster, with its officers and officer-months)."""
    if force_reports.empty:
        return pd.DataFrame(columns=[by, "reports", "share"])
    reports = force_reports
    if by == "unit":
        if officers is None or "unit" not in officers.columns or officers["unit"].isna().all():
            return pd.DataFrame(columns=[by, "reports", "share"])
        units = officers[["officer_id", "unit"]].drop_duplicates("officer_id")
        reports = reports.merge(units, on="officer_id", how="left")
    if by not in reports.columns:
        return pd.DataFrame(columns=[by, "reports", "share"])
    key = reports[by].astype("object").where(reports[by].notna(), "(not recorded)")
    table = reports.groupby(key).size().rename("reports").reset_index()
    table.columns = [by, "reports"]
    table["share"] = table["reports"] / table["reports"].sum()
    if by == "unit" and officer_months is not None:
        exposure = _active(officer_months).merge(units, on="officer_id", how="left")
        exposure_key = exposure["unit"].astype("object").where(exposure["unit"].notna())
        exposure = exposure.assign(unit=exposure_key.fillna("(not recorded)"))
        served = exposure.groupby("unit").agg(
            officers=("officer_id", "nunique"), officer_months=("officer_id", "size")
        )
        table = table.merge(served, left_on=by, right_index=True, how="left")
        table["rate_per_1000"] = PER * table["reports"] / table["officer_months"]
        low, high = poisson_interval(table["reports"])
        table["ci_low"] = PER * low / table["officer_months"]
        table["ci_high"] = PER * high / table["officer_months"]
    return table.sort_values("reports", ascending=False, kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class Concentration:
    """How force is spread over officers, against a Poisson model with the same mean."""

    n_officers: int
    n_reports: int
    table: pd.DataFrame  # top share -> observed and Poisson shares of reports
    share_with_any_observed: float
    share_with_any_poisson: float
    n_simulations: int
    seed: int

    def to_dict(self) -> dict:
        return {
            "n_officers": self.n_officers,
            "n_reports": self.n_reports,
            "top_shares": self.table.to_dict("records"),
            "share_with_any_observed": self.share_with_any_observed,
            "share_with_any_poisson": self.share_with_any_poisson,
            "n_simulations": self.n_simulations,
            "seed": self.seed,
        }


def _top_share(counts: np.ndarray, fraction: float) -> np.ndarray:
    """Share of the total held by the top `fraction` of officers, along the last axis."""
    n_top = max(1, math.ceil(fraction * counts.shape[-1]))
    ordered = -np.sort(-counts, axis=-1)
    total = counts.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, ordered[..., :n_top].sum(axis=-1) / total, np.nan)


def force_concentration(
    officer_months: pd.DataFrame,
    *,
    outcome: str = "force_reports",
    top: Sequence[float] = TOP_SHARES,
    n_simulations: int = 1000,
    seed: int = 0,
) -> Concentration | None:
    """Shares of reports by the top officers (observed), and their mean and 95% range when each
    officer's count is Poisson with the department's rate times the officer's months of
    service. None when no officer served or no report was filed."""
    active = _active(officer_months)
    if active.empty or outcome not in active.columns:
        return None
    per_officer = active.groupby("officer_id").agg(
        reports=(outcome, "sum"), months=(outcome, "size")
    )
    total = float(per_officer["reports"].sum())
    if total <= 0:
        return None
    observed = per_officer["reports"].to_numpy(float)
    rate = total / float(per_officer["months"].sum())
    rng = np.random.default_rng(seed)
    simulated = rng.poisson(
        rate * per_officer["months"].to_numpy(float), (n_simulations, len(observed))
    )
    rows = []
    for fraction in top:
        shares = _top_share(simulated.astype(float), fraction)
        rows.append(
            {
                "top_officers": f"top {fraction:.0%}",
                "n_officers": max(1, math.ceil(fraction * len(observed))),
                "share_observed": float(_top_share(observed, fraction)),
                "share_poisson": float(np.nanmean(shares)),
                "poisson_low": float(np.nanquantile(shares, 0.025)),
                "poisson_high": float(np.nanquantile(shares, 0.975)),
            }
        )
    return Concentration(
        n_officers=len(observed),
        n_reports=int(total),
        table=pd.DataFrame(rows),
        share_with_any_observed=float((observed > 0).mean()),
        share_with_any_poisson=float((simulated > 0).mean()),
        n_simulations=n_simulations,
        seed=seed,
    )


def repeat_subjects(subjects: pd.DataFrame) -> pd.DataFrame:
    """Civilians (keyed hashes) by how many distinct reports name them: 1, 2, 3 and more,
    with the share of the keyed reports they account for. Empty without keyed civilians."""
    columns = ["reports_per_subject", "subjects", "reports", "share_of_reports"]
    if subjects.empty or "subject_key" not in subjects.columns:
        return pd.DataFrame(columns=columns)
    keyed = subjects.dropna(subset=["subject_key"]).drop_duplicates(["subject_key", "report_id"])
    if keyed.empty:
        return pd.DataFrame(columns=columns)
    per_subject = keyed.groupby("subject_key")["report_id"].nunique()
    band = per_subject.clip(upper=3).map({1: "1", 2: "2", 3: "3 or more"})
    table = (
        pd.DataFrame({"band": band, "reports": per_subject})
        .groupby("band")
        .agg(subjects=("reports", "size"), reports=("reports", "sum"))
        .reset_index()
        .rename(columns={"band": "reports_per_subject"})
    )
    table["share_of_reports"] = table["reports"] / table["reports"].sum()
    return table[columns]
