"""Coverage of the ITT confidence intervals over many simulated departments.

For each of `n_departments` synthetic departments (one seed each), every planted communication
effect (and a null item of each kind, and the force rate ratio) is estimated with the project's
estimators (`analysis.communication.itt_effect`, `analysis.force.force_effect`), and we count how
often the 95% interval covers the estimand. A correct interval covers it about 95% of the time;
with 200 departments the Monte Carlo standard error of a coverage share is about 1.5 points, so a
correct interval lands in 93-97% only about 80% of the time: read the `coverage_mc_se` column.

Run: `.venv/bin/python -m benchmarks.coverage [--departments 200] [--seed 0]
[--source generator|simple] [--jobs 2]`.

Sources of departments:

* "generator" (default when it is importable): the project's synthetic department generator,
  `middlestep.synth.generator.simulate_department`, at the default scenario. Its canonical
  in-memory frames are turned into encounter-level and officer-month frames by
  `generator_frames` (plain pandas, the marts' definitions: the primary coder's value for binary
  and count items, the mean of the codings for ratings), and the estimands are the generator's
  own (`middlestep.synth.truth.compute_truth`, `outcomes[...]["estimand"]`).
* "simple": `analysis.simulate`, the analysis modules' own fast simulator, whose estimands are
  computed in closed form.
"""

from __future__ import annotations

import argparse
import functools
import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.communication import itt_effect
from analysis.force import force_effect
from analysis.simulate import TrialScenario, simulate_trial

LOCAL_TIMEZONE = "America/New_York"  # the synthetic department's wall clock
# the planted items of the default scenario, and one null item per kind (kinds: the codebook)
GENERATOR_ITEMS = (
    "personal_conversation",
    "repeated_commands",
    "commands_issued",
    "empathy",
    "explained_reason",
    "listened",
)
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
    items: dict[str, str]  # item -> kind: the communication outcomes to check
    truth: dict[str, float]  # outcome -> estimand on the estimator's scale


# --- departments -----------------------------------------------------------------------------


def simple_department(seed: int, scenario: TrialScenario | None = None) -> Department:
    """A department from `analysis.simulate` (the default scenario unless one is given)."""
    scenario = scenario or TrialScenario()
    trial = simulate_trial(scenario, seed=seed)
    items = {item: spec.kind for item, spec in scenario.items.items()}
    return Department(trial.encounters, trial.officer_months, items, trial.truth)


def generator_available() -> bool:
    """Whether the project's generator (`middlestep.synth.generator`) can be used."""
    try:
        from middlestep.synth import generator
    except ImportError:
        return False
    return hasattr(generator, "simulate_department")


def generator_department(seed: int, scale: float = 1.0) -> Department:
    """A department from `middlestep.synth.generator.simulate_department` (default scenario)."""
    from middlestep.contract import SSO_ITEMS
    from middlestep.synth.generator import simulate_department

    scenario = _default_scenario()
    simulated = simulate_department(scenario, seed=seed, scale=scale)
    encounters, officer_months = generator_frames(simulated)
    truth = _generator_truth(seed, scale)
    items = {item: SSO_ITEMS[item] for item in GENERATOR_ITEMS}
    return Department(encounters, officer_months, items, truth)


@functools.cache
def _default_scenario() -> dict:
    from middlestep.synth.scenario import load_scenario

    return load_scenario()


@functools.cache
def _generator_truth(seed: int, scale: float) -> dict[str, float]:
    """outcome -> estimand. The SSO estimands do not depend on the seed (the generator computes
    them by Monte Carlo with a fixed seed and caches them per scenario)."""
    from middlestep.synth.truth import compute_truth

    outcomes = compute_truth(_default_scenario(), seed, scale)["outcomes"]
    return {name: float(outcome["estimand"]) for name, outcome in outcomes.items()}


