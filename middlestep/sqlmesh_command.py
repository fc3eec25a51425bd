"""`middlestep sqlmesh ARGS`: SQLMesh's own command line against a home's warehouse.

The analyst's loop (`plan dev`, `fetchdf`, `table_diff prod:dev`, ...) runs SQLMesh's CLI as
it is, in a child process, with the project's config pointed at the home's DuckDB file
(``MIDDLESTEP_WAREHOUSE``, read by sqlmesh.yaml). The caller holds the home's writer lock for
the whole command, so a dev plan cannot run over a nightly run (SQLMesh opens the file for
writing even to read: it keeps its state there).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from middlestep import build
from middlestep.errors import PipelineError
from middlestep.warehouse import Home

# SQLMesh's global option naming the project directory (if the analyst gives one, it wins)
PATHS_OPTIONS = ("-p", "--paths")
LAUNCH = "import sys; from sqlmesh.cli.main import cli; sys.exit(cli(prog_name='sqlmesh'))"


def sqlmesh_environment(home: Home) -> dict[str, str]:
    """The environment of a SQLMesh command against ``home``'s warehouse: the build's own
    (warehouse file and DuckDB memory settings, which DuckDB needs the same on every connection)."""
    return {
        **os.environ,
        **build.sqlmesh_environment(home.warehouse),
        "MIDDLESTEP_HOME": str(home.root),
    }


def run_sqlmesh(home: Home, project: Path, arguments: list[str]) -> int:
    """Run ``sqlmesh ARGUMENTS`` on ``project`` against the home's warehouse; its exit code.

    Its output goes to this process's stdout and stderr; prompts (a plan's "apply?") read
    this process's stdin.
    """
    if not arguments:
        raise PipelineError("which SQLMesh command? e.g. `middlestep sqlmesh plan dev`")
    if not home.warehouse.exists():
        raise PipelineError(
            f"no warehouse at {home.warehouse}: run `middlestep ingest` and `middlestep build` "
            "first (or pass --home)"
        )
    given_paths = any(arg.split("=", 1)[0] in PATHS_OPTIONS for arg in arguments)
    command = [sys.executable, "-c", LAUNCH]
    command += arguments if given_paths else ["--paths", str(project), *arguments]
    return subprocess.run(command, env=sqlmesh_environment(home), check=False).returncode
