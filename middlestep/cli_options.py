"""Options shared by several subcommands, and the subcommands that read results (analyze,
report, power, export, panel, rollout): part of the `middlestep` parser
(middlestep/cli_parser.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

# middlestep/panel.py SAMPLES: the published roll-out samples and their intent-to-treat twins
SAMPLE_NAMES = ("full", "main", "omit-late", "full-itt", "main-itt", "omit-late-itt")


def positive(kind):
    """An argparse type: a number of `kind` above zero (a rate, a ratio, a count), refused with
    argparse's usage line instead of failing deep in a simulation."""

    def parse(text: str):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text} is not above zero")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def at_least_two(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"{text}: a trial needs at least 2 officers (one per arm)")
    return value


def add_result_commands(command) -> None:
    analyze = command(
        "analyze",
        "effect estimates of a gated build",
        """
middlestep analyze --home H
middlestep analyze --department synthetic --json --home H""",
    )
    add_department(analyze)
    add_allow_ungated(analyze)
    add_include_unreliable(analyze)
    add_wait(analyze)

    report = command(
        "report",
        "HTML, Markdown and JSON report",
        """
middlestep report --home H
middlestep report --department chicago --permutations 100 --home chi""",
    )
    add_department(report)
    add_allow_ungated(report)
    report.add_argument(
        "--permutations",
        type=int,
        default=500,
        metavar="N",
        help="Fisher randomization draws per estimate (default 500; fewer is faster)",
    )
    add_include_unreliable(report)
    add_wait(report)

    power = command(
        "power",
        "power and minimum detectable effect of the force analysis",
        """
middlestep power --home H
middlestep power --rate-ratio 0.8 --officers 600 --months 12 --json --home H
middlestep power --baseline-rate 0.05 --officers 400 --months 12   # no warehouse needed""",
    )
    add_department(power)
    power.add_argument(
        "--rate-ratio",
        type=positive(float),
        default=0.72,
        help="ITT rate ratio to detect (default 0.72)",
    )
    power.add_argument(
        "--officers", type=at_least_two, help="officers in the trial (default: its own)"
    )
    power.add_argument(
        "--months", type=positive(int), help="months before and after (default: its own)"
    )
    power.add_argument(
        "--simulations", type=positive(int), default=200, help="simulated trials (default 200)"
    )
    power.add_argument("--seed", type=int, default=0, help="seed of the simulations (default 0)")
    power.add_argument(
        "--baseline-rate",
        type=positive(float),
        help="force reports per officer-month: compute from this instead of the warehouse",
    )
    power.add_argument("--dispersion", type=float, help="NB2 dispersion across officers")
    add_allow_ungated(power)

    _add_export(command)
    _add_panel(command)
    _add_rollout(command)


def _add_export(command) -> None:
    export = command(
        "export",
        "a mart or analysis panel to CSV, Parquet or Stata (.dta, with variable labels)",
        """
middlestep export officer-months --out officer_months.dta --home H
middlestep export encounters --out encounters.parquet --home H
middlestep export fct_force_reports --out force.csv --department synthetic --home H
middlestep export rollout --out panel.dta --department chicago --sample main --home chi""",
        description="Writes one table, its format by the file's suffix (.csv, .parquet, .dta). "
        "WHAT is a mart (dim_officers, fct_officer_months, fct_encounters, fct_force_reports, "
        "fct_calls, rpt_sso_reliability, or one an analyst added) or a panel: officer-months "
        "(the trial's force panel: arm, block, calls, outcome counts, the period and the "
        "pre-period rate the primary estimate uses), encounters (each coded encounter with "
        "its arm and period), rollout (a roll-out's balanced officer x month panel). Stata "
        "variable labels are the models' column descriptions. docs/exports.md reproduces the "
        "primary force estimate in R and Stata from the officer-months panel.",
    )
    export.add_argument(
        "what", metavar="WHAT", help="a mart, or officer-months, encounters, rollout"
    )
    export.add_argument(
        "--out", required=True, type=Path, metavar="FILE", help="a .csv, .parquet or .dta file"
    )
    add_department(export)
    export.add_argument(
        "--sample",
        choices=SAMPLE_NAMES,
        default="full",
        help="rollout: the estimation sample (default full)",
    )
    export.add_argument("--trial", help="rollout: the trial_id (default: the department's only)")
    add_allow_ungated(export)
    add_wait(export)