def generator_frames(
    simulated, *, timezone: str = LOCAL_TIMEZONE
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(encounters, officer_months) from the generator's canonical frames, as the marts define
    them (docs/contracts.md section 3) for the columns the estimators read.

    Encounters: one row per coded video; binary and count items take the primary (earliest)
    coding's value, ratings the mean of all codings; `study_period` from the video's local date
    ('pre' before the treatment arm's cohort date, 'post' before the control arm's, else 'late').
    Officer-months: every trial officer x calendar month of the study window, with calls
    attended (by local arrival month), force reports and complaints (by local month occurred),
    the officer's arm, block and cohort month, and `is_active` (appointed by the month's end and
    not separated before its start).
    """
    from middlestep.contract import SSO_ITEMS

    assignments = simulated.trial_assignments.assign(
        officer_id=lambda frame: frame["officer_id"].astype(str),
        arm=lambda frame: frame["arm"].astype(str),
        block_id=lambda frame: frame["block_id"].astype(str),
    )
    cohort_by_arm = assignments.groupby("arm")["cohort_on"].min()
    trial_start, control_start = cohort_by_arm["treatment"], cohort_by_arm["control"]

    codings = simulated.sso_codings.assign(video_id=lambda f: f["video_id"].astype(str))
    codings = codings.sort_values(["video_id", "coded_at", "coding_id"], kind="stable")
    by_video = codings.groupby("video_id", sort=True)
    ratings = [item for item, kind in SSO_ITEMS.items() if kind == "rating"]
    others = [item for item, kind in SSO_ITEMS.items() if kind != "rating"]
    items = pd.concat(
        [by_video[others].first(), by_video[ratings].mean(), by_video.size().rename("n_codings")],
        axis=1,
    )
    videos = simulated.bwc_videos[simulated.bwc_videos["is_sampled_for_coding"]]
    videos = videos.assign(
        video_id=videos["video_id"].astype(str), officer_id=videos["officer_id"].astype(str)
    )
    encounter_on = _local(videos["started_at"], timezone).dt.normalize()
    videos = videos.assign(
        encounter_on=encounter_on,
        study_period=[
            "pre" if day < trial_start else "post" if day < control_start else "late"
            for day in encounter_on
        ],
    )
    encounters = (
        videos[["video_id", "officer_id", "encounter_on", "study_period"]]
        .merge(assignments[["officer_id", "arm", "block_id"]], on="officer_id", how="inner")
        .merge(items, left_on="video_id", right_index=True, how="inner")
    )

    study = simulated.scenario["study"]
    months = pd.date_range(
        pd.Timestamp(study["start_on"]), pd.Timestamp(study["end_on"]), freq="MS"
    )
    spine = pd.MultiIndex.from_product(
        [assignments["officer_id"], months], names=["officer_id", "month_start"]
    ).to_frame(index=False)
    counts = [
        _monthly_counts(simulated.call_officers, "arrived_at", "calls_attended", timezone),
        _monthly_counts(simulated.force_reports, "occurred_at", "force_reports", timezone),
        _monthly_counts(simulated.complaints, "occurred_at", "complaints", timezone),
    ]
    officer_months = spine
    for count in counts:
        officer_months = officer_months.merge(count, on=["officer_id", "month_start"], how="left")
    count_columns = ["calls_attended", "force_reports", "complaints"]
    officer_months[count_columns] = officer_months[count_columns].fillna(0).astype(int)
    roster = simulated.officers.assign(officer_id=lambda f: f["officer_id"].astype(str))
    officer_months = officer_months.merge(
        roster[["officer_id", "appointed_on", "separated_on"]], on="officer_id", how="left"
    ).merge(assignments[["officer_id", "arm", "block_id", "cohort_on"]], on="officer_id")
    month_end = officer_months["month_start"] + pd.offsets.MonthEnd(0)
    officer_months["is_active"] = (officer_months["appointed_on"] <= month_end) & (
        officer_months["separated_on"].isna()
        | (officer_months["separated_on"] >= officer_months["month_start"])
    )
    officer_months["cohort_month"] = officer_months["cohort_on"].dt.to_period("M").dt.to_timestamp()
    officer_months = officer_months.drop(columns=["appointed_on", "separated_on", "cohort_on"])
    return encounters.reset_index(drop=True), officer_months


def _local(utc: pd.Series, timezone: str) -> pd.Series:
    return pd.to_datetime(utc).dt.tz_localize("UTC").dt.tz_convert(timezone).dt.tz_localize(None)


def _monthly_counts(events: pd.DataFrame, at: str, name: str, timezone: str) -> pd.DataFrame:
    """Events per officer and local calendar month (only officer-months with events)."""
    officer_codes, officers = pd.factorize(events["officer_id"])
    months = _local(events[at], timezone).to_numpy().astype("datetime64[M]")
    month_codes, month_values = pd.factorize(months)
    key = officer_codes.astype(np.int64) * len(month_values) + month_codes
    keys, counts = np.unique(key, return_counts=True)
    return pd.DataFrame(
        {
            "officer_id": np.asarray(officers.astype(str))[keys // len(month_values)],
            "month_start": np.asarray(month_values)[keys % len(month_values)].astype(
                "datetime64[ns]"
            ),
            name: counts,
        }
    )


# --- the study -------------------------------------------------------------------------------


def department_records(department: Department, *, force: bool = True) -> list[dict]:
    """One record per outcome: the estimate, its interval and whether it covers the truth."""
    effects = [
        itt_effect(department.encounters, outcome=item, kind=kind)
        for item, kind in department.items.items()
    ]
    if force:
        effects.append(force_effect(department.officer_months, negative_binomial=False))
    records = []
    for effect in effects:
        truth = department.truth[effect.outcome]
        records.append(
            {
                "outcome": effect.outcome,
                "kind": department.items.get(effect.outcome, "force"),
                "truth": truth,
                "estimate": effect.estimate,
                "std_error": effect.std_error,
                "covered": effect.ci_low <= truth <= effect.ci_high,
                "rejected": effect.p_value < 0.05,
                "estimable": math.isfinite(effect.estimate),
            }
        )
    return records


def _records_of_seed(make_department: Callable[[int], Department], seed: int) -> list[dict]:
    return department_records(make_department(seed))


def coverage_study(
    make_department: Callable[[int], Department], seeds: Iterable[int], *, jobs: int = 1
) -> pd.DataFrame:
    """One row per outcome (columns `COVERAGE_COLUMNS`): how often the 95% interval covered
    the estimand, and the estimator's mean, spread and mean standard error over departments."""
    work = functools.partial(_records_of_seed, make_department)
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            batches = list(pool.map(work, seeds))
    else:
        batches = [work(seed) for seed in seeds]
    return summarise(pd.DataFrame([record for batch in batches for record in batch]))


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


SOURCES: dict[str, Callable[[int], Department]] = {
    "generator": generator_department,
    "simple": simple_department,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--departments", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument(
        "--source", choices=sorted(SOURCES), default=None, help="default: generator if present"
    )
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    args = parser.parse_args(argv)
    source = args.source or ("generator" if generator_available() else "simple")
    started = time.perf_counter()
    seeds = range(args.seed, args.seed + args.departments)
    table = coverage_study(SOURCES[source], seeds, jobs=args.jobs)
    elapsed = time.perf_counter() - started
    print_coverage(table, args.departments, source, elapsed, width=140)


def print_coverage(
    table: pd.DataFrame, departments: int, source: str, elapsed: float, *, width: int
) -> None:
    """A coverage table and the Monte Carlo band a correct 95% interval's coverage falls in."""
    with pd.option_context("display.width", width, "display.max_columns", 20):
        print(table.round(4).to_string(index=False))
    band = 1.96 * math.sqrt(0.95 * 0.05 / departments)
    print(
        f"{departments} departments ({source}) in {elapsed:.1f} s; a correct 95% interval "
        f"covers 0.95 +/- {band:.3f} (95% Monte Carlo band)"
    )


if __name__ == "__main__":
    main()
