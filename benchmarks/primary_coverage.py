"""Coverage of the primary ITT estimators' intervals over many simulated departments.

For each department (one seed each) every SSO item of the codebook is estimated with the
post-period ANCOVA (`analysis.ancova`), force reports and complaints with the Poisson ANCOVA per
officer-month (primary) and per call (secondary) (`analysis.force_ancova`), and the compliers'
force rate ratio on their own base (`analysis.complier_rate`). Per outcome and estimator the
table gives how often the 95% interval (CR2; CR1 beside it) covers the planted estimand, the
spread of the estimates against the mean standard error (`sd_over_se` about 1 when the SEs are
calibrated; ratios on the log scale), the Wald and the Fisher rejection rates at 5% (the size of
the tests for outcomes without an effect).

Sources:

* "generator": the project's generator (`middlestep.synth`) under the default scenario with force
  at a planted rate ratio of 0.75 and complaints at the null (`SCENARIO`), estimands from its
  truth (`compute_truth`; complier: `estimand_if_trained`);
* "simple": `analysis.simulate` with 80% compliance, force rate ratio 0.75, complaints null.

Run: `.venv/bin/python -m benchmarks.primary_coverage [--departments 400] [--source generator]
[--jobs 2]`.
"""

from __future__ import annotations

import argparse
import functools
import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.ancova import ancova_itt_effect
from analysis.complier_rate import complier_rate_ratio
from analysis.force_ancova import force_ancova_effect
from analysis.inference import wald_interval
from analysis.randomization_ancova import ancova_permutation_test, force_ancova_permutation_test
from analysis.results import Effect
from analysis.simulate import TrialScenario, simulate_trial
from benchmarks.coverage import print_coverage

SCENARIO = {"force": {"rate_ratio": 0.75}, "complaints": {"rate_ratio": 1.0}}
SIMPLE_SCENARIO = TrialScenario(compliance=0.8, force_rate_ratio=0.75)
RATE_OUTCOMES = ("force_reports", "complaints")
FISHER_PERMUTATIONS = 200
COMPLIER_BOOTSTRAP = 500
PRIMARY_COLUMNS = [
    "outcome",
    "estimator",
    "truth",
    "n_departments",
    "coverage",
    "coverage_mc_se",
    "coverage_cr1",
    "mean_estimate",
    "sd_estimate",
    "mean_std_error",
    "sd_over_se",
    "rejection_rate",
    "fisher_rejection_rate",
]


@dataclass(frozen=True)
class Trial:
    """One simulated department's frames, with its estimands (outcome -> value on the scale the
    estimator reports: proportions for binary items) and the compliers' force rate ratio."""

    encounters: pd.DataFrame
    officer_months: pd.DataFrame
    officers: pd.DataFrame
    items: dict[str, str]
    truth: dict[str, float]
    complier_truth: float
    # the effect among officers trained (the generator's `estimand_if_trained`), for the 2SLS
    if_trained: dict[str, float] = field(default_factory=dict)
    acme_truth: float = 0.0  # the encounter-level ACME of assignment on force_used


def generator_trial(seed: int) -> Trial:
    from benchmarks.planted import planted_department
    from middlestep.contract import SSO_ITEMS

    department = planted_department(SCENARIO, seed=seed)
    outcomes = department["truth"]["outcomes"]
    return Trial(
        encounters=department["encounters"],
        officer_months=department["officer_months"],
        officers=department["officers"],
        items=dict(SSO_ITEMS),
        truth={name: float(outcome["estimand"]) for name, outcome in outcomes.items()},
        complier_truth=float(outcomes["force_reports"]["estimand_if_trained"]),
        if_trained={
            name: float(outcome["estimand_if_trained"])
            for name, outcome in outcomes.items()
            if outcome.get("estimand_if_trained") is not None
        },
    )


def simple_trial(seed: int) -> Trial:
    trial = simulate_trial(SIMPLE_SCENARIO, seed=seed)
    return Trial(
        encounters=trial.encounters,
        officer_months=trial.officer_months,
        officers=trial.officers,
        items={item: spec.kind for item, spec in SIMPLE_SCENARIO.items.items()},
        truth=trial.truth,
        complier_truth=SIMPLE_SCENARIO.force_rate_ratio,
        if_trained={"force_reports": SIMPLE_SCENARIO.force_rate_ratio},
    )


SOURCES: dict[str, Callable[[int], Trial]] = {"generator": generator_trial, "simple": simple_trial}


def primary_records(
    trial: Trial, *, fisher: bool = True, complier: bool = True, open_box: bool = False
) -> list[dict]:
    """One record per outcome x estimator: estimate, SEs, coverage, Wald and Fisher rejection;
    with `open_box`, also the 2SLS, NB, summary index and mediation rows
    (`benchmarks.open_box_coverage`)."""
    records = []
    for item, kind in trial.items.items():
        effect = ancova_itt_effect(trial.encounters, outcome=item, kind=kind)
        truth = trial.truth[item] * (100.0 if kind == "binary" else 1.0)
        fisher_p = (
            ancova_permutation_test(
                trial.encounters,
                outcome=item,
                kind=kind,
                officers=trial.officers,
                n_permutations=FISHER_PERMUTATIONS,
            ).p_value
            if fisher
            else math.nan
        )
        records.append(_record(effect, f"ancova_{kind}", truth, fisher_p))
    for outcome in RATE_OUTCOMES:
        for exposure, name in ((None, "poisson_ancova_month"), ("calls_attended", "per_call")):
            effect = force_ancova_effect(trial.officer_months, outcome=outcome, exposure=exposure)
            fisher_p = (
                force_ancova_permutation_test(
                    trial.officer_months,
                    outcome=outcome,
                    exposure=exposure,
                    officers=trial.officers,
                    n_permutations=FISHER_PERMUTATIONS,
                ).p_value
                if fisher and exposure is None
                else math.nan
            )
            records.append(_record(effect, name, trial.truth[outcome], fisher_p))
    if complier:
        effect = complier_rate_ratio(trial.officer_months, n_bootstrap=COMPLIER_BOOTSTRAP)
        records.append(_record(effect, "complier_rate_ratio", trial.complier_truth, math.nan))
    if open_box:
        from benchmarks.open_box_coverage import open_box_records

        records += open_box_records(trial)
    return records


