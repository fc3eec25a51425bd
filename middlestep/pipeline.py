"""The steps of the pipeline as library functions: ingest, build, check, analyze, report.

Each writing step holds the warehouse's single-writer lock; readers open the file read-only.
Every step appends a line to the run log (``<home>/runs.jsonl``) that `middlestep status` reads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from middlestep import __version__
from middlestep.nightly import RunOutcome
from middlestep.warehouse import PROJECT_ROOT, Home, connect, writer_lock

log = logging.getLogger(__name__)


class PipelineError(RuntimeError):
    """A step that cannot go on; the message says why and what to do."""


# --------------------------------------------------------------------------------------------
# synth and ingest


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
        raise PipelineError(f"export directory {export_dir} does not exist")
    with writer_lock(home, wait_s):
        try:
            summary = ingest_export(home, Path(export_dir), mapping)
        except HashKeyError as error:  # refused before anything was loaded
            raise PipelineError(str(error)) from error
    _log_run(
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
    _log_run(home, "key_rotate", department=mapping.department_id, rehashed=changed)
    return changed


# --------------------------------------------------------------------------------------------
# build


@dataclass(frozen=True)
class BuildIdentity:
    build_id: str
    plan_id: str
    built_at: str
    model_versions: dict[str, str]
    batches: list[dict[str, Any]]


def build(home: Home, *, wait_s: float = 0.0, incremental: bool = False) -> BuildIdentity:
    from middlestep import build as sqlmesh_build

    if not home.warehouse.exists():
        raise PipelineError(f"no warehouse at {home.warehouse}: run `middlestep ingest` first")
    with writer_lock(home, wait_s):
        step = sqlmesh_build.run if incremental else sqlmesh_build.build
        record = step(home.warehouse, PROJECT_ROOT)
        identity = _record_build(home, record)
    _log_run(home, "build", build_id=identity.build_id, incremental=incremental)
    return identity


def _record_build(home: Home, record) -> BuildIdentity:
    """Name the build by what it was built from: the model versions and the input batches."""
    with connect(home.warehouse) as connection:
        batches = [
            dict(zip(("batch_id", "table", "source_file", "file_sha256"), row, strict=True))
            for row in connection.execute(
                "select batch_id, table_name, source_file, file_sha256 from raw._batches "
                "order by batch_id"
            ).fetchall()
        ]
        model_versions = dict(sorted(record.model_versions.items()))
        fingerprint = json.dumps([model_versions, [b["file_sha256"] for b in batches]])
        build_id = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
        built_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        connection.execute("create schema if not exists meta")
        connection.execute(
            "create table if not exists meta.builds (build_id text, plan_id text, "
            "built_at timestamp, model_versions_json text, batches_json text)"
        )
        connection.execute(
            "insert into meta.builds values (?, ?, ?, ?, ?)",
            [build_id, record.plan_id, built_at, json.dumps(model_versions), json.dumps(batches)],
        )
    return BuildIdentity(build_id, record.plan_id, built_at.isoformat(), model_versions, batches)


def latest_build(home: Home) -> BuildIdentity | None:
    if not home.warehouse.exists():
        return None
    with connect(home.warehouse, read_only=True) as connection:
        exists = connection.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'meta' and table_name = 'builds'"
        ).fetchone()[0]
        if not exists:
            return None
        row = connection.execute(
            "select build_id, plan_id, built_at, model_versions_json, batches_json "
            "from meta.builds order by built_at desc limit 1"
        ).fetchone()
    if row is None:
        return None
    return BuildIdentity(row[0], row[1], row[2].isoformat(), json.loads(row[3]), json.loads(row[4]))


# --------------------------------------------------------------------------------------------
# gate


def check(home: Home, *, wait_s: float = 0.0, full: bool = False):
    """The quality gate of the latest build; the monthly marts in the months changed since
    the last passed gate unless `full` (middlestep/gate_months.py)."""
    from middlestep.gate import record_gate, run_gate

    # the lock covers the gate's reads too: no writer may change the build it checks
    with writer_lock(home, wait_s):
        identity = latest_build(home)
        if identity is None:
            raise PipelineError("nothing to check: run `middlestep build` first")
        result = run_gate(home.warehouse, build_id=identity.build_id, full=full)
        record_gate(home.warehouse, result)
    _log_run(home, "check", build_id=identity.build_id, passed=result.passed)
    return result


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


# --------------------------------------------------------------------------------------------
# analysis


@dataclass
class Analysis:
    department_id: str
    is_gated: bool
    build_id: str | None
    effects: list = field(default_factory=list)
    balance: Any = None
    reliability: Any = None
    notes: list[str] = field(default_factory=list)
    reliability_items: Any = None  # per item: alpha and kappa with bootstrap intervals
    excluded_items: list[str] = field(default_factory=list)  # unreliable, left out
    open_box: Any = None  # analysis.open_box.OpenBox
    # staggered roll-out estimators (middlestep/rollout.py): the whole study of a roll-out
    # department, and a wait-list trial's force/complaint effects read as a two-cohort roll-out
    rollout: Any = None  # analysis.rollout.RolloutStudy
    rollout_effects: list = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from middlestep.gate import jsonable

        reliability = self.reliability_items
        return jsonable(
            {
                "department_id": self.department_id,
                "gated": self.is_gated,
                "build_id": self.build_id,
                "effects": [effect.to_dict() for effect in self.effects],
                "excluded_items": list(self.excluded_items),
                "reliability_items": (
                    reliability.astype(object).where(reliability.notna(), None).to_dict("records")
                    if reliability is not None
                    else []
                ),
                **(self.open_box.to_dict() if self.open_box is not None else {}),
                "rollout_effects": [effect.to_dict() for effect in self.rollout_effects],
                "rollout": self.rollout.to_dict() if self.rollout is not None else None,
                "notes": self.notes,
            }
        )

    def text(self) -> str:
        banner = [] if self.is_gated else ["UNGATED: not for publication", ""]
        blocks = [effect.summary() for effect in self.effects]
        box = self.open_box
        if box is not None:
            if box.power is not None:
                blocks.append(box.power.summary())
            if box.summary_index is not None:
                blocks.append(box.summary_index.summary())
            blocks += [effect.summary() for effect in box.complier_effects]
            blocks += [result.summary() for result in box.mediation]
            blocks += [result.summary() for result in box.heterogeneity]
            if box.multiple_outcomes is not None:
                blocks.append(box.multiple_outcomes.to_string(index=False))
        blocks += [effect.summary() for effect in self.rollout_effects]
        if self.rollout is not None:
            blocks.append(self.rollout.estimates_frame().to_string(index=False))
        if self.excluded_items:
            blocks.append(
                "left out as unreliable (Krippendorff's alpha below the threshold): "
                + ", ".join(self.excluded_items)
            )
        return "\n".join(banner + blocks + [f"note: {note}" for note in self.notes])


def analyze(
    home: Home,
    department: str | None = None,
    *,
    allow_ungated: bool = False,
    include_unreliable: bool = False,
    reliability_threshold: float = 0.667,
    settings: Any = None,
) -> Analysis:
    """The gated build's effect estimates for one department.

    Communication items whose Krippendorff's alpha (`marts.rpt_sso_reliability`) is below
    `reliability_threshold` are left out of the confirmatory estimates unless
    `include_unreliable`. Beside the ITT estimates: Fisher randomization p-values, power and the
    MDE for force, adjusted p-values and the summary index, complier (2SLS) effects, mediation
    and subgroup effects (analysis/open_box.py; `settings` sizes the simulations). Without
    `settings`, estimates are memoized under the home (`Home.analysis_cache`, analysis/memo.py):
    a nightly run refits only those whose data changed.
    """
    from analysis.memo import memo_directory, prune
    from analysis.open_box import Settings

    settings = settings or Settings(cache_dir=home.analysis_cache)
    with memo_directory(settings.cache_dir):
        analysis = _analyze(
            home, department, allow_ungated, include_unreliable, reliability_threshold, settings
        )
    prune(settings.cache_dir)
    return analysis


def _analyze(
    home: Home,
    department: str | None,
    allow_ungated: bool,
    include_unreliable: bool,
    reliability_threshold: float,
    settings: Any,
) -> Analysis:
    from analysis.balance import balance_table
    from analysis.communication import itt_effects
    from analysis.force import force_effect
    from analysis.marts import load_marts
    from analysis.open_box import add_fisher_p_values, open_box
    from analysis.reliability import item_reliability, load_codings, unreliable_items
    from middlestep.contract import SSO_ITEMS

    build_id, gate, is_gated = gated_build(home, allow_ungated)
    department_id = department or _only_department(home)
    analysis = Analysis(department_id, is_gated, build_id)
    from middlestep import rollout

    if rollout.is_rollout_only(home, department_id, gate):
        # a staggered roll-out without randomized arms (Chicago): its estimators only
        analysis.rollout = rollout.department_study(
            home, department_id, permutations=settings.n_permutations, seed=settings.seed
        )
        analysis.effects = analysis.rollout.headline_effects()
        analysis.notes += analysis.rollout.notes
        return analysis
    marts = load_marts(home.warehouse, department_id)
    analysis.balance = balance_table(marts.officers, marts.officer_months)
    waiting = _trial_not_yet_estimable(marts)
    if waiting:
        # early in a trial (a nightly run before post-training data): balance only, said so
        analysis.notes.append(waiting)
        return analysis
    analysis.reliability = marts.sso_reliability
    items = _confirmatory_items(SSO_ITEMS)
    if len(marts.encounters):
        try:
            analysis.reliability_items = item_reliability(
                load_codings(home.warehouse, department_id),
                SSO_ITEMS,
                threshold=reliability_threshold,
                n_bootstrap=settings.n_bootstrap,
                seed=settings.seed,
            )
        except Exception as error:  # noqa: BLE001 - an intermediate model may be absent
            analysis.notes.append(f"per-coding reliability not computed: {error}")
        unreliable = [
            item
            for item in unreliable_items(marts.sso_reliability, reliability_threshold)
            if item in items
        ]
        if unreliable and include_unreliable:
            analysis.notes.append(
                "unreliable items kept in the confirmatory analysis (--include-unreliable): "
                + ", ".join(unreliable)
            )
        elif unreliable:
            analysis.excluded_items = unreliable
            items = {item: kind for item, kind in items.items() if item not in unreliable}
            analysis.notes.append(
                f"left out of the confirmatory analysis as unreliable (Krippendorff's alpha "
                f"below {reliability_threshold}): {', '.join(unreliable)}; "
                "pass --include-unreliable to keep them"
            )
        analysis.effects += itt_effects(marts.encounters, items)
    else:
        analysis.notes.append("no SSO-coded encounters: communication effects not estimated")
    for outcome in ("force_reports", "complaints"):
        analysis.effects.append(force_effect(marts.officer_months, outcome=outcome))
    analysis.effects = add_fisher_p_values(analysis.effects, marts, items, settings)
    communication = [effect for effect in analysis.effects if effect.outcome in items]
    analysis.open_box = open_box(
        marts, communication, items, settings=settings, call_type_groups=_call_type_groups()
    )
    if rollout.supported(home, department_id, gate).get(rollout.ROLLOUT_EFFECTS, (False,))[0]:
        try:
            analysis.rollout_effects = rollout.waitlist_effects(
                home,
                department_id,
                analysis.effects,
                permutations=settings.n_permutations,
                seed=settings.seed,
            )
        except Exception as error:  # noqa: BLE001 - the trial's own estimates stand alone
            analysis.notes.append(f"staggered roll-out estimates not computed: {error}")
    return analysis


def power(
    home: Home | None,
    department: str | None = None,
    *,
    rate_ratio: float = 0.72,
    n_officers: int | None = None,
    n_months: int | None = None,
    n_simulations: int = 200,
    seed: int = 0,
    baseline_rate: float | None = None,
    dispersion: float | None = None,
    allow_ungated: bool = False,
):
    """(PowerResult, sample-size table) for a department's force outcome, from its own
    pre-period officer-months (a gated build) or, with `baseline_rate`, from parameters."""
    from analysis.power import force_baseline, force_power, given_baseline, sample_size_table

    if baseline_rate is not None:
        baseline = given_baseline(
            baseline_rate,
            dispersion=1.0 if dispersion is None else dispersion,
            n_officers=n_officers or 300,
            n_months=n_months or 12,
        )
    else:
        from analysis.marts import load_marts

        if home is None:
            raise PipelineError("no warehouse: give --baseline-rate or a --home with a build")
        identity, gate = gate_of_latest_build(home)
        if identity is None:
            raise PipelineError("no build: run `middlestep build` first (or give --baseline-rate)")
        if not (gate and gate.get("passed")) and not allow_ungated:
            raise PipelineError(
                f"the quality gate did not pass for build {identity.build_id}: run "
                "`middlestep check` (or pass --allow-ungated)"
            )
        department_id = department or _only_department(home)
        marts = load_marts(home.warehouse, department_id)
        try:
            baseline = force_baseline(marts.officer_months)
        except ValueError as error:
            raise PipelineError(f"no force baseline for {department_id}: {error}") from error
        if dispersion is not None:
            import dataclasses

            baseline = dataclasses.replace(baseline, dispersion=dispersion)
    result = force_power(
        baseline,
        rate_ratio=rate_ratio,
        n_officers=n_officers,
        n_months=n_months,
        n_simulations=n_simulations,
        seed=seed,
    )
    table = sample_size_table(baseline, n_officers=result.n_officers, n_months=result.n_months)
    return result, table


def _call_type_groups() -> dict[str, str]:
    """The seed mapping of call types to groups (seeds/call_type_groups.csv)."""
    import csv

    path = PROJECT_ROOT / "seeds" / "call_type_groups.csv"
    if not path.exists():
        return {}
    with open(path, newline="") as handle:
        return {row["call_type"]: row["call_type_group"] for row in csv.DictReader(handle)}


def _trial_not_yet_estimable(marts) -> str | None:
    """Why the trial's effects cannot be estimated yet, or None when they can.

    The difference-in-differences needs both arms observed before and after the immediate arm's
    training; a nightly run early in a trial has only the pre-period.
    """
    import pandas as pd

    trial_start = marts.study_dates.trial_start_on
    observed = marts.officer_months[marts.officer_months["calls_attended"] > 0]
    last_month = pd.to_datetime(observed["month_start"]).max() if len(observed) else None
    if last_month is None or pd.isna(last_month) or last_month < pd.Timestamp(trial_start):
        return (
            f"no calls observed since the trial started on {trial_start}: effects are estimated "
            "once the data reaches the post-training period"
        )
    return None


def _only_department(home: Home) -> str:
    with connect(home.warehouse, read_only=True) as connection:
        departments = [
            row[0]
            for row in connection.execute(
                "select distinct department_id from marts.dim_officers order by 1"
            ).fetchall()
        ]
    if len(departments) != 1:
        raise PipelineError(
            f"the warehouse holds departments {', '.join(departments) or '(none)'}: "
            "choose one with --department"
        )
    return departments[0]


def _confirmatory_items(items: dict[str, str]) -> dict[str, str]:
    """The officer-behaviour items: the communication outcomes training aims to change."""
    civilian_or_outcome = ("civilian_", "arrest", "force_used", "injury")
    return {name: kind for name, kind in items.items() if not name.startswith(civilian_or_outcome)}


# --------------------------------------------------------------------------------------------
# report


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
    analysis = analyze(
        home,
        department,
        allow_ungated=allow_ungated,
        include_unreliable=include_unreliable,
        settings=settings,
    )
    identity, gate = gate_of_latest_build(home)
    context = ReportContext(
        department_id=analysis.department_id,
        title=f"Training evaluation: {analysis.department_id}",
        effects=analysis.effects,
        balance=analysis.balance,
        gate=gate or {"passed": False, "failures": ["the gate never ran for this build"]},
        reliability=analysis.reliability,
        rejects=_rejects_summary(home),
        provenance=_provenance(home, identity),
        is_gated=analysis.is_gated,
        truth=_synthetic_truth(home),
        open_box=analysis.open_box,
        reliability_items=analysis.reliability_items,
        excluded_items=tuple(analysis.excluded_items),
        analysis_notes=tuple(analysis.notes),
        rollout=analysis.rollout,
        rollout_effects=tuple(analysis.rollout_effects),
    )
    with memo_directory(home.analysis_cache):  # the plots, redrawn only when they change
        paths = write_report(home.report_dir, context)
    _log_run(home, "report", build_id=analysis.build_id, path=str(paths.html))
    return paths


def _rejects_summary(home: Home):
    with connect(home.warehouse, read_only=True) as connection:
        return connection.execute(
            "select table_name, source_file, reason, count(*) as rows from raw._rejects "
            "group by all order by rows desc"
        ).df()


def _provenance(home: Home, identity: BuildIdentity | None) -> dict[str, Any]:
    with connect(home.warehouse, read_only=True) as connection:
        inputs = connection.execute(
            "select source_file, table_name, file_sha256, rows_read, rows_loaded, rows_rejected "
            "from raw._batches order by batch_id"
        ).df()
    truth = _synthetic_truth(home)
    return {
        "build_id": identity.build_id if identity else None,
        "plan_id": identity.plan_id if identity else None,
        "built_at": identity.built_at if identity else None,
        "models": identity.model_versions if identity else {},
        "inputs": inputs.to_dict(orient="records"),
        "code_version": _code_version(),
        "seed": truth.get("seed") if truth else None,
        "scenario": truth.get("scenario") if truth else None,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _synthetic_truth(home: Home) -> dict | None:
    """The planted truth of a synthetic export, if the warehouse was loaded from one."""
    marker = home.root / "synthetic_truth.json"
    return json.loads(marker.read_text()) if marker.exists() else None


def _code_version() -> str:
    try:
        commit = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return f"{__version__}+{commit}"
    except (OSError, subprocess.CalledProcessError):
        return __version__


# --------------------------------------------------------------------------------------------
# demo, nightly run, status


def demo(directory: Path, *, seed: int = 1, scale: float = 1.0):
    """Every step on a fresh synthetic department, in a fresh directory."""
    directory = Path(directory).resolve()
    export = directory / "export"
    home = Home.resolve(directory / "home")
    if home.warehouse.exists():
        raise PipelineError(f"{directory} already holds a demo warehouse: choose a new --dir")
    log.info("1/6 synthesising a department (seed %s, scale %s) into %s", seed, scale, export)
    synthesize(export, None, seed, scale)
    home.ensure()
    (home.root / "synthetic_truth.json").write_text((export / "truth.json").read_text())
    log.info("2/6 ingesting the export")
    ingest(home, export, "synthetic")
    log.info("3/6 building the models (SQLMesh plan, apply to prod)")
    build(home)
    log.info("4/6 running the quality gate")
    gate = check(home)
    if not gate.passed:
        raise PipelineError("the demo's gate failed:\n" + gate.text())
    log.info("5/6 estimating effects and 6/6 writing the report")
    return report(home)


def nightly_run(home: Home, drop: Path, department: str, *, wait_s: float = 0.0) -> RunOutcome:
    """The scheduled job: ingest a drop, run the models, gate, then analysis and report
    (middlestep/nightly.py); never raises, returns the exit code and one summary line."""
    from middlestep.nightly import run_nightly

    return run_nightly(home, drop, department, wait_s=wait_s)


def status(home: Home) -> str:
    """Last run, its drops, rows loaded and rejected, gate, data freshness, what to do next."""
    from middlestep.nightly import status_text

    return status_text(home)


def _log_run(home: Home, step: str, **details: Any) -> None:
    entry = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "step": step}
    entry.update(details)
    with open(home.ensure().run_log, "a") as handle:
        handle.write(json.dumps(entry, default=str) + "\n")
