"""The `middlestep` command's arguments: global options, one subcommand per step, help texts
with examples.

Global options (``--home``, ``--project``, ``-v``, ``--json``) are accepted before or after the
subcommand: each subcommand gets a copy whose default is "not given" (``SUPPRESS``), so a value
given after the subcommand wins and one given before it is kept.
"""

from __future__ import annotations

import argparse
from importlib import metadata
from pathlib import Path

from middlestep.cli_options import add_department, add_result_commands, add_wait

DESCRIPTION = """\
Raw police department exports to gated training-effect estimates.

The steps, in order: synth (a synthetic department) or your own export -> ingest -> build
(SQLMesh) -> check (the quality gate) -> analyze / report / export. `run` does them all for a
nightly drop; `demo` on a fresh synthetic department."""

EXAMPLES = """\
examples:
  middlestep demo --dir demo-output
  middlestep --home H ingest exports/ --department synthetic
  middlestep build --home H && middlestep check --home H
  middlestep report --home H
  middlestep export fct_officer_months --out panel.dta --home H
  middlestep sqlmesh plan dev --home H
  middlestep status --home H --json"""


def _version() -> str:
    try:
        return metadata.version("middlestep")
    except metadata.PackageNotFoundError:  # run from a checkout that was not installed
        return "unknown"


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every command takes; on a subcommand, absent ones leave the top's value."""

    def default(value):
        return value if top else argparse.SUPPRESS

    parser.add_argument(
        "--home",
        default=default(None),
        metavar="DIR",
        help="warehouse home: the DuckDB file, run log and reports "
        "(default: $MIDDLESTEP_HOME, else ./.middlestep)",
    )
    parser.add_argument(
        "--project",
        default=default(None),
        type=Path,
        metavar="DIR",
        help="the SQLMesh project (models/, audits/, sqlmesh.yaml) that build, run and sqlmesh "
        "use (default: $MIDDLESTEP_PROJECT, else the project middlestep was installed from)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default(False),
        help="more progress output, and SQLMesh's rendered SQL when a model or audit fails",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print the result as JSON (the fields of the one-line summary) instead of text",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="middlestep",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"middlestep {_version()}")
    _global_options(parser, top=True)
    shared = argparse.ArgumentParser(add_help=False)
    _global_options(shared, top=False)
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="the step to run"
    )

    def command(name: str, help: str, examples: str, description: str | None = None):
        lines = "\n".join(f"  {line}" for line in examples.strip().splitlines())
        return commands.add_parser(
            name,
            help=help,
            description=description or help,
            epilog=f"examples:\n{lines}",
            parents=[shared],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    _steps(command)
    add_result_commands(command)
    _tools(command)
    return parser


def _steps(command) -> None:
    synth = command(
        "synth",
        "write a synthetic department's export (and its planted truth)",
        """
middlestep synth --out export/
middlestep synth --out drops/ --drops 5 --seed 7
middlestep synth --out big/ --scale 5 --scenario my_scenario.yaml""",
    )
    synth.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="directory to write the export to"
    )
    synth.add_argument("--scenario", type=Path, help="YAML overriding the default scenario")
    synth.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    synth.add_argument(
        "--scale", type=float, default=1.0, help="multiplies the officers (default 1)"
    )
    synth.add_argument(
        "--drops",
        type=int,
        metavar="N",
        help="cut the export into N nightly drops OUT/drop-001 .. (for `middlestep run`)",
    )

    ingest = command(
        "ingest",
        "load an export through its department mapping",
        """
middlestep ingest export/ --department synthetic --home H
middlestep ingest data/chicago_pj --department chicago --home chi --json""",
    )
    ingest.add_argument("export_dir", type=Path, help="directory of the department's files")
    add_department(ingest, required=True)
    add_wait(ingest)

    build = command(
        "build",
        "SQLMesh plan and apply to production",
        """
middlestep build --home H
middlestep -v build --home H     # SQLMesh's rendered SQL of a failing audit too
middlestep build --home H --project my-project/   # the models of another project copy""",
    )
    add_wait(build)

    check = command(
        "check",
        "the quality gate; non-zero exit on failure",
        """
middlestep check --home H
middlestep check --full --json --home H""",
    )
    check.add_argument(
        "--full",
        action="store_true",
        help="validate every mart and month, not only those changed since the last passed gate",
    )
    add_wait(check)

    run = command(
        "run",
        "the nightly job: ingest, run, gate, analysis, report",
        """
middlestep run --drop /srv/exports/synthetic --department synthetic --home /srv/ms --wait 600
middlestep run --drop drops/drop-001 --department synthetic --home H --json""",
    )
    run.add_argument(
        "--drop", required=True, type=Path, metavar="DIR", help="the directory of the drop"
    )
    add_department(run, required=True)
    add_wait(run)

    demo = command(
        "demo",
        "everything, on a fresh synthetic department",
        """
middlestep demo
middlestep demo --dir demo-output --scale 0.3
MIDDLESTEP_HOME=H middlestep demo     # the warehouse in H, the export beside it""",
        description="Synthesise, ingest, build, gate, analyse and report. The export goes to "
        "DIR/export and the home to DIR/home; with --home or $MIDDLESTEP_HOME the home goes "
        "there instead.",
    )
    demo.add_argument(
        "--dir",
        type=Path,
        default=Path("demo-output"),
        help="a new directory for the export (and the home, unless --home) (default demo-output)",
    )
    demo.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    demo.add_argument(
        "--scale", type=float, default=1.0, help="multiplies the officers (default 1)"
    )


