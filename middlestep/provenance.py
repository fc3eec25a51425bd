"""Where a report's numbers come from: the build, the input files, the code version and, for a
synthetic department, the seed and scenario of its planted truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from middlestep import __version__
from middlestep.warehouse import PROJECT_ROOT, Home
from middlestep.warehouse.builds import BuildIdentity
from middlestep.warehouse.readers import input_batches
from middlestep.warehouse.runlog import local_timestamp


def provenance(home: Home, identity: BuildIdentity | None) -> dict[str, Any]:
    inputs = input_batches(home)
    truth = synthetic_truth(home)
    return {
        "build_id": identity.build_id if identity else None,
        "plan_id": identity.plan_id if identity else None,
        "built_at": local_timestamp(identity.built_at) if identity else None,
        "models": identity.model_versions if identity else {},
        "inputs": inputs.to_dict(orient="records"),
        "code_version": code_version(),
        "seed": truth.get("seed") if truth else None,
        "scenario": truth.get("scenario") if truth else None,
        "generated_at": local_timestamp(),
    }


def synthetic_truth(home: Home) -> dict | None:
    """The planted truth of a synthetic export, if the warehouse was loaded from one."""
    marker = home.root / "synthetic_truth.json"
    return json.loads(marker.read_text()) if marker.exists() else None


def code_version(repo_root: Path | None = None) -> str:
    """The git commit of the checkout (read from .git, no git process), else the package version."""
    root = Path(repo_root) if repo_root else PROJECT_ROOT
    git_dir = root / ".git"
    try:
        if git_dir.is_file():  # a worktree: "gitdir: <path>"
            git_dir = (root / git_dir.read_text().split(":", 1)[1].strip()).resolve()
        head = (git_dir / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head
        ref = head.split(":", 1)[1].strip()
        for directory in (git_dir, _common_git_dir(git_dir)):
            ref_file = directory / ref
            if ref_file.is_file():
                return ref_file.read_text().strip()
            packed = directory / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line.split(" ", 1)[0]
    except OSError:
        pass
    return f"middlestep {__version__}"


def _common_git_dir(git_dir: Path) -> Path:
    common = git_dir / "commondir"
    if common.is_file():
        return (git_dir / common.read_text().strip()).resolve()
    return git_dir
