"""The synthetic department: a simulated de-escalation trial with planted effects.

``run_synth`` is what ``middlestep synth`` calls: it simulates a department under a scenario,
writes its export in the department's own format (mapped by departments/synthetic.yaml) and
the planted truth (``truth.json``) next to it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from middlestep.synth.export import FILES, write_export
from middlestep.synth.generator import SimulatedDepartment, simulate_department
from middlestep.synth.scenario import ScenarioError, load_scenario
from middlestep.synth.truth import compute_truth

__all__ = [
    "FILES",
    "ScenarioError",
    "SimulatedDepartment",
    "compute_truth",
    "load_scenario",
    "run_synth",
    "simulate_department",
    "write_export",
    "write_truth",
]

log = logging.getLogger(__name__)


def write_truth(truth: dict, out_dir: str | Path) -> Path:
    """Write ``truth`` as ``out_dir/truth.json`` (stable key order and float text)."""
    path = Path(out_dir) / "truth.json"
    path.write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n")
    return path


def run_synth(
    out_dir: Path,
    scenario_path: Path | None,
    seed: int,
    scale: float,
    drops: int | None = None,
) -> Path:
    """Simulate a department and write its export and ``truth.json`` into ``out_dir``.

    With ``drops``, the export is cut into that many nightly drops ``out_dir/drop-001/`` ..
    (middlestep/synth/drops.py) instead of one directory of files.
    """
    out_dir = Path(out_dir)
    scenario = load_scenario(scenario_path)
    sim = simulate_department(scenario, seed=seed, scale=scale)
    if drops is None:
        write_export(sim, out_dir)
    else:
        from middlestep.synth.drops import write_drops

        write_drops(sim, out_dir, drops, seed=seed)
    log.info("synth: computing the planted estimands")
    write_truth(compute_truth(scenario, seed, scale, sim=sim), out_dir)
    return out_dir