def _tools(command) -> None:
    status = command(
        "status",
        "last run, gate, freshness, what to do next",
        """
middlestep status --home H
middlestep status --home H --json""",
    )
    add_wait(status)

    sqlmesh = command(
        "sqlmesh",
        "any SQLMesh command against the home's warehouse, under the writer lock",
        """
middlestep sqlmesh plan dev --home H
middlestep sqlmesh fetchdf "select count(*) from marts__dev.my_model" --home H
middlestep sqlmesh table_diff prod:dev marts.my_model --home H
middlestep sqlmesh --wait 600 -- plan dev --auto-apply --home H""",
        description="Runs `sqlmesh ARGS` in the SQLMesh project (--project) against the home's "
        "warehouse, holding the warehouse's writer lock, so a dev plan never runs over a "
        "nightly run. Options of middlestep go before ARGS (or put `--` before ARGS); every "
        "argument after the SQLMesh command goes to SQLMesh. Promote to production with "
        "`middlestep build`.",
    )
    add_wait(sqlmesh)
    sqlmesh.add_argument(
        "sqlmesh_args",
        nargs=argparse.REMAINDER,
        metavar="ARGS",
        help="the SQLMesh command and its arguments (`plan dev`, `fetchdf SQL`, ...)",
    )

    plan = command(
        "plan",
        "the trial's pre-registered analysis plan (plans/NAME.yaml): register or show it",
        """
middlestep plan register --department synthetic --home H
middlestep plan show --department synthetic --json --home H""",
        description="register: record the plan's hash and date with the post-period outcome "
        "data the last build holds (do it before post-period outcomes arrive); show: the plan, "
        "its registration and every deviation from it.",
    )
    plan.add_argument(
        "plan_action", choices=("register", "show"), help="register the plan, or show it"
    )
    plan.add_argument("--department", required=True, help="the plan file plans/NAME.yaml")
    add_wait(plan)

    _add_key(command)


def _add_key(command) -> None:
    key = command(
        "key",
        "the civilian hash key: make or rotate one",
        """
middlestep key init --file /etc/middlestep/hash.key
middlestep key rotate --department synthetic --new-file new.key drops/drop-001 drops/drop-002""",
    )
    key_commands = key.add_subparsers(
        dest="key_command", required=True, metavar="ACTION", help="init or rotate"
    )
    key_init = key_commands.add_parser(
        "init",
        help="write a new random civilian hash key (mode 0600); never overwrites one",
        description="Writes 32 random bytes (64 hex digits) to --file, else to "
        "$MIDDLESTEP_HASH_KEY_FILE, else to <home>/civilian_hash.key, and prints the key's "
        "fingerprint. Back the file up apart from the warehouse: without it, new data cannot be "
        "linked to the civilians already loaded.",
        epilog="examples:\n  middlestep key init --file /etc/middlestep/hash.key",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    key_init.add_argument("--file", type=Path, help="where to write the key")
    key_rotate = key_commands.add_parser(
        "rotate",
        help="re-hash every civilian identifier under a new key (needs every export loaded)",
        description="Reads the civilian identifiers again from the exports given (all that were "
        "ever loaded), hashes each under the configured key and under --new-file's, and replaces "
        "the warehouse's hashes and key fingerprint in one transaction. Then point "
        "MIDDLESTEP_HASH_KEY_FILE at the new key and destroy the old one.",
        epilog="examples:\n  middlestep key rotate --department synthetic --new-file new.key "
        "drops/drop-001 drops/drop-002",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    key_rotate.add_argument("exports", type=Path, nargs="+", help="export directories (drops)")
    add_department(key_rotate, required=True)
    key_rotate.add_argument("--new-file", required=True, type=Path, help="the new key")
    add_wait(key_rotate)
