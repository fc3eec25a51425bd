"""The latest build and the gate recorded for exactly that build: what a command analyses.

Analysis and roll-out commands refuse an ungated build unless told otherwise (`gated_build`).
"""

from __future__ import annotations

from middlestep.errors import PipelineError
from middlestep.warehouse import Home
from middlestep.warehouse.builds import BuildIdentity, latest_build


def gate_of_latest_build(home: Home) -> tuple[BuildIdentity | None, dict | None]:
    """The latest build and the gate result recorded for exactly that build, if any."""
    from middlestep.gate import latest_gate

    identity = latest_build(home)
    gate = latest_gate(home.warehouse) if identity else None
    if gate is not None and identity is not None and gate.get("build_id") != identity.build_id:
        gate = None  # the gate checked an older build
    return identity, gate


def gated_build(home: Home, allow_ungated: bool) -> tuple[str, dict | None, bool]:
    """(build_id, gate, is_gated) of the latest build; refuses an ungated one unless allowed."""
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
    return identity.build_id, gate, is_gated
