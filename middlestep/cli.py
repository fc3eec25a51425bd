"""The `middlestep` command: one subcommand per step of the commands.

Commands are thin: they parse arguments, call one function of `middlestep.commands` (the nightly
job and `status`: `middlestep.nightly`; `demo`: `middlestep.demo`, the layer above it), print.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import duckdb

from middlestep import commands, nightly
from middlestep.demo import demo
from middlestep.errors import PipelineError
from middlestep.warehouse import Home, WarehouseBusy, is_lock_error, reader_lock

# commands that only read the warehouse: they take the shared lock, never the writer's
READERS = ("analyze", "report", "status", "panel", "power", "rollout")
# middlestep/panel.py SAMPLES: the published roll-out samples and their intent-to-treat twins
SAMPLE_NAMES = ("full", "main", "omit-late", "full-itt", "main-itt", "omit-late-itt")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="middlestep",
        description="Raw police department exports to gated training-effect estimates.",
    )
    parser.add_argument(
        "--home",
        help="warehouse home directory (default: $MIDDLESTEP_HOME, else ./.middlestep)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="more progress output")
    commands = parser.add_subparsers(dest="command", required=True)

    synth = commands.add_parser("synth", help="write a synthetic department's export")
    synth.add_argument("--out", required=True, type=Path)
    synth.add_argument("--scenario", type=Path, help="YAML overriding the default scenario")
    synth.add_argument("--seed", type=int, default=1)
    synth.add_argument("--scale", type=float, default=1.0, help="multiplies the officers")
    synth.add_argument(
        "--drops",
        type=int,
        metavar="N",
        help="cut the export into N nightly drops OUT/drop-001 .. (for `middlestep run`)",
    )

    ingest = commands.add_parser("ingest", help="load an export through its department mapping")
    ingest.add_argument("export_dir", type=Path)
    ingest.add_argument("--department", required=True, help="departments/NAME.yaml")
    _add_wait(ingest)

    build = commands.add_parser("build", help="SQLMesh plan and apply to production")
    _add_wait(build)

    check = commands.add_parser("check", help="the quality gate; non-zero exit on failure")
    check.add_argument(
        "--full",
        action="store_true",
        help="validate every mart and month, not only those changed since the last passed gate",
    )
    _add_wait(check)

    analyze = commands.add_parser("analyze", help="effect estimates of a gated build")
    analyze.add_argument("--department")
    analyze.add_argument("--json", action="store_true")
    analyze.add_argument(
        "--allow-ungated",
        action="store_true",
        help="estimate even if the gate failed or never ran; every output is marked UNGATED",
    )
    _add_include_unreliable(analyze)
    _add_wait(analyze)

    report = commands.add_parser("report", help="HTML, Markdown and JSON report")
    report.add_argument("--department")
    report.add_argument("--allow-ungated", action="store_true")
    report.add_argument(
        "--permutations",
        type=int,
        default=500,
        metavar="N",
        help="Fisher randomization draws per estimate (default 500; fewer is faster)",
    )
    _add_include_unreliable(report)
    _add_wait(report)

    power = commands.add_parser(
        "power", help="power and minimum detectable effect of the force analysis"
    )
    power.add_argument("--department")
    power.add_argument("--rate-ratio", type=float, default=0.72, help="ITT rate ratio to detect")
    power.add_argument("--officers", type=int, help="officers in the trial (default: its own)")
    power.add_argument("--months", type=int, help="months before and after (default: its own)")
    power.add_argument("--simulations", type=int, default=200)
    power.add_argument("--seed", type=int, default=0)
    power.add_argument(
        "--baseline-rate",
        type=float,
        help="force reports per officer-month: compute from this instead of the warehouse",
    )
    power.add_argument("--dispersion", type=float, help="NB2 dispersion across officers")
    power.add_argument("--allow-ungated", action="store_true")
    power.add_argument("--json", action="store_true")

    run = commands.add_parser("run", help="the nightly job: ingest, run, gate, analysis, report")
    run.add_argument("--drop", required=True, type=Path)
    run.add_argument("--department", required=True)
    _add_wait(run)

    key = commands.add_parser("key", help="the civilian hash key: make one")
    key_commands = key.add_subparsers(dest="key_command", required=True)
    key_init = key_commands.add_parser(
        "init",
        help="write a new random civilian hash key (mode 0600); never overwrites one",
        description="Writes 32 random bytes (64 hex digits) to --file, else to "
        "$MIDDLESTEP_HASH_KEY_FILE, else to <home>/civilian_hash.key, and prints the key's "
        "fingerprint. Back the file up apart from the warehouse: without it, new data cannot be "
        "linked to the civilians already loaded.",
    )
    key_init.add_argument("--file", type=Path, help="where to write the key")
    key_rotate = key_commands.add_parser(
        "rotate",
        help="re-hash every civilian identifier under a new key (needs every export loaded)",
        description="Reads the civilian identifiers again from the exports given (all that were "
        "ever loaded), hashes each under the configured key and under --new-file's, and replaces "
        "the warehouse's hashes and key fingerprint in one transaction. Then point "
        "MIDDLESTEP_HASH_KEY_FILE at the new key and destroy the old one.",
    )
    key_rotate.add_argument("exports", type=Path, nargs="+", help="export directories (drops)")
    key_rotate.add_argument("--department", required=True)
    key_rotate.add_argument("--new-file", required=True, type=Path, help="the new key")
    _add_wait(key_rotate)

    demo = commands.add_parser("demo", help="everything, on a fresh synthetic department")
    demo.add_argument("--dir", type=Path, default=Path("demo-output"))
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--scale", type=float, default=1.0)

    status = commands.add_parser("status", help="last run, gate, freshness, what to do next")
    _add_wait(status)

    plan = commands.add_parser(
        "plan",
        help="the trial's pre-registered analysis plan (plans/NAME.yaml): register or show it",
        description="register: record the plan's hash and date with the post-period outcome "
        "data the last build holds (do it before post-period outcomes arrive); show: the plan, "
        "its registration and every deviation from it.",
    )
    plan.add_argument("plan_action", choices=("register", "show"))
    plan.add_argument("--department", required=True, help="the plan file plans/NAME.yaml")
    plan.add_argument("--json", action="store_true", help="machine-readable output")
    _add_wait(plan)

    panel = commands.add_parser("panel", help="a roll-out's officer x month panel from the marts")
    panel.add_argument("--department", required=True)
    panel.add_argument(
        "--balanced",
        action="store_true",
        help="every officer still serving after the study window x every month (required: the "
        "only panel there is)",
    )
    panel.add_argument("--sample", choices=SAMPLE_NAMES, default="full")
    panel.add_argument("--trial", help="the trial_id (default: the department's only trial)")
    panel.add_argument("--out", required=True, type=Path, help="a .csv or .parquet file")
    _add_rollout(commands)
    return parser


def _add_rollout(commands) -> None:
    rollout = commands.add_parser(
        "rollout",
        help="a staggered roll-out effect (Roth & Sant'Anna 2023) of a gated build",
        description="Builds the department's balanced officer x month panel from the marts and "
        "estimates one staggered roll-out effect: a difference in mean counts per officer-month.",
    )
    rollout.add_argument("--department", required=True)
    rollout.add_argument("--outcome", choices=("force", "complaints", "sustained"), default="force")
    rollout.add_argument(
        "--estimand", choices=("simple", "cohort", "calendar", "eventstudy"), default="simple"
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
    rollout.add_argument("--json", action="store_true")
    rollout.add_argument(
        "--allow-ungated",
        action="store_true",
        help="estimate even if the gate failed or never ran; the output is marked UNGATED",
    )
    _add_wait(rollout)


def _add_include_unreliable(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--include-unreliable",
        action="store_true",
        help="keep SSO items with Krippendorff's alpha below 0.667 in the confirmatory analysis",
    )


def _add_wait(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another writer to finish (default: refuse at once)",
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    if args.command in ("demo", "run"):  # middlestep's own progress, not every library's INFO
        logging.getLogger("middlestep").setLevel(logging.INFO)
        logging.getLogger("analysis").setLevel(logging.INFO)
    home = Home.resolve(args.home)
    try:
        reading = args.command in READERS or getattr(args, "plan_action", None) == "show"
        if reading:  # read-only: wait for (or refuse during) a write
            with reader_lock(home, getattr(args, "wait", 0.0)):
                return _dispatch(args, home)
        return _dispatch(args, home)
    except WarehouseBusy as busy:
        print(f"middlestep: {busy}", file=sys.stderr)
        return 75  # EX_TEMPFAIL: a scheduler may retry
    except duckdb.IOException as error:
        if not is_lock_error(error):
            raise
        print(
            f"middlestep: the warehouse {home.warehouse} is open in another program "
            "(not middlestep); close it and try again",
            file=sys.stderr,
        )
        return 75
    except PipelineError as error:
        print(f"middlestep {args.command}: {error}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace, home: Home) -> int:
    if args.command == "synth":
        out = commands.synthesize(args.out, args.scenario, args.seed, args.scale, args.drops)
        what = f"{args.drops} nightly drops of " if args.drops else ""
        print(f"wrote {what}a synthetic department's export to {out} (truth: {out}/truth.json)")
        return 0
    if args.command == "ingest":
        summary = commands.ingest(home, args.export_dir, args.department, wait_s=args.wait)
        print("\n".join(summary.lines()))
        failed = f"; {summary.files_failed} files FAILED" if summary.files_failed else ""
        print(
            f"ingest {args.department}: read {summary.rows_read}, loaded {summary.rows_loaded}, "
            f"rejected {summary.rows_rejected} rows from {len(summary.files)} files{failed}"
        )
        return 1 if summary.files_failed else 0
    if args.command == "build":
        record = commands.build(home, wait_s=args.wait)
        print(f"built {len(record.model_versions)} models; build {record.build_id}")
        return 0
    if args.command == "check":
        gate = commands.check(home, wait_s=args.wait, full=args.full)
        print(gate.text())
        return 0 if gate.passed else 1
    if args.command == "analyze":
        analysis = commands.analyze(
            home,
            args.department,
            allow_ungated=args.allow_ungated,
            include_unreliable=args.include_unreliable,
        )
        if args.json:
            print(json.dumps(analysis.to_dict(), indent=2))
        else:
            print(analysis.text())
        return 0
    if args.command == "report":
        paths = commands.report(
            home,
            args.department,
            allow_ungated=args.allow_ungated,
            include_unreliable=args.include_unreliable,
            permutations=args.permutations,
        )
        print(f"report: {paths.html}")
        return 0
    if args.command == "power":
        result, table = commands.power(
            None if args.baseline_rate is not None else home,
            args.department,
            rate_ratio=args.rate_ratio,
            n_officers=args.officers,
            n_months=args.months,
            n_simulations=args.simulations,
            seed=args.seed,
            baseline_rate=args.baseline_rate,
            dispersion=args.dispersion,
            allow_ungated=args.allow_ungated,
        )
        if args.json:
            document = result.to_dict()
            document["sample_size"] = table.to_dict(orient="records")
            print(json.dumps(document, indent=2))
        else:
            print(result.summary())
            print(table.to_string(index=False))
        return 0
    if args.command == "run":
        outcome = nightly.run_nightly(home, args.drop, args.department, wait_s=args.wait)
        print(outcome.summary_line())
        return outcome.exit_code
    if args.command == "key" and args.key_command == "rotate":
        changed = commands.rotate_key(
            home, args.department, args.exports, args.new_file, wait_s=args.wait
        )
        print(
            f"re-hashed {changed} civilian identifiers under {args.new_file}; set "
            "MIDDLESTEP_HASH_KEY_FILE to it for every command, then destroy the old key"
        )
        return 0
    if args.command == "key":
        return _key_init(args, home)
    if args.command == "demo":
        paths = demo(args.dir, seed=args.seed, scale=args.scale)
        print(f"demo report: {paths.html}")
        return 0
    if args.command == "status":
        print(nightly.status_text(home))
        return 0
    if args.command == "plan":
        return _plan(args, home)
    if args.command == "panel":
        if not args.balanced:
            raise PipelineError("only the balanced panel is built: pass --balanced")
        frame, out = commands.panel(
            home, args.department, args.sample, trial_id=args.trial, out=args.out
        )
        print(f"wrote {len(frame)} officer-months of {frame['uid'].nunique()} officers to {out}")
        return 0
    if args.command == "rollout":
        if args.event_time is not None and args.estimand != "eventstudy":
            raise PipelineError("--event-time needs --estimand eventstudy")
        result = commands.rollout(
            home,
            args.department,
            outcome=args.outcome,
            estimand=args.estimand,
            estimator=args.estimator,
            sample=args.sample,
            event_time=args.event_time,
            permutations=args.permutations,
            seed=args.seed,
            rng=args.rng,
            allow_ungated=args.allow_ungated,
        )
        print(json.dumps(result.to_dict(), indent=2) if args.json else result.text())
        return 0
    raise AssertionError(args.command)


def _plan(args: argparse.Namespace, home: Home) -> int:
    if args.plan_action == "register":
        registration = commands.plan_register(home, args.department, wait_s=args.wait)
        seen = registration.post_period_outcomes_seen
        print(
            f"registered plan {registration.sha256[:12]} of {args.department} "
            f"({registration.trial_id}) at {registration.registered_at}: "
            + (
                "no post-period outcome loaded yet"
                if seen == 0
                else f"{seen} post-period outcome records were already loaded (a deviation)"
            )
        )
        return 0
    status = commands.plan_status(home, args.department)
    if status is None:
        raise PipelineError(
            f"no analysis plan for {args.department} (plans/{args.department}.yaml)"
        )
    document = status.to_dict()
    if args.json:
        print(json.dumps(document, indent=2))
        return 0
    registered = (
        f"registered {document['registered_at']}" if document["registered"] else "NOT registered"
    )
    print(f"plan {document['sha256'][:12]} ({document['trial_id']}): {registered}")
    for family in document["families"]:
        print(
            f"  {family['name']} ({family['role']}, {family['multiplicity']}): "
            + ", ".join(family["outcomes"])
        )
    for line in document["deviations"]:
        print(f"  deviation: {line}")
    for note in document["notes"]:
        print(f"  note: {note}")
    return 0


def _key_init(args: argparse.Namespace, home: Home) -> int:
    path, fingerprint = commands.key_init(home, args.file)
    print(
        f"wrote a new civilian hash key to {path} (mode 0600; fingerprint {fingerprint[:16]}); "
        "back it up apart from the warehouse, and set "
        f"MIDDLESTEP_HASH_KEY_FILE={path} for every middlestep command"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
