"""The data pipeline of the R package `staggered` (spec section 2) and the cohort summaries.

Order matters and mirrors the package: duplicates are an error (P1), rows with a missing outcome
are dropped (P2), units observed in fewer than all remaining periods are dropped (P3), the CS /
SA wrappers drop units treated at or before the first period (P4), cohorts with a single unit
are dropped (P5), units are sorted by id (P6). Never-treated units carry the cohort +Inf.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class CohortPanel:
    """A balanced panel after the pipeline: one row of `outcomes` per unit, in unit-id order.

    `labels[i]` is the index into `cohorts` (sorted, +Inf last) of unit i's cohort.
    `reference_order` lists the units (as row positions here) in the order in which their
    first-period rows appear in the input: the order in which R's `staggered()` reads the
    cohort labels it permutes.
    """

    unit_ids: np.ndarray
    periods: np.ndarray
    cohorts: np.ndarray
    labels: np.ndarray
    outcomes: np.ndarray
    reference_order: np.ndarray
    notes: tuple[str, ...] = ()

    @property
    def n_units(self) -> int:
        return int(self.outcomes.shape[0])

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.cohorts.shape[0])

    def summaries(self, labels: np.ndarray | None = None) -> CohortSummaries:
        return cohort_summaries(
            self.outcomes, self.labels if labels is None else labels, len(self.cohorts)
        )


@dataclass(frozen=True)
class CohortSummaries:
    """Per cohort: size N_g, mean vector (K x T) and covariance with denominator N_g - 1."""

    sizes: np.ndarray
    means: np.ndarray
    covariances: np.ndarray


def cohort_summaries(outcomes: np.ndarray, labels: np.ndarray, n_cohorts: int) -> CohortSummaries:
    n_periods = outcomes.shape[1]
    sizes = np.bincount(labels, minlength=n_cohorts)
    means = np.zeros((n_cohorts, n_periods))
    covariances = np.zeros((n_cohorts, n_periods, n_periods))
    for k in range(n_cohorts):
        members = outcomes[labels == k]
        if members.shape[0] == 0:
            continue
        means[k] = members.mean(axis=0)
        if members.shape[0] > 1:
            centred = members - means[k]
            # einsum, not BLAS: many small products are slow with a threaded BLAS on a busy host
            products = np.einsum("it,is->ts", centred, centred)
            covariances[k] = products / (members.shape[0] - 1)
    return CohortSummaries(sizes=sizes, means=means, covariances=covariances)


def prepare_panel(
    data: pd.DataFrame,
    *,
    unit: str,
    time: str,
    cohort: str,
    outcome: str,
    drop_always_treated: bool = False,
) -> CohortPanel:
    """Clean, balance and summarise a long unit x period table as R's `staggered` does."""
    missing = [name for name in (unit, time, cohort, outcome) if name not in data.columns]
    if missing:
        raise KeyError(f"columns not in the data: {missing}")
    frame = pd.DataFrame(
        {
            "i": data[unit].to_numpy(),
            "t": pd.to_numeric(data[time]).to_numpy(dtype=float),
            "g": pd.to_numeric(data[cohort]).to_numpy(dtype=float),
            "y": pd.to_numeric(data[outcome]).to_numpy(dtype=float),
        }
    )
    notes: list[str] = []
    if frame["g"].isna().any():
        raise ValueError(f"`{cohort}` has missing values; code never-treated units as +Inf")
    if frame["t"].isna().any() or np.isinf(frame["t"]).any():
        raise ValueError(f"`{time}` must be finite numbers")
    if frame.duplicated(["i", "t"]).any():
        raise ValueError(f"the data have duplicated ({unit}, {time}) pairs")
    if frame.groupby("i", sort=False)["g"].nunique().gt(1).any():
        raise ValueError(f"`{cohort}` must be constant within each unit")

    frame = frame[frame["y"].notna()]
    rows_per_unit = frame.groupby("i", sort=False)["t"].transform("size")
    n_periods = frame["t"].nunique()
    unbalanced = rows_per_unit < n_periods
    if unbalanced.any():
        dropped = frame.loc[unbalanced, "i"].nunique()
        notes.append(_warn(f"dropped {dropped} unit(s) not observed in every period"))
        frame = frame[~unbalanced]
    if frame.empty:
        raise ValueError("no units are left after balancing the panel")

    if drop_always_treated:
        always = frame["g"] <= frame["t"].min()
        if always.any():
            dropped = frame.loc[always, "i"].nunique()
            notes.append(_warn(f"dropped {dropped} unit(s) treated in the first period or before"))
            frame = frame[~always]

    unit_cohorts = frame.drop_duplicates("i")[["i", "g"]]
    cohort_sizes = unit_cohorts["g"].value_counts()
    singletons = cohort_sizes.index[cohort_sizes == 1]
    if len(singletons):
        listed = ", ".join(_format_cohort(g) for g in sorted(singletons))
        notes.append(_warn(f"dropped singleton cohort(s) {listed}"))
        frame = frame[~frame["g"].isin(singletons)]
    if frame.empty:
        raise ValueError("no units are left after dropping singleton cohorts")

    return _to_panel(frame, tuple(notes))


def _to_panel(frame: pd.DataFrame, notes: tuple[str, ...]) -> CohortPanel:
    unit_codes, unit_ids = pd.factorize(frame["i"], sort=True)
    period_codes, periods = pd.factorize(frame["t"], sort=True)
    periods = np.asarray(periods, dtype=float)
    unit_ids = np.asarray(unit_ids)
    outcomes = np.empty((len(unit_ids), len(periods)))
    outcomes[unit_codes, period_codes] = frame["y"].to_numpy()
    unit_cohort = np.empty(len(unit_ids))
    unit_cohort[unit_codes] = frame["g"].to_numpy()
    cohorts = np.unique(unit_cohort)  # ascending, +Inf last
    labels = np.searchsorted(cohorts, unit_cohort)
    first_period_rows = period_codes == 0
    reference_order = unit_codes[first_period_rows]
    if np.any(np.diff(periods) != 1.0) or np.any(periods != np.round(periods)):
        notes += (
            _warn(
                "periods are not consecutive integers: like R's package, the base period of "
                "cohort g is the literal value g - 1 and the refinement counts gMin - t_1 periods"
            ),
        )
    return CohortPanel(
        unit_ids=unit_ids,
        periods=periods,
        cohorts=cohorts,
        labels=labels.astype(np.int64),
        outcomes=outcomes,
        reference_order=reference_order.astype(np.int64),
        notes=notes,
    )


def _format_cohort(value: float) -> str:
    return "Inf" if np.isinf(value) else f"{value:g}"


def _warn(message: str) -> str:
    warnings.warn(message, UserWarning, stacklevel=3)
    return message
