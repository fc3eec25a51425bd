"""The `middlestep` command: one subcommand per step of the commands.

Commands are thin: they parse arguments (middlestep/cli_parser.py), call one function of
`middlestep.commands` (the nightly job and `status`: `middlestep.nightly`; `demo`:
`middlestep.demo`, the layer above it), print: text, or JSON with `--json`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb

from middlestep import commands, nightly, progress
from middlestep.cli_parser import build_parser
from middlestep.demo import demo
from middlestep.errors import PipelineError
from middlestep.jsonable import jsonable
from middlestep.warehouse import PROJECT_ENV, Home, WarehouseBusy, is_lock_error, reader_lock

# commands that only read the warehouse: they take the shared lock, never the writer's
READERS = ("analyze", "report", "status", "panel", "power", "rollout", "export")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(_lift_sqlmesh_options(argv))
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:  # SQLMesh's tracebacks: our summary says it
        handler.addFilter(_without_sqlmesh_tracebacks)
    if args.command in ("demo", "run"):  # middlestep's own progress, not every library's INFO
        logging.getLogger("middlestep").setLevel(logging.INFO)
        logging.getLogger("analysis").setLevel(logging.INFO)
    home = Home.resolve(args.home)
    with _project(args.project):
        return _run(args, home)


@contextlib.contextmanager
def _project(project: Path | None) -> Iterator[None]:
    """--project: the SQLMesh project of build, run and sqlmesh, for this command only (main
    is also called in-process, by tests and scripts)."""
    previous = os.environ.get(PROJECT_ENV)
    if project is not None:
        os.environ[PROJECT_ENV] = str(project.expanduser().resolve())
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(PROJECT_ENV, None)
        else:
            os.environ[PROJECT_ENV] = previous


def _run(args: argparse.Namespace, home: Home) -> int:
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
        details = getattr(error, "details", None)
        if details and args.verbose:  # SQLMesh's own text: the rendered SQL of a failed audit
            print("\n\n".join(details), file=sys.stderr)
        elif details:
            print("(middlestep -v shows SQLMesh's full messages)", file=sys.stderr)
        return 1


def _without_sqlmesh_tracebacks(record: logging.LogRecord) -> bool:
    if record.name.startswith("sqlmesh"):
        record.exc_info, record.exc_text = None, None
    return True


def _lift_sqlmesh_options(argv: list[str]) -> list[str]:
    """`middlestep sqlmesh plan dev --home H`: middlestep's --home, --project and --wait after
    the SQLMesh command are middlestep's (SQLMesh has no such options); the rest is SQLMesh's."""
    if "sqlmesh" not in argv:
        return argv
    at = argv.index("sqlmesh") + 1
    head, tail, lifted = argv[:at], [], []
    rest = iter(argv[at:])
    for token in rest:
        name = token.split("=", 1)[0]
        if name in ("--home", "--project", "--wait") and tail:
            lifted += [token] if "=" in token else [token, next(rest, "")]
        else:
            tail.append(token)
    return head + lifted + tail


def _print(args: argparse.Namespace, document: dict, text: str) -> None:
    print(json.dumps(jsonable(document), indent=2) if args.json else text)


def _dispatch(args: argparse.Namespace, home: Home) -> int:
    if args.command == "synth":
        out = commands.synthesize(args.out, args.scenario, args.seed, args.scale, args.drops)
        what = f"{args.drops} nightly drops of " if args.drops else ""
        text = f"wrote {what}a synthetic department's export to {out} (truth: {out}/truth.json)"
        _print(args, {"out": out, "drops": args.drops, "truth": out / "truth.json"}, text)
        return 0
    if args.command == "ingest":
        with progress.status(f"ingesting {args.export_dir}"):
            summary = commands.ingest(home, args.export_dir, args.department, wait_s=args.wait)
        text = "\n".join(summary.lines() + [summary.total_line(args.department)])
        _print(args, commands.ingest_document(summary), text)
        return 1 if summary.files_failed else 0
    if args.command == "build":
        with progress.status("building the models (SQLMesh plan and apply)"):
            record = commands.build(home, wait_s=args.wait)
        text = f"built {len(record.model_versions)} models; build {record.build_id}"
        _print(args, commands.build_document(record), text)
        return 0
    if args.command == "check":
        with progress.status("running the quality gate"):
            gate = commands.check(home, wait_s=args.wait, full=args.full)
        _print(args, gate.to_dict(), gate.text())
        return 0 if gate.passed else 1
    if args.command == "analyze":
        analysis = commands.analyze(
            home,
            args.department,
            allow_ungated=args.allow_ungated,
            include_unreliable=args.include_unreliable,
        )
        _print(args, analysis.to_dict(), analysis.text())
        return 0
    if args.command in ("report", "demo"):
        return _report(args, home)
    if args.command == "power":
        return _power(args, home)
    if args.command == "run":
        outcome = nightly.run_nightly(home, args.drop, args.department, wait_s=args.wait)
        document = {"line": outcome.line, "exit_code": outcome.exit_code, **(outcome.details or {})}
        _print(args, document, outcome.summary_line())
        return outcome.exit_code
    if args.command == "key":
        return _key(args, home)
    if args.command == "status":
        _print(args, nightly.status_document(home), nightly.status_text(home))
        return 0
    if args.command == "plan":
        return _plan(args, home)
    if args.command in ("panel", "export"):
        return _export(args, home)
    if args.command == "sqlmesh":
        sqlmesh_args = (
            args.sqlmesh_args[1:] if args.sqlmesh_args[:1] == ["--"] else args.sqlmesh_args
        )
        return commands.sqlmesh(home, sqlmesh_args, wait_s=args.wait)
    if args.command == "rollout":
        if args.event_time is not None and args.estimand != "eventstudy":
            raise PipelineError("--event-time needs --estimand eventstudy")
        with progress.status(f"estimating ({args.permutations} randomization draws)"):
            result = _rollout(args, home)
        _print(args, result.to_dict(), result.text())
        return 0
    raise AssertionError(args.command)


def _rollout(args: argparse.Namespace, home: Home):
    return commands.rollout(
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


def _report(args: argparse.Namespace, home: Home) -> int:
    if args.command == "demo":
        # the home: --home or $MIDDLESTEP_HOME if given, else DIR/home beside the export
        chosen = args.home or os.environ.get("MIDDLESTEP_HOME")
        paths = demo(args.dir, seed=args.seed, scale=args.scale, home=home if chosen else None)
    else:
        with progress.status("estimating effects and writing the report"):
            paths = commands.report(
                home,
                args.department,
                allow_ungated=args.allow_ungated,
                include_unreliable=args.include_unreliable,
                permutations=args.permutations,
            )
    document = {"html": paths.html, "markdown": paths.markdown, "json": paths.json}
    _print(args, document, f"{'demo report' if args.command == 'demo' else 'report'}: {paths.html}")
    return 0


def _power(args: argparse.Namespace, home: Home) -> int:
    with progress.status(f"simulating {args.simulations} trials"):
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
    document = result.to_dict()
    document["sample_size"] = table.to_dict(orient="records")
    _print(args, document, result.summary() + "\n" + table.to_string(index=False))
    return 0


def _export(args: argparse.Namespace, home: Home) -> int:
    if args.command == "panel":  # the roll-out's balanced panel (`export rollout` too)
        args.what, args.allow_ungated = "rollout", True
    exported = commands.export(
        home,
        args.what,
        args.out,
        department=args.department,
        sample=args.sample,
        trial_id=args.trial,
        allow_ungated=args.allow_ungated,
    )
    _print(args, exported.to_dict(), exported.text())
    return 0


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


def _key(args: argparse.Namespace, home: Home) -> int:
    if args.key_command == "rotate":
        changed = commands.rotate_key(
            home, args.department, args.exports, args.new_file, wait_s=args.wait
        )
        text = (
            f"re-hashed {changed} civilian identifiers under {args.new_file}; set "
            "MIDDLESTEP_HASH_KEY_FILE to it for every command, then destroy the old key"
        )
        _print(args, {"rehashed": changed, "new_key_file": args.new_file}, text)
        return 0
    path, fingerprint = commands.key_init(home, args.file)
    text = (
        f"wrote a new civilian hash key to {path} (mode 0600; fingerprint {fingerprint[:16]}); "
        "back it up apart from the warehouse, and set "
        f"MIDDLESTEP_HASH_KEY_FILE={path} for every middlestep command"
    )
    _print(args, {"path": path, "fingerprint": fingerprint}, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
