"""One function per command of the `middlestep` CLI: synth, ingest, build, check, analyze,
report, power, export (and panel), sqlmesh, rollout. They are thin: each checks what it is
given, reads the build snapshot once (middlestep/snapshot.py) and calls the step that does the
work.

Each writing step holds the warehouse's single-writer lock; readers open the file read-only.
Every step appends a line to the run log (``<home>/runs.jsonl``) that `middlestep status` reads.
The nightly job and the demo (middlestep/nightly.py, middlestep/demo.py) run these in sequence.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from middlestep import gate as quality_gate
from middlestep import trial
from middlestep.errors import PipelineError
from middlestep.provenance import provenance, synthetic_truth
from middlestep.snapshot import gated_snapshot
from middlestep.warehouse import Home, connect, project_root, writer_lock
from middlestep.warehouse.builds import BuildIdentity, latest_build, record_build
from middlestep.warehouse.readers import (
    officers_with_force,
    rejects_summary,
    unknown_appointments,
)
from middlestep.warehouse.runlog import log_run

log = logging.getLogger(__name__)


def synthesize(
    out: Path, scenario: Path | None, seed: int, scale: float, drops: int | None = None
) -> Path:
    from middlestep.synth import run_synth

    return run_synth(Path(out), scenario, seed, scale, drops=drops)


def ingest(home: Home, export_dir: Path, department: str, *, wait_s: float = 0.0):
    from middlestep.ingest import HashKeyError, ingest_export
    from middlestep.mapping import MappingError, load_mapping

    try:
        mapping = load_mapping(department)
    except MappingError as error:
        raise PipelineError(str(error)) from error
    if not Path(export_dir).is_dir():
        missing = "is a file, not a directory" if Path(export_dir).exists() else "does not exist"
        raise PipelineError(f"export directory {export_dir} {missing}")
    with writer_lock(home, wait_s):
        try:
            summary = ingest_export(home, Path(export_dir), mapping)
        except HashKeyError as error:  # refused before anything was loaded
            raise PipelineError(str(error)) from error
    log_run(
        home,
        "ingest",
        department=mapping.department_id,
        export_dir=str(export_dir),
        rows_read=summary.rows_read,
        rows_loaded=summary.rows_loaded,
        rows_rejected=summary.rows_rejected,
        files_failed=summary.files_failed,
        warnings=summary.warnings,
    )
    return summary


def ingest_document(summary) -> dict[str, Any]:
    """`ingest --json`: the counts of the one-line summary, and each file's."""
    from dataclasses import asdict

    return {
        "department": summary.department_id,
        "rows_read": summary.rows_read,
        "rows_loaded": summary.rows_loaded,
        "rows_rejected": summary.rows_rejected,
        "files": [asdict(result) for result in summary.files],
        "files_failed": summary.files_failed,
        "warnings": list(summary.warnings),
    }


def key_init(home: Home, path: Path | None) -> tuple[Path, str]:
    """Write a new civilian hash key (mode 0600, never over an existing one); returns its path
    and its keyed fingerprint (middlestep/ingest/civilian_key.py)."""
    from middlestep.ingest import civilian_key

    path = (path or civilian_key.configured_key_path(home.root)).expanduser().resolve()
    try:
        civilian_key.create_key_file(path)
        key = civilian_key.read_key_file(path)
    except civilian_key.HashKeyError as error:
        raise PipelineError(str(error)) from error
    return path, civilian_key.fingerprint(key)


def rotate_key(
    home: Home, department: str, exports: list[Path], new_key_file: Path, *, wait_s: float = 0.0
) -> int:
    """Re-hash the civilian identifiers under a new key (middlestep/ingest/rotate.py)."""
    from middlestep.ingest import HashKeyError
    from middlestep.ingest.rotate import rotate_key as rotate
    from middlestep.mapping import MappingError, load_mapping

    try:
        mapping = load_mapping(department)
        with writer_lock(home, wait_s):
            changed = rotate(home, mapping, [Path(e) for e in exports], Path(new_key_file))
    except (HashKeyError, MappingError) as error:
        raise PipelineError(str(error)) from error
    log_run(home, "key_rotate", department=mapping.department_id, rehashed=changed)
    return changed


