"""`middlestep demo`: every step on a fresh synthetic department, in a fresh directory."""

from __future__ import annotations

import logging
from pathlib import Path

from middlestep import commands
from middlestep.errors import PipelineError
from middlestep.warehouse import Home

log = logging.getLogger(__name__)


def demo(directory: Path, *, seed: int = 1, scale: float = 1.0, home: Home | None = None):
    """Synthesise, ingest, build, gate, analyse and report; returns the report's paths.

    The export goes to ``directory/export``, the home to ``home`` if given (`--home`,
    ``$MIDDLESTEP_HOME``), else to ``directory/home``."""
    directory = Path(directory).resolve()
    export = directory / "export"
    home = home or Home.resolve(directory / "home")
    if home.warehouse.exists():
        raise PipelineError(
            f"{home.root} already holds a warehouse: choose a new --dir (or --home)"
        )
    log.info("1/6 synthesising a department (seed %s, scale %s) into %s", seed, scale, export)
    commands.synthesize(export, None, seed, scale)
    home.ensure()
    (home.root / "synthetic_truth.json").write_text((export / "truth.json").read_text())
    # the trial's analysis plan, registered before any outcome is loaded
    commands.plan_register(home, "synthetic")
    log.info("2/6 ingesting the export")
    commands.ingest(home, export, "synthetic")
    log.info("3/6 building the models (SQLMesh plan, apply to prod)")
    commands.build(home)
    log.info("4/6 running the quality gate")
    gate = commands.check(home)
    if not gate.passed:
        raise PipelineError("the demo's gate failed:\n" + gate.text())
    log.info("5/6 estimating effects and 6/6 writing the report")
    return commands.report(home)
