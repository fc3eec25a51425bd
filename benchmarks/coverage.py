"""Coverage of the ITT confidence intervals over many simulated departments.

For each of `n_departments` synthetic departments (one seed each), every planted communication
effect and the force rate ratio are estimated with the project's estimators
(`analysis.communication.itt_effect`, `analysis.force.force_effect`) and we count how often the
95% interval covers the estimand. A correct interval covers it about 95% of the time; with 200
departments the Monte Carlo standard error of a coverage share is about 1.5 points.

Run: `.venv/bin/python -m benchmarks.coverage [--departments 200] [--seed 0] [--source simple]`.

Sources of departments:

* "simple" (default): `analysis.simulate`, the analysis modules' own fast simulator, whose
  estimands are computed in closed form.
* "generator": the project's synthetic department generator
  (`middlestep.synth.generator.simulate_department`), once it exists; see `generator_frames`.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.communication import itt_effect
from analysis.force import force_effect
from analysis.simulate import DEFAULT_ITEMS, TrialScenario, simulate_trial

COVERAGE_COLUMNS = [
    "outcome",
    "kind",
    "truth",
    "n_departments",
    "coverage",
    "coverage_mc_se",
    "mean_estimate",
    "sd_estimate",
    "mean_std_error",
    "rejection_rate",
]


@dataclass(frozen=True)
class Department:
    """One simulated department, in the frames the estimators read, with its estimands."""

    encounters: pd.DataFrame
    officer_months: pd.DataFrame
    items: dict[str, str]  # item -> kind, the planted communication outcomes to check
    truth: dict[str, float]  # outcome -> estimand on the estimator's scale


def simple_departments(
    n_departments: int, seed: int = 0, scenario: TrialScenario | None = None
) -> Iterator[Department]:
    """Departments from `analysis.simulate` (the default scenario unless one is given)."""
    scenario = scenario or TrialScenario()
    items = {item: spec.kind for item, spec in scenario.items.items()}
    for offset in range(n_departments):
        trial = simulate_trial(scenario, seed=seed + offset)
        yield Department(trial.encounters, trial.officer_months, items, trial.truth)


def coverage_study(departments: Iterator[Department], *, force: bool = True) -> pd.DataFrame:
    """One row per outcome: how often the 95% interval covered the estimand, and the
    estimator's mean, spread and mean standard error over the departments."""
    records: list[dict] = []
    for department in departments:
        effects = [
            itt_effect(department.encounters, outcome=item, kind=kind)
            for item, kind in department.items.items()
        ]
        if force:
            effects.append(force_effect(department.officer_months, negative_binomial=False))
        for effect in effects:
            kind = department.items.get(effect.outcome, "force")
            truth = department.truth[effect.outcome]
            records.append(
                {
                    "outcome": effect.outcome,
                    "kind": kind,
                    "truth": truth,
                    "estimate": effect.estimate,
                    "std_error": effect.std_error,
                    "covered": effect.ci_low <= truth <= effect.ci_high,
                    "rejected": effect.p_value < 0.05,
                    "estimable": math.isfinite(effect.estimate),
                }
            )
    return summarise(pd.DataFrame(records))


def summarise(records: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (outcome, kind), group in records.groupby(["outcome", "kind"], sort=False):
        estimable = group[group["estimable"]]
        coverage = float(estimable["covered"].mean())
        rows.append(
            {
                "outcome": outcome,
                "kind": kind,
                "truth": float(group["truth"].mean()),
                "n_departments": len(estimable),
                "coverage": coverage,
                "coverage_mc_se": math.sqrt(coverage * (1 - coverage) / max(len(estimable), 1)),
                "mean_estimate": float(estimable["estimate"].mean()),
                "sd_estimate": float(estimable["estimate"].std(ddof=1)),
                "mean_std_error": float(estimable["std_error"].mean()),
                "rejection_rate": float(estimable["rejected"].mean()),
            }
        )
    return pd.DataFrame(rows, columns=COVERAGE_COLUMNS)


def generator_available() -> bool:
    """Whether the project's generator (`middlestep.synth.generator`) can be used."""
    try:
        from middlestep.synth import generator  # noqa: F401
    except ImportError:
        return False
    return hasattr(generator, "simulate_department")


SOURCES: dict[str, Callable[..., Iterator[Department]]] = {"simple": simple_departments}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--departments", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--source", choices=sorted(SOURCES), default="simple")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    table = coverage_study(SOURCES[args.source](args.departments, seed=args.seed))
    elapsed = time.perf_counter() - started
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        print(table.round(4).to_string(index=False))
    print(
        f"{args.departments} departments ({args.source}) in {elapsed:.1f} s; "
        f"coverage of 95% intervals should be 0.95 +/- {1.96 * math.sqrt(0.95 * 0.05 / args.departments):.3f}"
    )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