def build(home: Home, *, wait_s: float = 0.0, incremental: bool = False) -> BuildIdentity:
    from middlestep import build as sqlmesh_build

    if not home.warehouse.exists():
        raise PipelineError(f"no warehouse at {home.warehouse}: run `middlestep ingest` first")
    with writer_lock(home, wait_s):
        step = sqlmesh_build.run if incremental else sqlmesh_build.build
        record = step(home.warehouse, project_root())
        identity = record_build(home, record)
    log_run(home, "build", build_id=identity.build_id, incremental=incremental)
    return identity


def build_document(identity: BuildIdentity) -> dict[str, Any]:
    """`build --json`: the build's identity and model versions."""
    return {
        "build_id": identity.build_id,
        "plan_id": identity.plan_id,
        "built_at": identity.built_at,
        "n_models": len(identity.model_versions),
        "model_versions": identity.model_versions,
    }


def sqlmesh(home: Home, arguments: list[str], *, wait_s: float = 0.0) -> int:
    """Any SQLMesh command against the home's warehouse, under its writer lock; its exit code
    (middlestep/sqlmesh_command.py)."""
    from middlestep.sqlmesh_command import run_sqlmesh

    with writer_lock(home, wait_s):
        code = run_sqlmesh(home, project_root(), arguments)
    log_run(home, "sqlmesh", arguments=arguments, exit_code=code)
    return code


def check(home: Home, *, wait_s: float = 0.0, full: bool = False):
    """The quality gate of the latest build; the monthly marts in the months changed since
    the last passed gate unless `full` (middlestep/gate/months.py)."""
    # the lock covers the gate's reads too: no writer may change the build it checks
    with writer_lock(home, wait_s):
        identity = latest_build(home)
        if identity is None:
            raise PipelineError("nothing to check: run `middlestep build` first")
        result = quality_gate.run_gate(
            home.warehouse,
            build_id=identity.build_id,
            full=full,
            data_docs_dir=home.data_docs_dir,
            # the project's expectations/ beside its models (also a --project copy's)
            expectations_dir=project_root() / "expectations",
        )
        quality_gate.record_gate(home.warehouse, result)
    log_run(home, "check", build_id=identity.build_id, passed=result.passed)
    return result


def analyze(
    home: Home,
    department: str | None = None,
    *,
    allow_ungated: bool = False,
    include_unreliable: bool = False,
    settings: Any = None,
) -> trial.Analysis:
    """The gated build's effect estimates for one department (middlestep/trial.py)."""
    snapshot = gated_snapshot(home, department, allow_ungated=allow_ungated)
    analysis = trial.analyze(
        home, snapshot, include_unreliable=include_unreliable, settings=settings
    )
    analysis.notes += _data_notes(home, analysis.department_id)
    return analysis


def _data_notes(home: Home, department_id: str) -> list[str]:
    """What the data means that the estimates rest on: officers whose appointment the export
    does not give are active from their first to their last record (middlestep/contract.py);
    a roster of only officers who used force (one derived from the force file) lacks the rest."""
    from middlestep.contract import UNKNOWN_APPOINTMENT

    notes = []
    unknown, officers = unknown_appointments(home, department_id)
    if unknown:
        notes.append(f"{unknown} of {officers} officers: {UNKNOWN_APPOINTMENT}")
    named, officers = officers_with_force(home, department_id)
    if officers and named == officers:
        notes.append(ROSTER_OF_FORCE_USERS.format(officers=f"{officers:,}"))
    return notes


# no department has every officer in a force report within a year: such a roster was read off
# the force file, and the figures divided by it describe the officers who used force
ROSTER_OF_FORCE_USERS = (
    "All {officers} officers on the roster are named in a force report: the roster appears to "
    "list only officers who used force (as one derived from the force file does), so officers "
    "who used none are missing. Rates per officer-month are overstated (their denominator lacks "
    "those officers), the share of officers with any report is 100% by construction, the "
    "concentration figures describe officers who used force, and a trial planned on these "
    "rates and their spread across officers overstates its power. Map the department's full "
    "roster to correct them."
)


def power(home: Home | None, department: str | None = None, **options: Any):
    """(PowerResult, sample-size table) of a department's force outcome."""
    from middlestep.trial_power import power as force_power

    return force_power(home, department, **options)


