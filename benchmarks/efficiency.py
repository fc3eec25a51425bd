"""Efficiency of the primary ITT estimators against the difference in differences.

On the same simulated departments, per outcome: the mean standard error of the primary
estimator (post-period ANCOVA with block effects and the officer's pre-period mean,
`analysis.ancova`; Poisson ANCOVA per officer-month for force and complaints,
`analysis.force_ancova`) over the mean standard error of the DiD the analysis reported until now
(`analysis.communication.itt_effect`, `analysis.force.force_effect`), and the same ratio of the
estimates' standard deviations over departments (the honest measure: it does not trust either
SE). Binary items on the percentage-point scale, counts and rates on the log scale. Under
randomization both estimate the same ITT, so a ratio below 1 is precision gained for free.

Run: `.venv/bin/python -m benchmarks.efficiency [--departments 50] [--source generator]`.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Iterable

import pandas as pd

from analysis.ancova import ancova_itt_effect
from analysis.communication import itt_effect
from analysis.force import force_effect
from analysis.force_ancova import force_ancova_effect
from analysis.results import Effect
from benchmarks.coverage import SOURCES, Department, generator_available

RATE_OUTCOMES = ("force_reports", "complaints")
EFFICIENCY_COLUMNS = [
    "outcome",
    "n_departments",
    "mean_se_primary",
    "mean_se_did",
    "se_ratio",
    "sd_primary",
    "sd_did",
    "sd_ratio",
]


def _comparable(effect: Effect) -> tuple[float, float]:
    """(estimate, SE) on a scale both estimators share: points, SD units or log ratio."""
    if effect.scale == "rate_ratio":
        estimate = math.log(effect.estimate) if effect.estimate > 0 else math.nan
        return estimate, effect.extras.get("std_error_log", math.nan)
    if effect.scale == "percentage_points":
        return effect.estimate, effect.std_error
    if effect.scale == "difference":  # the DiD's binary items are proportions
        return 100 * effect.estimate, 100 * effect.std_error
    return effect.estimate, effect.std_error


def department_pairs(department: Department) -> list[dict]:
    """One record per outcome: the primary's and the DiD's estimate and SE."""
    records = []
    for item, kind in department.items.items():
        primary = ancova_itt_effect(department.encounters, outcome=item, kind=kind)
        did = itt_effect(department.encounters, outcome=item, kind=kind)
        records.append(_pair(item, primary, did))
    for outcome in RATE_OUTCOMES:
        primary = force_ancova_effect(department.officer_months, outcome=outcome)
        did = force_effect(department.officer_months, outcome=outcome, negative_binomial=False)
        records.append(_pair(outcome, primary, did))
    return records


def _pair(outcome: str, primary: Effect, did: Effect) -> dict:
    primary_estimate, primary_se = _comparable(primary)
    did_estimate, did_se = _comparable(did)
    return {
        "outcome": outcome,
        "primary_estimate": primary_estimate,
        "primary_se": primary_se,
        "did_estimate": did_estimate,
        "did_se": did_se,
    }


def efficiency_table(
    make_department: Callable[[int], Department], seeds: Iterable[int]
) -> pd.DataFrame:
    """Per outcome (columns `EFFICIENCY_COLUMNS`): SE and SD of the primary over the DiD's."""
    records = pd.DataFrame([r for seed in seeds for r in department_pairs(make_department(seed))])
    rows = []
    for outcome, group in records.groupby("outcome", sort=False):
        group = group.dropna()
        rows.append(
            {
                "outcome": outcome,
                "n_departments": len(group),
                "mean_se_primary": group["primary_se"].mean(),
                "mean_se_did": group["did_se"].mean(),
                "se_ratio": group["primary_se"].mean() / group["did_se"].mean(),
                "sd_primary": group["primary_estimate"].std(ddof=1),
                "sd_did": group["did_estimate"].std(ddof=1),
                "sd_ratio": group["primary_estimate"].std(ddof=1)
                / group["did_estimate"].std(ddof=1),
            }
        )
    return pd.DataFrame(rows, columns=EFFICIENCY_COLUMNS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--departments", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--source", choices=sorted(SOURCES), default=None)
    args = parser.parse_args(argv)
    source = args.source or ("generator" if generator_available() else "simple")
    started = time.perf_counter()
    table = efficiency_table(SOURCES[source], range(args.seed, args.seed + args.departments))
    with pd.option_context("display.width", 140, "display.max_columns", 20):
        print(table.round(4).to_string(index=False))
    print(
        f"primary / DiD standard error over {args.departments} departments ({source}), "
        f"median over outcomes: SE ratio {table['se_ratio'].median():.3f}, SD ratio "
        f"{table['sd_ratio'].median():.3f} ({time.perf_counter() - started:.1f} s)"
    )


if __name__ == "__main__":
    main()
