"""The build snapshot: the latest build, the gate recorded for exactly that build and the
department, read once per command and handed to the steps that need them.

Analysis and roll-out commands refuse an ungated build unless told otherwise (`gated_snapshot`).
"""

from __future__ import annotations

from dataclasses import dataclass

from middlestep.errors import PipelineError
from middlestep.warehouse import Home
from middlestep.warehouse.builds import BuildIdentity, latest_build
from middlestep.warehouse.readers import only_department


@dataclass(frozen=True)
class BuildSnapshot:
    """What a command analyses: a build, its gate (None if none ran on it) and a department."""

    identity: BuildIdentity
    gate: dict | None
    department_id: str

    @property
    def build_id(self) -> str:
        return self.identity.build_id

    @property
    def is_gated(self) -> bool:
        return bool(self.gate and self.gate.get("passed"))


def gate_of_latest_build(home: Home) -> tuple[BuildIdentity | None, dict | None]:
    """The latest build and the gate result recorded for exactly that build, if any."""
    from middlestep.gate import latest_gate

    identity = latest_build(home)
    gate = latest_gate(home.warehouse) if identity else None
    if gate is not None and identity is not None and gate.get("build_id") != identity.build_id:
        gate = None  # the gate checked an older build
    return identity, gate


def gated_snapshot(
    home: Home, department: str | None = None, *, allow_ungated: bool = False
) -> BuildSnapshot:
    """The latest build, its gate and the department (the only one if not given); refuses a
    build whose gate failed or never ran unless `allow_ungated`."""
    identity, gate = gate_of_latest_build(home)
    if identity is None:
        raise PipelineError("no build to analyse: run `middlestep build` first")
    is_gated = bool(gate and gate.get("passed"))
    if not is_gated and not allow_ungated:
        why = "never ran" if gate is None else "failed"
        raise PipelineError(
            f"the quality gate {why} for build {identity.build_id}: run `middlestep check` "
            "and fix what it reports (or pass --allow-ungated to mark every output UNGATED)"
        )
    return BuildSnapshot(identity, gate, department or only_department(home))
