"""`make bench`: wall time and peak memory of each step, for the default department and one 20
times larger (`--scales 1,20,100` adds a department 100 times larger: hours, not for CI), ingest
beside DuckDB reading the same files plainly, the SQLMesh build beside the same marts built by
plain DuckDB SQL, a nightly `run` with one day of new data beside a full rebuild (`run` of the
whole export), and a night with nothing new.

Each step runs in a fresh process (peak memory is that step's own). Figures are printed as a
table; the build comparison is a ratio measured in one run, since these machines are shared.
A last section times the staggered-rollout estimators on the Chicago main sample
(benchmarks/staggered.py: 24 estimates, 5,000 permutations) against the R package's quoted cost;
`--skip-staggered` leaves it out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.plain_duckdb import build_plain
from benchmarks.plain_read import read_plain

STEPS = ("ingest", "build", "check", "analyze", "report")


def measure_step(work: Path, home: Path, name: str, argv: list[str], check: bool = True) -> dict:
    out = work / f"{name}.json"
    command = [sys.executable, "-m", "benchmarks.measure", str(out), "--", "--home", str(home)]
    subprocess.run(command + argv, check=check, stdout=subprocess.DEVNULL)
    figure = json.loads(out.read_text())
    # as it comes: a long run that is stopped still shows the steps it measured
    print(
        f"  {name}: {figure['seconds']:.1f} s, peak {figure['peak_mib']:.0f} MiB", file=sys.stderr
    )
    return figure


NIGHTS = ("last", "middle")  # the day after the history: its last day of calls, or mid-trial


def write_one_day_drops(scale: float, seed: int, out: Path, night: str = "last") -> None:
    """The department's history up to the day before one night (drop-001), that night's new
    calls, force reports and codings (drop-002) and the rest (drop-003). The night is the last
    day of calls (past the trial's comparison window) or the middle one (inside it, the harder
    case: the estimates' data change)."""
    from middlestep.synth import load_scenario, simulate_department
    from middlestep.synth.drops import availability_days, write_drops

    sim = simulate_department(load_scenario(None), seed=seed, scale=scale)
    call_days = availability_days(sim)["calls"]
    day = call_days.max() if night == "last" else (call_days.min() + call_days.max()) // 2
    night_day = dt.date(1970, 1, 1) + dt.timedelta(days=int(day))
    write_drops(sim, out, 3, seed=seed, cuts=[night_day - dt.timedelta(days=1), night_day])


def bench_nightly(scale: float, seed: int, work: Path, export: Path) -> dict:
    """A nightly `run` with one day of new data (on each of `NIGHTS`) beside a full rebuild
    (`run` of the whole export on a fresh warehouse): a night should cost a few percent of it."""
    label = f"[scale {scale:g}]"
    run = ["run", "--department", "synthetic", "--drop"]
    print(f"{label} run: full rebuild ...", file=sys.stderr, flush=True)
    full = measure_step(work, work / "home-full", "run-full", [*run, str(export)], check=False)
    figures = {"run_full_rebuild": full}
    homes = {"run_full_rebuild": work / "home-full"}
    for night in NIGHTS:
        print(f"{label} nightly drops ({night} day) ...", file=sys.stderr, flush=True)
        drops, home = work / f"drops-{night}", work / f"home-{night}"
        write_one_day_drops(scale, seed, drops, night)
        print(f"{label} run: history before the {night} day ...", file=sys.stderr, flush=True)
        measure_step(work, home, f"history-{night}", [*run, str(drops / "drop-001")], check=False)
        print(f"{label} run: one night ({night} day) ...", file=sys.stderr, flush=True)
        name = f"run_nightly_{night}_day"
        figures[name] = measure_step(work, home, name, [*run, str(drops / "drop-002")], check=False)
        homes[name] = home
        if night == "last":  # the same drop again: every file skipped, no model changed
            print(f"{label} run: a night with nothing new ...", file=sys.stderr, flush=True)
            figures["run_nothing_new"] = measure_step(
                work, home, "run_nothing_new", [*run, str(drops / "drop-002")], check=False
            )
        shutil.rmtree(drops)
    for name, run_home in homes.items():
        # the run's own split into ingest, build, gate and report, from its run log entry
        entries = [json.loads(line) for line in (run_home / "runs.jsonl").read_text().splitlines()]
        last_run = [entry for entry in entries if entry.get("step") == "run"][-1]
        for step, seconds in last_run.get("step_seconds", {}).items():
            if step != "lock":
                figures[f"  {name.removeprefix('run_')}: {step}"] = {"seconds": seconds}
    return figures


def bench_department(scale: float, seed: int, work: Path) -> dict:
    export, home = work / "export", work / "home"
    print(f"[scale {scale:g}] synthesising ...", file=sys.stderr, flush=True)
    synth = measure_step(
        work,
        home,
        "synth",
        ["synth", "--out", str(export), "--seed", str(seed)] + ["--scale", str(scale)],
    )
    figures = {"synth": synth}
    arguments = {
        "ingest": ["ingest", str(export), "--department", "synthetic"],
        "build": ["build"],
        "check": ["check"],
        "analyze": ["analyze", "--json"],
        "report": ["report"],
    }
    for step in STEPS:
        print(f"[scale {scale:g}] {step} ...", file=sys.stderr, flush=True)
        if step == "build":
            # copy the ingested warehouse first: the plain-DuckDB build starts from the same raw
            shutil.copy(home / "warehouse.duckdb", work / "ingested.duckdb")
        figures[step] = measure_step(work, home, step, arguments[step])
    print(f"[scale {scale:g}] plain DuckDB read of the export ...", file=sys.stderr, flush=True)
    seconds, rows = read_plain(export, work)
    figures["plain_duckdb_read"] = {"seconds": seconds, "rows": rows}
    (work / "plain-read.duckdb").unlink()
    print(f"[scale {scale:g}] plain DuckDB build ...", file=sys.stderr, flush=True)
    end = dt.datetime(2040, 1, 1)
    figures["plain_duckdb_build"] = {"seconds": build_plain(work / "ingested.duckdb", work, end)}
    figures.update(bench_nightly(scale, seed, work, export))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", default="1,20", help="comma-separated department scales")
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument(
        "--skip-staggered", action="store_true", help="leave out the staggered estimators"
    )
    parser.add_argument(
        "--staggered-permutations", type=int, default=5000, help="Fisher draws to time"
    )
    args = parser.parse_args()
    results = {}
    for scale in (float(s) for s in args.scales.split(",")):
        with tempfile.TemporaryDirectory(prefix=f"middlestep-bench-{scale:g}-") as work:
            results[scale] = bench_department(scale, args.seed, Path(work))
    print(f"\n{'scale':>6} {'step':<28} {'seconds':>9} {'peak MiB':>9}")
    for scale, figures in results.items():
        for step, figure in figures.items():
            peak = f"{figure['peak_mib']:>9.0f}" if "peak_mib" in figure else f"{'':>9}"
            failed = f"  exit code {figure['exit_code']}" if figure.get("exit_code") else ""
            print(f"{scale:>6g} {step:<28} {figure['seconds']:>9.2f} {peak}{failed}")
        print_ratios(scale, figures)
    if not args.skip_staggered:
        bench_staggered(args.staggered_permutations)
    return 0


def print_ratios(scale: float, figures: dict) -> None:
    """The ratios of issue 16's targets, measured in this one run."""

    def seconds(name: str) -> float:
        return figures[name]["seconds"]

    ratios = {
        "ingest / plain DuckDB read": seconds("ingest") / seconds("plain_duckdb_read"),
        "build / plain DuckDB": seconds("build") / seconds("plain_duckdb_build"),
    }
    for name, ratio in ratios.items():
        print(f"{scale:>6g} {name:<28} {ratio:>9.2f}x")
    for night in NIGHTS:
        share = 100 * seconds(f"run_nightly_{night}_day") / seconds("run_full_rebuild")
        print(f"{scale:>6g} {f'night ({night} day) / full':<28} {share:>8.1f}%")
    peak = max(figure.get("peak_mib", 0) for figure in figures.values())
    print(f"{scale:>6g} {'largest peak of a step':<28} {'':>9} {peak:>9.0f}")


def bench_staggered(permutations: int) -> None:
    """The staggered-rollout estimators beside the R package's quoted 0.5 s per estimate and
    0.3 s per permutation (ratio = R's quoted time / ours)."""
    from benchmarks import staggered

    print("\nstaggered roll-out estimators ...", file=sys.stderr, flush=True)
    source, rows, notes = staggered.measure(staggered.default_data_dir(), permutations)
    print(f"\nstaggered roll-out estimators: {source}")
    print(staggered.table(rows))
    for note in notes:
        print(f"  {note}")


if __name__ == "__main__":
    sys.exit(main())
