"""A department without a trial, for tests/test_no_trial.py: the synthetic department's roster
and force reports only (no randomization, training, calls, camera codings or complaints), under
its own mapping (`forceonly`, written beside the export: departments/ is not touched)."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from nightly_support import use_test_hash_key

from middlestep.warehouse import PROJECT_ROOT

SEED, SCALE = 3, 0.1
FORCE_ONLY_TABLES = ("officers", "officer_units", "force_reports")


def write_force_only_export(root: Path) -> tuple[Path, Path]:
    """(export directory, mapping file) of a force-only department under `root`."""
    from middlestep.synth import load_scenario, simulate_department, write_export

    use_test_hash_key()
    full, export = root / "full-export", root / "export"
    sim = simulate_department(load_scenario(None), seed=SEED, scale=SCALE)
    write_export(sim, full)
    mapping = yaml.safe_load((PROJECT_ROOT / "departments" / "synthetic.yaml").read_text())
    mapping["department_id"] = "forceonly"
    mapping["description"] = "the synthetic department's roster and force reports, no trial"
    mapping["tables"] = {name: mapping["tables"][name] for name in FORCE_ONLY_TABLES}
    export.mkdir(parents=True)
    for spec in mapping["tables"].values():
        for path in full.glob(spec["file"]):
            shutil.copy(path, export / path.name)
    mapping_file = root / "forceonly.yaml"
    mapping_file.write_text(yaml.safe_dump(mapping, sort_keys=False))
    return export, mapping_file
