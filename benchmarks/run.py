"""`make bench`: wall time and peak memory of each step, for the default department and one 20
times larger, and the SQLMesh build beside the same marts built by plain DuckDB SQL.

Each step runs in a fresh process (peak memory is that step's own). Figures are printed as a
table; the build comparison is a ratio measured in one run, since these machines are shared.
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

STEPS = ("ingest", "build", "check", "analyze")


def measure_step(work: Path, home: Path, name: str, argv: list[str]) -> dict:
    out = work / f"{name}.json"
    command = [sys.executable, "-m", "benchmarks.measure", str(out), "--", "--home", str(home)]
    subprocess.run(command + argv, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


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
    }
    for step in STEPS:
        print(f"[scale {scale:g}] {step} ...", file=sys.stderr, flush=True)
        if step == "build":
            # copy the ingested warehouse first: the plain-DuckDB build starts from the same raw
            shutil.copy(home / "warehouse.duckdb", work / "ingested.duckdb")
        figures[step] = measure_step(work, home, step, arguments[step])
    print(f"[scale {scale:g}] plain DuckDB build ...", file=sys.stderr, flush=True)
    end = dt.datetime(2040, 1, 1)
    figures["plain_duckdb_build"] = {"seconds": build_plain(work / "ingested.duckdb", work, end)}
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", default="1,20", help="comma-separated department scales")
    parser.add_argument("--seed", type=int, default=20240101)
    args = parser.parse_args()
    results = {}
    for scale in (float(s) for s in args.scales.split(",")):
        with tempfile.TemporaryDirectory(prefix=f"middlestep-bench-{scale:g}-") as work:
            results[scale] = bench_department(scale, args.seed, Path(work))
    print(f"\n{'scale':>6} {'step':<20} {'seconds':>9} {'peak MiB':>9}")
    for scale, figures in results.items():
        for step, figure in figures.items():
            peak = f"{figure['peak_mib']:>9.0f}" if "peak_mib" in figure else f"{'':>9}"
            print(f"{scale:>6g} {step:<20} {figure['seconds']:>9.2f} {peak}")
        ratio = figures["build"]["seconds"] / figures["plain_duckdb_build"]["seconds"]
        print(f"{scale:>6g} {'build / plain DuckDB':<20} {ratio:>9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