def _add_panel(command) -> None:
    panel = command(
        "panel",
        "a roll-out's balanced officer x month panel (also: `export rollout`)",
        """
middlestep panel --department chicago --sample main --out panel.parquet --home chi""",
    )
    add_department(panel, required=True)
    panel.add_argument(
        "--balanced",
        action="store_true",
        help="every officer still serving after the study window x every month (the default: "
        "the only panel there is)",
    )
    panel.add_argument(
        "--sample",
        choices=SAMPLE_NAMES,
        default="full",
        help="estimation sample (default full)",
    )
    panel.add_argument("--trial", help="the trial_id (default: the department's only trial)")
    panel.add_argument(
        "--out", required=True, type=Path, metavar="FILE", help="a .csv, .parquet or .dta file"
    )
    add_wait(panel)


def _add_rollout(command) -> None:
    rollout = command(
        "rollout",
        "a staggered roll-out effect (Roth & Sant'Anna 2023) of a gated build",
        """
middlestep rollout --department chicago --outcome force --estimand simple --home chi
middlestep rollout --department chicago --estimand eventstudy --event-time 3 --json --home chi""",
        description="Builds the department's balanced officer x month panel from the marts and "
        "estimates one staggered roll-out effect: a difference in mean counts per officer-month.",
    )
    add_department(rollout, required=True)
    rollout.add_argument(
        "--outcome",
        choices=("force", "complaints", "sustained"),
        default="force",
        help="the count per officer-month (default force)",
    )
    rollout.add_argument(
        "--estimand",
        choices=("simple", "cohort", "calendar", "eventstudy"),
        default="simple",
        help="how the cohort x month effects are averaged (default simple)",
    )
    rollout.add_argument(
        "--estimator",
        choices=("efficient", "cs", "sa"),
        default="efficient",
        help="Roth & Sant'Anna efficient, Callaway & Sant'Anna, Sun & Abraham",
    )
    rollout.add_argument(
        "--sample",
        choices=SAMPLE_NAMES,
        help="estimation sample (default: the department's defaults.sample, else full)",
    )
    rollout.add_argument(
        "--event-time", type=int, metavar="E", help="months since training (eventstudy; default 0)"
    )
    rollout.add_argument(
        "--permutations",
        type=int,
        default=500,
        metavar="N",
        help="Fisher randomization draws (default 500; 0 skips the test)",
    )
    rollout.add_argument("--seed", type=int, default=0, help="seed of numpy's draws")
    rollout.add_argument(
        "--rng",
        choices=("numpy", "r"),
        default="numpy",
        help="r: the R package's draws (seeds 1..N), for identical Fisher p-values",
    )
    add_allow_ungated(rollout)
    add_wait(rollout)


def add_department(command: argparse.ArgumentParser, *, required: bool = False) -> None:
    command.add_argument(
        "--department",
        required=required,
        metavar="NAME",
        help="the department (its mapping departments/NAME.yaml)"
        + ("" if required else "; default: the warehouse's only department"),
    )


def add_allow_ungated(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--allow-ungated",
        action="store_true",
        help="go on even if the gate failed or never ran; every output is marked UNGATED",
    )


def add_include_unreliable(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--include-unreliable",
        action="store_true",
        help="keep SSO items with Krippendorff's alpha below 0.667 in the confirmatory analysis",
    )


def add_wait(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another writer to finish (default: refuse at once)",
    )
