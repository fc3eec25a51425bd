"""Planning a trial from a department's own force records: how many officers and months an
officer-randomized wait-list trial, or a staggered roll-out (stepped wedge), needs to detect a
rate ratio, and which rate ratio it detects at the department's own size.

The baseline (:func:`planning_baseline`) is the department's last `window_months` of
officer-months: force reports per officer-month served, the NB2 overdispersion of officers'
totals (officers differ in their propensity to use force) and the monthly separation rate of
the roster (officers who leave during a trial: turnover). Each design is simulated from it and
every simulated trial (analysis/trial_simulation.py) is estimated by the estimator the analysis
would use:

* wait-list: half the officers trained at once, `n_months` before and after; force per
  officer-month by the primary estimator, the Poisson ANCOVA of the post-period count on the
  arm and the officer's pre-period rate (`analysis.power_primary.ancova_log_ratios`, as
  analysis/power.py simulates it; the difference-in-differences beside it in
  :func:`waitlist_power_result`), an officer who leaves contributing no months after leaving;
* stepped wedge: officers in `n_cohorts` equal cohorts trained at evenly spaced months of an
  `n_months` window (the last with months to spare), estimated by the staggered roll-out
  estimator (`analysis.staggered`, Roth & Sant'Anna's efficient estimator, the simple
  estimand) on the balanced panel the roll-out analysis uses: an officer who leaves before the
  window ends is not in it.

A trial rejects when the 5% two-sided test does (a trial whose estimate is not estimable, e.g. a
cell without any report, does not). Power curves use common random numbers (the events of a
smaller rate ratio are a binomial thinning of those of the larger), so they are monotone up to
Monte Carlo error; the detectable rate ratio and the officers needed are interpolated on them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from analysis.power import ALPHA, LOUISVILLE_RATE_RATIO, TARGET_POWER, nb2_dispersion
from analysis.results import json_value
from analysis.trial_simulation import (  # noqa: F401 - the simulators, planned with here
    stepped_wedge_cohorts,
    stepped_wedge_power,
    waitlist_power,
)

WAITLIST = "wait-list (officers randomized, half trained first)"
STEPPED_WEDGE = "staggered roll-out (stepped wedge)"
RATIO_GRID: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
SIZE_FACTORS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
MAX_OFFICERS = 4000  # the largest trial simulated when looking for the officers needed


@dataclass(frozen=True)
class PlanningBaseline:
    """What a simulated trial of the department needs to know about it."""

    rate_per_officer_month: float
    dispersion: float  # NB2 alpha across officers
    monthly_separation: float  # officers leaving per officer-month served
    n_officers: int  # officers serving in the last month
    window_months: int
    n_reports: int
    turnover_source: str

    def to_dict(self) -> dict:
        return {k: json_value(v) for k, v in asdict(self).items()}


def planning_baseline(
    officer_months: pd.DataFrame,
    officers: pd.DataFrame | None = None,
    *,
    outcome: str = "force_reports",
    window_months: int = 12,
) -> PlanningBaseline:
    """The baseline of the last `window_months` months in which officers served. Turnover is
    the roster's separations in those months over the officer-months served (none recorded:
    no turnover, said in `turnover_source`). Raises ValueError without officer-months."""
    months = officer_months
    if "is_active" in months.columns:
        months = months[months["is_active"].fillna(False).astype(bool)]
    if months.empty or outcome not in months.columns:
        raise ValueError("no officer-months served: nothing to plan a trial from")
    month = pd.to_datetime(months["month_start"])
    last = month.max()
    window = months[month > last - pd.DateOffset(months=window_months)]
    per_officer = window.groupby("officer_id").agg(
        events=(outcome, "sum"), months=(outcome, "size")
    )
    events = float(per_officer["events"].sum())
    served = float(per_officer["months"].sum())
    n_last = int(window.loc[pd.to_datetime(window["month_start"]) == last, "officer_id"].nunique())
    separation, source = 0.0, "the roster records no separations: turnover not modelled"
    if officers is not None and "separated_on" in officers.columns:
        left = pd.to_datetime(officers["separated_on"])
        start = last - pd.DateOffset(months=window_months)
        n_left = int(((left > start) & (left < last + pd.DateOffset(months=1))).sum())
        if left.notna().any():
            separation = n_left / served
            officers_left = f"{n_left} officer{'' if n_left == 1 else 's'}"
            source = f"the roster: {officers_left} left in the last {window_months} months"
    return PlanningBaseline(
        rate_per_officer_month=events / served,
        dispersion=nb2_dispersion(per_officer["events"], per_officer["months"]),
        monthly_separation=separation,
        n_officers=n_last,
        window_months=int(window_months),
        n_reports=int(events),
        turnover_source=source,
    )


# --------------------------------------------------------------------------------------------
# what a department reads


@dataclass(frozen=True)
class TrialPlanning:
    """Per design: the power curve at the department's size, the detectable rate ratio there,
    and the officers needed for `target_power` at `rate_ratio`."""

    baseline: PlanningBaseline
    rate_ratio: float
    target_power: float
    designs: pd.DataFrame  # design, months, officers, mde, power at rate_ratio, officers needed
    power_curves: pd.DataFrame  # design x rate ratio at the department's size
    n_simulations: int
    seed: int
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        def records(frame: pd.DataFrame) -> list[dict]:
            return [{k: json_value(v) for k, v in row.items()} for row in frame.to_dict("records")]

        return {
            "baseline": self.baseline.to_dict(),
            "rate_ratio": self.rate_ratio,
            "target_power": self.target_power,
            "designs": records(self.designs),
            "power_curves": records(self.power_curves),
            "n_simulations": self.n_simulations,
            "seed": self.seed,
            "notes": list(self.notes),
        }


def plan_trials(
    baseline: PlanningBaseline,
    *,
    rate_ratio: float = LOUISVILLE_RATE_RATIO,
    n_officers: int | None = None,
    waitlist_months: int = 12,
    wedge_months: int = 24,
    wedge_cohorts: int = 6,
    n_simulations: int = 200,
    seed: int = 0,
    target_power: float = TARGET_POWER,
) -> TrialPlanning:
    """Both designs at the department's size (or `n_officers`): power curve, detectable rate
    ratio, and officers needed for `target_power` at `rate_ratio` (simulated over sizes
    `SIZE_FACTORS` times the department's, interpolated on log officers)."""
    if baseline.rate_per_officer_month <= 0:
        raise ValueError("no force reports in the baseline window: no rate to plan a trial on")
    size = max(4, int(n_officers or baseline.n_officers))
    ratios = sorted({*RATIO_GRID, float(rate_ratio)})
    wedge_simulations = max(20, n_simulations // 2)  # each is a staggered fit, not a formula

    def waitlist(n: int, grid: Sequence[float]) -> pd.DataFrame:
        return waitlist_power(
            baseline,
            grid,
            n_officers=n,
            n_months=waitlist_months,
            n_simulations=n_simulations,
            seed=seed,
        )

    def wedge(n: int, grid: Sequence[float]) -> pd.DataFrame:
        return stepped_wedge_power(
            baseline,
            grid,
            n_officers=n,
            n_months=wedge_months,
            n_cohorts=wedge_cohorts,
            n_simulations=wedge_simulations,
            seed=seed,
        )

    rows, curves = [], []
    for design, months, simulate in (
        (WAITLIST, waitlist_months, waitlist),
        (STEPPED_WEDGE, wedge_months, wedge),
    ):
        curve = simulate(size, ratios).assign(design=design)
        curves.append(curve)
        at_ratio = curve[np.isclose(curve["rate_ratio"], rate_ratio)].iloc[0]
        sizes = sorted({max(4, 2 * round(f * size / 2)) for f in SIZE_FACTORS})
        by_size = pd.concat([simulate(n, [rate_ratio]) for n in sizes], ignore_index=True)
        while by_size["power"].max() < target_power and max(sizes) < MAX_OFFICERS:
            sizes.append(2 * max(sizes))  # a small department: double until it is enough
            by_size = pd.concat([by_size, simulate(sizes[-1], [rate_ratio])], ignore_index=True)
        rows.append(
            {
                "design": design,
                "months": months if design == STEPPED_WEDGE else 2 * months,
                "officers": size,
                "power_at_rate_ratio": float(at_ratio["power"]),
                "rejection_at_no_effect": float(
                    curve.loc[curve["rate_ratio"] == 1.0, "power"].iloc[0]
                ),
                "detectable_rate_ratio": detectable_rate_ratio(curve, target_power),
                "officers_needed": officers_needed(by_size, target_power),
                "largest_size_simulated": max(sizes),
            }
        )
    notes = (
        f"{n_simulations} simulated wait-list trials and {wedge_simulations} simulated "
        f"stepped wedges per point (seed {seed}); {ALPHA:.0%} two-sided tests",
        f"wait-list: {waitlist_months} months before and {waitlist_months} after the first "
        f"arm's training; stepped wedge: {wedge_cohorts} cohorts over {wedge_months} months",
        "rate ratios are intent-to-treat: officers who never finish training dilute them",
        f"turnover: {baseline.turnover_source}",
    )
    return TrialPlanning(
        baseline=baseline,
        rate_ratio=float(rate_ratio),
        target_power=target_power,
        designs=pd.DataFrame(rows),
        power_curves=pd.concat(curves, ignore_index=True),
        n_simulations=n_simulations,
        seed=seed,
        notes=notes,
    )


def detectable_rate_ratio(curve: pd.DataFrame, target: float = TARGET_POWER) -> float:
    """The rate ratio below 1 detected with `target` power, log-interpolated on a power curve
    (NaN when no simulated ratio reaches it)."""
    reductions = curve[curve["rate_ratio"] < 1].sort_values("rate_ratio", ascending=False)
    ratios = reductions["rate_ratio"].to_numpy(float)
    power = np.maximum.accumulate(reductions["power"].to_numpy(float))
    return _crossing(np.log(ratios), power, target, transform=np.exp)


def officers_needed(by_size: pd.DataFrame, target: float = TARGET_POWER) -> float:
    """Officers for `target` power, log-interpolated over simulated sizes (NaN when even the
    largest size falls short)."""
    ordered = by_size.sort_values("n_officers")
    sizes = ordered["n_officers"].to_numpy(float)
    power = np.maximum.accumulate(ordered["power"].to_numpy(float))
    value = _crossing(np.log(sizes), power, target, transform=np.exp)
    return float(math.ceil(value)) if math.isfinite(value) else math.nan


def _crossing(x: np.ndarray, power: np.ndarray, target: float, *, transform) -> float:
    above = np.flatnonzero(power >= target)
    if len(above) == 0:
        return math.nan
    first = above[0]
    if first == 0:
        return float(transform(x[0]))
    low, high = power[first - 1], power[first]
    weight = (target - low) / (high - low) if high > low else 1.0
    return float(transform((1 - weight) * x[first - 1] + weight * x[first]))


def waitlist_power_result(
    baseline: PlanningBaseline,
    *,
    rate_ratio: float = LOUISVILLE_RATE_RATIO,
    n_officers: int | None = None,
    n_months: int | None = None,
    n_simulations: int = 200,
    seed: int = 0,
):
    """(PowerResult, sample-size table) of a wait-list trial planned on a department without
    one: the simulated power and detectable rate ratio of :func:`waitlist_power` (force per
    officer-month served, with the roster's turnover) through the primary estimator and the
    difference-in-differences, and the latter's analytic ones (analysis/power_analytic.py) with
    one unit of exposure per officer-month."""
    from analysis.power import (
        PowerResult,
        analytic_mde,
        analytic_power,
        analytic_std_error,
        given_baseline,
        sample_size_table,
    )

    if baseline.rate_per_officer_month <= 0:
        raise ValueError("no force reports in the baseline window: no rate to plan a trial on")
    n_officers = max(4, int(n_officers or baseline.n_officers))
    n_months = int(n_months or baseline.window_months)
    analytic = given_baseline(
        baseline.rate_per_officer_month,
        dispersion=baseline.dispersion,
        calls_per_officer_month=1.0,
        calls_officer_shape=math.inf,
        n_officers=n_officers,
        n_months=n_months,
    )
    grid = sorted({*RATIO_GRID, float(rate_ratio)})
    curve, curve_did = (
        waitlist_power(
            baseline,
            grid,
            n_officers=n_officers,
            n_months=n_months,
            n_simulations=n_simulations,
            seed=seed,
            estimator=estimator,
        )
        for estimator in ("primary", "did")
    )
    asked = curve[np.isclose(curve["rate_ratio"], rate_ratio)].iloc[0]
    asked_did = curve_did[np.isclose(curve_did["rate_ratio"], rate_ratio)].iloc[0]
    result = PowerResult(
        outcome="force_reports",
        baseline_rate=baseline.rate_per_officer_month,
        baseline_rate_per_call=math.nan,
        dispersion=baseline.dispersion,
        n_officers=n_officers,
        n_months=n_months,
        rate_ratio=float(rate_ratio),
        power=float(asked["power"]),
        power_mc_error=float(asked["power_mc_error"]),
        mde_rate_ratio=detectable_rate_ratio(curve),
        power_did=float(asked_did["power"]),
        mde_rate_ratio_did=detectable_rate_ratio(curve_did),
        power_analytic=analytic_power(analytic, rate_ratio, n_officers, n_months),
        mde_rate_ratio_analytic=analytic_mde(analytic, n_officers, n_months),
        std_error_log_analytic=analytic_std_error(analytic, rate_ratio, n_officers, n_months),
        n_simulations=int(n_simulations),
        seed=int(seed),
        notes=(
            "no trial in the warehouse: a wait-list trial planned on the department's last "
            f"{baseline.window_months} months ({baseline.n_officers} officers serving, "
            f"{baseline.n_reports} force reports)",
            "simulation through the primary estimator, the Poisson ANCOVA of force per "
            "officer-month served (month effects, the officer's pre-period rate, "
            "officer-clustered SE); beside it the difference-in-differences",
            f"turnover: {baseline.turnover_source}",
        ),
    )
    return result, sample_size_table(analytic, n_officers=n_officers, n_months=n_months)