def _record(effect: Effect, estimator: str, truth: float, fisher_p: float) -> dict:
    ratio = effect.scale == "rate_ratio"
    if ratio:
        estimate = math.log(effect.estimate) if effect.estimate > 0 else math.nan
        std_error = effect.extras.get("std_error_log", math.nan)
        cr1 = effect.extras.get("std_error_log_cr1", std_error)
        target = math.log(truth)
    else:
        estimate, std_error = effect.estimate, effect.std_error
        cr1 = effect.extras.get("std_error_cr1", std_error)
        target = truth
    low_cr1, high_cr1 = wald_interval(estimate, cr1)
    return {
        "outcome": effect.outcome,
        "estimator": estimator,
        "truth": truth,
        "estimate": estimate,  # the log of a ratio
        "std_error": std_error,
        "covered": effect.ci_low <= truth <= effect.ci_high,
        "covered_cr1": low_cr1 <= target <= high_cr1,
        "rejected": effect.p_value < 0.05,
        "fisher_rejected": fisher_p <= 0.05 if math.isfinite(fisher_p) else math.nan,
        "estimable": math.isfinite(estimate) and math.isfinite(std_error),
    }


def _records_of_seed(make_trial: Callable[[int], Trial], options: dict, seed: int) -> list[dict]:
    return primary_records(make_trial(seed), **options)


def primary_coverage_study(
    make_trial: Callable[[int], Trial],
    seeds: Iterable[int],
    *,
    jobs: int = 1,
    fisher: bool = True,
    complier: bool = True,
    open_box: bool = False,
    records_path: str | None = None,
) -> pd.DataFrame:
    """One row per outcome x estimator (columns `PRIMARY_COLUMNS`). With `records_path`, every
    department's records are appended to that CSV file as soon as they are computed (a long
    study that is stopped keeps what it has done: `summarise_primary(pd.read_csv(path))`)."""
    options = {"fisher": fisher, "complier": complier, "open_box": open_box}
    work = functools.partial(_records_of_seed, make_trial, options)
    records: list[dict] = []

    def keep(batch: list[dict]) -> None:
        records.extend(batch)
        if records_path:
            frame = pd.DataFrame(batch)
            frame.to_csv(
                records_path, mode="a", header=not Path(records_path).exists(), index=False
            )

    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for batch in pool.map(work, seeds):
                keep(batch)
    else:
        for seed in seeds:
            keep(work(seed))
    return summarise_primary(pd.DataFrame(records))


def summarise_primary(records: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (outcome, estimator), group in records.groupby(["outcome", "estimator"], sort=False):
        estimable = group[group["estimable"]]
        coverage = float(estimable["covered"].mean())
        sd_estimate = float(estimable["estimate"].std(ddof=1))
        mean_se = float(estimable["std_error"].mean())
        rows.append(
            {
                "outcome": outcome,
                "estimator": estimator,
                "truth": float(group["truth"].mean()),
                "n_departments": len(estimable),
                "coverage": coverage,
                "coverage_mc_se": math.sqrt(coverage * (1 - coverage) / max(len(estimable), 1)),
                "coverage_cr1": float(estimable["covered_cr1"].mean()),
                "mean_estimate": float(estimable["estimate"].mean()),
                "sd_estimate": sd_estimate,
                "mean_std_error": mean_se,
                "sd_over_se": sd_estimate / mean_se if mean_se > 0 else math.nan,
                "rejection_rate": float(estimable["rejected"].mean()),
                "fisher_rejection_rate": float(
                    pd.to_numeric(estimable["fisher_rejected"], errors="coerce").mean()
                ),
            }
        )
    return pd.DataFrame(rows, columns=PRIMARY_COLUMNS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--departments", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--source", choices=sorted(SOURCES), default="generator")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--out", default=None, help="also write the table to this CSV file")
    parser.add_argument("--records", default=None, help="append every department's records here")
    parser.add_argument(
        "--open-box",
        action="store_true",
        help="also the 2SLS, NB, summary index and mediation rows (benchmarks.open_box_coverage)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    seeds = range(args.seed, args.seed + args.departments)
    table = primary_coverage_study(
        SOURCES[args.source],
        seeds,
        jobs=args.jobs,
        open_box=args.open_box,
        records_path=args.records,
    )
    elapsed = time.perf_counter() - started
    if args.out:
        table.to_csv(args.out, index=False)
    print_coverage(table, args.departments, args.source, elapsed, width=160)


if __name__ == "__main__":
    main()
