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
    unit_codes, unit_ids = pd.factorize(data[unit], sort=True)
    if (unit_codes < 0).any():
        raise ValueError(f"`{unit}` has missing values")
    periods_all = pd.to_numeric(data[time]).to_numpy(dtype=float)
    cohort_all = pd.to_numeric(data[cohort]).to_numpy(dtype=float)
    outcome_all = pd.to_numeric(data[outcome]).to_numpy(dtype=float)
    if np.isnan(cohort_all).any():
        raise ValueError(f"`{cohort}` has missing values; code never-treated units as +Inf")
    if not np.isfinite(periods_all).all():
        raise ValueError(f"`{time}` must be finite numbers")
    period_codes, period_values = pd.factorize(periods_all, sort=True)
    n_units, n_all_periods = len(unit_ids), len(period_values)
    cell = unit_codes.astype(np.int64) * n_all_periods + period_codes
    if np.bincount(cell, minlength=n_units * n_all_periods).max() > 1:
        raise ValueError(f"the data have duplicated ({unit}, {time}) pairs")
    unit_cohort = np.full(n_units, np.nan)
    unit_cohort[unit_codes] = cohort_all
    if (unit_cohort[unit_codes] != cohort_all).any():
        raise ValueError(f"`{cohort}` must be constant within each unit")

    notes: list[str] = []
    rows = ~np.isnan(outcome_all)  # P2
    present = np.bincount(period_codes[rows], minlength=n_all_periods) > 0
    per_unit = np.bincount(unit_codes[rows], minlength=n_units)
    units = per_unit > 0
    balanced = per_unit == present.sum()  # P3
    if (units & ~balanced).any():
        dropped = int((units & ~balanced).sum())
        notes.append(_warn(f"dropped {dropped} unit(s) not observed in every period"))
    units &= balanced
    if not units.any():
        raise ValueError("no units are left after balancing the panel")
    if drop_always_treated:  # P4
        always = units & (unit_cohort <= period_values[present].min())
        if always.any():
            notes.append(
                _warn(f"dropped {int(always.sum())} unit(s) treated in the first period or before")
            )
            units &= ~always
    values, inverse, counts = np.unique(unit_cohort[units], return_inverse=True, return_counts=True)
    if (counts == 1).any():  # P5
        listed = ", ".join(_format_cohort(g) for g in values[counts == 1])
        notes.append(_warn(f"dropped singleton cohort(s) {listed}"))
        singleton_unit = np.zeros(n_units, dtype=bool)
        singleton_unit[np.flatnonzero(units)[counts[inverse] == 1]] = True
        units &= ~singleton_unit
    if not units.any():
        raise ValueError("no units are left after dropping singleton cohorts")

    rows &= units[unit_codes]
    kept_periods = np.flatnonzero(present)
    periods = np.asarray(period_values, dtype=float)[kept_periods]
    new_unit = np.cumsum(units) - 1
    new_period = np.cumsum(present) - 1
    outcomes = np.empty((int(units.sum()), len(periods)))
    outcomes[new_unit[unit_codes[rows]], new_period[period_codes[rows]]] = outcome_all[rows]
    kept_cohort = unit_cohort[units]
    cohorts = np.unique(kept_cohort)  # ascending, +Inf last
    first_period_rows = rows & (period_codes == kept_periods[0])
    reference_order = new_unit[unit_codes[first_period_rows]]
    if np.any(np.diff(periods) != 1.0) or np.any(periods != np.round(periods)):
        notes.append(
            _warn(
                "periods are not consecutive integers: like R's package, the base period of "
                "cohort g is the literal value g - 1 and the refinement counts gMin - t_1 periods"
            )
        )
    return CohortPanel(
        unit_ids=np.asarray(unit_ids)[units],
        periods=periods,
        cohorts=cohorts,
        labels=np.searchsorted(cohorts, kept_cohort).astype(np.int64),
        outcomes=outcomes,
        reference_order=reference_order.astype(np.int64),
        notes=tuple(notes),
    )


def _format_cohort(value: float) -> str:
    return "Inf" if np.isinf(value) else f"{value:g}"


def _warn(message: str) -> str:
    warnings.warn(message, UserWarning, stacklevel=3)
    return message
