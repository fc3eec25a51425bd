"""The weight matrices A_theta and A_0 of each estimand (spec sections 4 and 5).

Every estimand is a weighted sum of cells (g, t): "cohort g against the cohorts not yet treated
at t". A cell with weight w puts w * contrast(t, g) in column t of A_theta and in column g - 1 of
the DiD A_0; a column that is not a period of the data contributes nothing. Rows are cohorts in
sorted order (+Inf last), columns are periods in sorted order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ESTIMANDS = ("simple", "cohort", "calendar", "eventstudy")


class NoComparisonError(ValueError):
    """An event time (or estimand) has no cohort comparison in the data."""


@dataclass(frozen=True)
class Design:
    """Cohorts (sorted, +Inf last), their sizes and the periods of the data."""

    cohorts: np.ndarray
    sizes: np.ndarray
    periods: np.ndarray

    @property
    def last_cohort(self) -> float:
        return float(self.cohorts[-1])

    def column(self, period: float) -> int | None:
        """Column of `period`, or None if it is not a period of the data (e_s = 0)."""
        position = int(np.searchsorted(self.periods, period))
        if position < len(self.periods) and self.periods[position] == period:
            return position
        return None


def contrast(design: Design, cohort_index: int, period: float, last_treated_only: bool):
    """w^(t,g): 1 for cohort g minus the size-weighted control cohorts."""
    cohort = design.cohorts[cohort_index]
    if period >= design.last_cohort:
        raise ValueError(f"ATE(t,g) is not identified for t = {period:g}")
    if last_treated_only:
        controls = design.cohorts == design.last_cohort
    else:
        controls = design.cohorts > max(cohort, period)
    weights = np.zeros(len(design.cohorts))
    weights[controls] = -design.sizes[controls] / design.sizes[controls].sum()
    weights[cohort_index] += 1.0
    return weights


def cells(design: Design, estimand: str, event_time: int | None = None):
    """The (cohort index, period, weight) cells of an estimand."""
    cohorts, sizes, periods = design.cohorts, design.sizes.astype(float), design.periods
    last, final_period = design.last_cohort, periods[-1]
    found: list[tuple[int, float, float]] = []
    if estimand == "simple":
        pairs = [(k, t) for k, g in enumerate(cohorts) for t in periods if t >= g and t < last]
        total = sum(sizes[k] for k, _ in pairs)
        found = [(k, t, sizes[k] / total) for k, t in pairs]
    elif estimand == "cohort":
        eligible = [k for k, g in enumerate(cohorts) if g < last and g <= final_period]
        total = sizes[eligible].sum()
        for k in eligible:
            post = [t for t in periods if cohorts[k] <= t < last]
            found += [(k, t, sizes[k] / total / len(post)) for t in post]
    elif estimand == "calendar":
        eligible = [t for t in periods if cohorts[0] <= t < last]
        for t in eligible:
            treated = [k for k, g in enumerate(cohorts) if g <= t]
            total = sizes[treated].sum()
            found += [(k, t, sizes[k] / total / len(eligible)) for k in treated]
    elif estimand == "eventstudy":
        if event_time is None:
            raise ValueError("the event-study estimand needs an event time")
        e = float(event_time)
        eligible = [
            k
            for k, g in enumerate(cohorts)
            if max(g + e, g) < last and max(g + e, g) <= final_period
        ]
        if not eligible:
            raise NoComparisonError(f"there are no comparison cohorts for event time {event_time}")
        if not any(design.column(cohorts[k] + e) is not None for k in eligible):
            raise NoComparisonError(
                f"no valid cohort comparisons found for event time {event_time}"
            )
        total = sizes[eligible].sum()
        found = [(k, cohorts[k] + e, sizes[k] / total) for k in eligible]
    else:
        raise ValueError(f"unknown estimand {estimand!r}; use one of {ESTIMANDS}")
    if not found:
        raise NoComparisonError(f"the {estimand} estimand has no treated cohort-period cells")
    return found


def weight_matrices(
    design: Design,
    estimand: str,
    event_time: int | None = None,
    last_treated_only: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """A_theta and the DiD A_0 (both K x T) of an estimand."""
    shape = (len(design.cohorts), len(design.periods))
    a_theta, a_zero = np.zeros(shape), np.zeros(shape)
    for k, t, weight in cells(design, estimand.lower(), event_time):
        w = weight * contrast(design, k, t, last_treated_only)
        target, base = design.column(t), design.column(design.cohorts[k] - 1.0)
        if target is not None:
            a_theta[:, target] += w
        if base is not None:
            a_zero[:, base] += w
    return a_theta, a_zero


def full_pre_period_contrasts(design: Design) -> np.ndarray:
    """The full A_0 (K x R x T): cohort g_j minus the last cohort, at every period t < g_j.

    R errors for a cohort treated at or before the first period (no pre-period); its block is
    simply empty here.
    """
    n_cohorts, n_periods = len(design.cohorts), len(design.periods)
    blocks = []
    for j in range(n_cohorts - 1):
        pre = np.flatnonzero(design.periods < design.cohorts[j])
        block = np.zeros((n_cohorts, len(pre), n_periods))
        block[j, np.arange(len(pre)), pre] = 1.0
        block[-1, np.arange(len(pre)), pre] = -1.0
        blocks.append(block)
    return np.concatenate(blocks, axis=1)


def as_list(value) -> list:
    """One value (an event time, an estimand) or a sequence of them, as a list."""
    if isinstance(value, str) or np.isscalar(value):
        return [value]
    return list(value)