def report(
    home: Home,
    department: str | None = None,
    *,
    allow_ungated: bool = False,
    include_unreliable: bool = False,
    permutations: int | None = None,
):
    from analysis.memo import memo_directory
    from middlestep.report import ReportContext, write_report

    settings = None
    if permutations is not None:  # Fisher randomization draws per estimate
        from analysis.open_box import Settings

        settings = Settings(n_permutations=permutations, cache_dir=home.analysis_cache)
    snapshot = gated_snapshot(home, department, allow_ungated=allow_ungated)
    analysis = trial.analyze(
        home, snapshot, include_unreliable=include_unreliable, settings=settings
    )
    data_notes = _data_notes(home, analysis.department_id)
    analysis.notes += data_notes
    context = ReportContext(
        department_id=analysis.department_id,
        title=(
            f"Use of force and trial planning: {analysis.department_id}"
            if analysis.department is not None
            else f"Training evaluation: {analysis.department_id}"
        ),
        effects=analysis.effects,
        balance=analysis.balance,
        gate=snapshot.gate or {"passed": False, "failures": ["the gate never ran for this build"]},
        reliability=analysis.reliability,
        rejects=rejects_summary(home),
        provenance=provenance(home, snapshot.identity),
        is_gated=analysis.is_gated,
        truth=synthetic_truth(home),
        open_box=analysis.open_box,
        reliability_items=analysis.reliability_items,
        excluded_items=tuple(analysis.excluded_items),
        analysis_notes=tuple(analysis.notes),
        data_notes=tuple(data_notes),
        rollout=analysis.rollout,
        rollout_effects=tuple(analysis.rollout_effects),
        plan=_plan_document(home, analysis),
        primary_effects=tuple(analysis.primary_effects),
        robustness_effects=tuple(analysis.robustness_effects),
        complier_effects=tuple(analysis.complier_effects),
        balance_test=analysis.balance_test,
        consort=analysis.consort,
        cell_means=analysis.cell_means,
        block_cluster_tests=tuple(analysis.block_cluster_tests),
        not_estimated=tuple(analysis.not_estimated),
        department=analysis.department,
        spillover=analysis.spillover,
    )
    with memo_directory(home.analysis_cache):  # the plots, redrawn only when they change
        paths = write_report(home.report_dir, context)
    log_run(home, "report", build_id=analysis.build_id, path=str(paths.html))
    return paths


def plan_register(home: Home, department: str, *, wait_s: float = 0.0):
    """Register the department's analysis plan (plans/<department>.yaml) with the post-period
    outcome data the last build's marts hold, or on a warehouse with no outcome yet (before the
    first ingest) with none (middlestep/plan/)."""
    from middlestep.plan import PlanError, load_plan, plan_path
    from middlestep.plan.registry import register_plan

    try:
        plan = load_plan(plan_path(department))
    except PlanError as error:
        raise PipelineError(str(error)) from error
    try:
        with writer_lock(home, wait_s), connect(home.warehouse) as connection:
            registration = register_plan(connection, plan)
    except PlanError as error:
        raise PipelineError(str(error)) from error
    log_run(home, "plan register", department=department, sha256=registration.sha256)
    return registration


def plan_status(home: Home, department: str):
    """The department's plan against its registrations (None: the department has no plan)."""
    from middlestep.plan import PlanError, load_plan, plan_path
    from middlestep.plan import plan_status as plan_status_of
    from middlestep.plan.registry import status_of

    try:
        if not home.warehouse.exists():  # nothing loaded yet: the plan, unregistered
            path = plan_path(department)
            plan = load_plan(path) if path.exists() else None
            return plan_status_of(plan, [], outcomes_seen_now=0) if plan else None
        with connect(home.warehouse, read_only=True) as connection:
            return status_of(connection, department)
    except PlanError as error:
        raise PipelineError(str(error)) from error


def _plan_document(home: Home, analysis: trial.Analysis) -> dict | None:
    """The plan of a randomized trial's report (none for a roll-out-only department)."""
    if analysis.rollout is not None:
        return None
    status = plan_status(home, analysis.department_id)
    return status.to_dict() if status is not None else None


def export(home: Home, what: str, out: Path, **options: Any):
    """A mart or analysis panel to CSV, Parquet or Stata (middlestep/export.py)."""
    from middlestep.export import export_table

    return export_table(home, what, Path(out), **options)


def rollout(home: Home, department: str, **options: Any):
    """One staggered roll-out estimate of a gated build (middlestep/rollout.py)."""
    from middlestep.rollout import rollout as estimate

    return estimate(home, department, **options)
