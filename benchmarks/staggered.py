"""Timing of the staggered-rollout estimators on a panel the size of the Chicago main sample.

`python -m benchmarks.staggered [--data-dir DIR] [--permutations 5000]`

The panel is the Roth & Sant'Anna (2023) main sample of the Chicago procedural-justice roll-out
(5,537 officers x 72 months, 48 cohorts, outcomes complaints / sustained / force), built with
pandas from the CSVs in `--data-dir` (default `data/chicago_pj` if it exists) as the data
README describes; without the CSVs (or with `--simulate`), a simulated panel of the same
dimensions is used.

Printed: the wall time of the 24 estimates (4 estimands x 3 outcomes x 2 estimators:
efficient and Callaway & Sant'Anna; event study at e = 0), and of a Fisher randomization test
with numpy's and with R's permutation draws, next to the R package's quoted cost (0.5 s per
estimate, 0.3 s per permutation) as ratios.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.staggered import staggered
from analysis.staggered.rrng import r_permutations
from analysis.staggered.simulate import simulate_chicago_sized_panel

R_SECONDS_PER_ESTIMATE = 0.5
R_SECONDS_PER_PERMUTATION = 0.3
ESTIMANDS = (("simple", None), ("cohort", None), ("calendar", None), ("eventstudy", 0))
DEFAULT_DATA_DIR = Path("data/chicago_pj")
FIRST_MONTH = pd.Timestamp("2011-01-01")
N_MONTHS = 72


def chicago_main_sample(data_dir: Path) -> pd.DataFrame:
    """Officer x month panel of the main sample: unit, period (1..72), cohort and the counts."""
    training = pd.read_csv(data_dir / "training_assignment.csv", dtype={"uid": str})
    units = pd.read_csv(data_dir / "officer_unit_assignment.csv", dtype={"uid": str})
    resigned = pd.to_datetime(training["resigned"])
    officers = training[resigned.isna() | (resigned >= pd.Timestamp("2017-01-01"))].copy()
    officers["cohort"] = _period(pd.to_datetime(officers["assigned"]))
    district = units.loc[units["type"].notna() & (units["type"] != "special"), "uid"]
    officers = officers[officers["uid"].isin(set(district)) & (officers["cohort"] > 14)]
    officers = officers.drop_duplicates("uid")

    def monthly_counts(path: Path, event: str, keep=None) -> pd.Series:
        events = pd.read_csv(path, dtype={"uid": str, event: str})
        if keep is not None:
            events = events[keep(events)]
        events = events.dropna(subset=["uid"]).assign(
            period=_period(pd.to_datetime(events["date"]))
        )
        return events.groupby(["uid", "period"])[event].nunique()

    counts = {
        "complaints": monthly_counts(data_dir / "complaints_events.csv", "cr_id"),
        "sustained": monthly_counts(
            data_dir / "complaints_events.csv", "cr_id", lambda e: e["sustained"] == 1
        ),
        "force": monthly_counts(data_dir / "force_events.csv", "trr_id"),
    }
    panel = pd.MultiIndex.from_product(
        [officers["uid"], np.arange(1, N_MONTHS + 1)], names=["uid", "period"]
    ).to_frame(index=False)
    panel["cohort"] = np.repeat(officers["cohort"].to_numpy(dtype=float), N_MONTHS)
    cells = pd.MultiIndex.from_frame(panel[["uid", "period"]])
    for name, series in counts.items():
        panel[name] = series.reindex(cells, fill_value=0).to_numpy(dtype=float)
    return panel.rename(columns={"uid": "unit"})


def _period(dates: pd.Series) -> pd.Series:
    return (dates.dt.year - FIRST_MONTH.year) * 12 + dates.dt.month


def simulated_panel() -> pd.DataFrame:
    panel = simulate_chicago_sized_panel(seed=0, n_outcomes=3)
    names = {"outcome_1": "complaints", "outcome_2": "sustained", "outcome_3": "force"}
    return panel.rename(columns=names)


def time_estimates(panel: pd.DataFrame) -> float:
    start = time.perf_counter()
    for outcome in ("complaints", "sustained", "force"):
        for estimator in ("efficient", "cs"):
            for estimand, event_time in ESTIMANDS:
                staggered(
                    panel,
                    unit="unit",
                    time="period",
                    cohort="cohort",
                    outcome=outcome,
                    estimand=estimand,
                    event_time=event_time,
                    estimator=estimator,
                )
    return time.perf_counter() - start


def time_permutations(panel: pd.DataFrame, permutations: int, rng: str) -> tuple[float, dict]:
    start = time.perf_counter()
    effect = staggered(
        panel,
        unit="unit",
        time="period",
        cohort="cohort",
        outcome="complaints",
        estimand="simple",
        permutations=permutations,
        seed=1,
        rng=rng,
    )
    return time.perf_counter() - start, effect.extras


def measure(
    data_dir: Path | None, permutations: int
) -> tuple[str, list[tuple[str, float, float]], list[str]]:
    """(panel description, rows of (step, seconds, R's quoted seconds), notes)."""
    warnings.simplefilter("ignore")
    if data_dir is not None:
        panel, source = chicago_main_sample(data_dir), f"Chicago main sample from {data_dir}"
    else:
        panel, source = simulated_panel(), "simulated panel of the Chicago main-sample size"
    n_units, n_cohorts = panel["unit"].nunique(), panel["cohort"].nunique()
    source += f": {n_units} units x {panel['period'].nunique()} periods, {n_cohorts} cohorts"

    rows, notes = [], []
    estimates = time_estimates(panel)
    rows.append(("24 estimates", estimates, 24 * R_SECONDS_PER_ESTIMATE))
    for rng in ("numpy", "r"):
        seconds, extras = time_permutations(panel, permutations, rng)
        label = f"{permutations} permutations ({rng} draws, simple, complaints)"
        rows.append((label, seconds, permutations * R_SECONDS_PER_PERMUTATION))
        notes.append(f"fisher p-value with {rng} draws: {extras['fisher_p_value']:.4f}")
    start = time.perf_counter()
    r_permutations(np.arange(1, permutations + 1), n_units)
    rows.append(("  of which R's draws alone", time.perf_counter() - start, float("nan")))
    return source, rows, notes


def table(rows: list[tuple[str, float, float]]) -> str:
    """The timings beside R's quoted cost; ratio = R's quoted seconds / ours (x times faster)."""
    lines = [f"{'step':<58}{'seconds':>9}{'R quoted':>10}{'ratio':>8}"]
    for label, seconds, quoted in rows:
        ratio = f"{quoted / seconds:>7.0f}x" if np.isfinite(quoted) else ""
        quoted_text = f"{quoted:>10.0f}" if np.isfinite(quoted) else f"{'':>10}"
        lines.append(f"{label:<58}{seconds:>9.2f}{quoted_text}{ratio}")
    return "\n".join(lines)


def default_data_dir() -> Path | None:
    return DEFAULT_DATA_DIR if DEFAULT_DATA_DIR.exists() else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--permutations", type=int, default=5000)
    parser.add_argument("--simulate", action="store_true", help="use a simulated panel")
    args = parser.parse_args(argv)
    data_dir = None if args.simulate else (args.data_dir or default_data_dir())
    source, rows, notes = measure(data_dir, args.permutations)
    print(source)
    for note in notes:
        print(f"  {note}")
    print(table(rows))


if __name__ == "__main__":
    main()
