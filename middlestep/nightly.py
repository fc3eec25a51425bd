"""The nightly job (`middlestep run`) and what `middlestep status` says about it.

``run_nightly`` holds the warehouse's writer lock for the whole job, so a second run waits or
refuses (exit code 75), and then: ingests the drop's new files (files already loaded are skipped
by their sha256), lets SQLMesh recompute only what the new batches change (middlestep/build.py
restates the months they touch), runs the quality gate, and writes the analysis and report only
if the gate passed. It ends with ONE line a scheduler can act on, and an entry in the run log.

A run killed at any point can simply be run again: each file's ingest is one transaction, the
build restates from what the last *completed* build recorded, and a SQLMesh plan left
half-applied is re-planned (``_build_recovering``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from middlestep import commands
from middlestep.errors import PipelineError
from middlestep.snapshot import gate_of_latest_build
from middlestep.warehouse import Home, WarehouseBusy, is_lock_error, writer_lock
from middlestep.warehouse.builds import latest_build
from middlestep.warehouse.readers import freshness
from middlestep.warehouse.runlog import local_time, log_run, read_run_log

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_BUSY = 0, 1, 75  # 75 = EX_TEMPFAIL: try again later

NEXT_STEP = {
    "ingest": "fix the drop or departments/NAME.yaml and run again (loaded files are skipped)",
    "build": "see `middlestep -v build`; fix the model and run again (the drop is loaded)",
    "gate": "`middlestep check` lists what failed; a corrected file in the next drop fixes data",
    "report": (
        "`middlestep -v analyze` repeats the analysis read-only and shows the error (the build "
        "passed its gate and is kept; the data is not at fault: report it as a bug)"
    ),
    "lock": "the warehouse is busy: run again later (or pass --wait SECONDS)",
}


@dataclass(frozen=True)
class RunOutcome:
    exit_code: int
    line: str
    details: dict[str, Any] | None = None

    def summary_line(self) -> str:
        return self.line


def run_nightly(home: Home, drop: Path, department: str, *, wait_s: float = 0.0) -> RunOutcome:
    """Ingest a drop, run the models, gate, then analysis and report: one summary line."""
    drop = Path(drop)
    name = drop.resolve().name
    started = time.monotonic()
    facts: dict[str, Any] = {"drop": str(drop), "department": department}
    step_seconds: dict[str, float] = {}
    facts["step_seconds"] = step_seconds
    stage, stage_started = "lock", time.monotonic()

    def enter(next_stage: str) -> str:
        nonlocal stage_started
        now = time.monotonic()
        step_seconds[stage] = round(now - stage_started, 1)
        stage_started = now
        return next_stage

    try:
        with writer_lock(home, wait_s):
            # a run killed before its summary leaves this line last: `status` says so
            log_run(home, "run_started", drop=str(drop), department=department)
            stage = enter("ingest")
            log.info("run: ingest %s", drop)
            summary = commands.ingest(home, drop, department)
            loaded_files = [f for f in summary.files if f.status == "loaded"]
            facts.update(
                loaded=summary.rows_loaded,
                rejected=summary.rows_rejected,
                files_loaded=len(loaded_files),
                files_skipped=sum(1 for f in summary.files if f.status == "already_loaded"),
                files_failed=summary.files_failed,
                warnings=summary.warnings,
            )
            stage = enter("build")
            log.info("run: build (SQLMesh: only the intervals the new batches change)")
            identity = _build_recovering(home)
            facts["build_id"] = identity.build_id
            current = _already_reported(home, identity.build_id)
            if current is not None:  # nothing new since a run that was gated and reported
                log.info("run: build %s was gated and reported before", identity.build_id)
                facts.update(gate_passed=True, report=current, up_to_date=True)
                enter("done")
                return _finish(home, name, facts, started, EXIT_OK, None, None)
            stage = enter("gate")
            log.info("run: gate")
            gate = commands.check(home)
            facts["gate_passed"] = gate.passed
            if not gate.passed:
                reason = f"{gate.n_failed} gate checks failed on build {identity.build_id}"
                facts["failures"] = gate.failures().splitlines()[:10]
                return _finish(home, name, facts, started, EXIT_FAILED, stage, reason)
            stage = enter("report")
            log.info("run: analysis and report")
            paths = commands.report(home, summary.department_id)
            facts["report"] = str(paths.html)
            facts["not_estimated"] = _not_estimated(paths.json)
            enter("done")
    except WarehouseBusy as busy:
        return _finish(home, name, facts, started, EXIT_BUSY, "lock", str(busy), log_it=False)
    except Exception as error:  # the scheduler gets one line; the log gets the traceback
        if is_lock_error(error):  # a program other than middlestep has the file open
            reason = f"the warehouse {home.warehouse} is open in another program"
            return _finish(home, name, facts, started, EXIT_BUSY, "lock", reason, log_it=False)
        if isinstance(error, PipelineError):  # a fault of the drop, mapping or data: said
            log.error("run: %s failed: %s", stage, error)
        else:  # a bug: the log gets the traceback
            log.exception("run: %s failed", stage)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        return _finish(home, name, facts, started, EXIT_FAILED, stage, reason)
    return _finish(home, name, facts, started, EXIT_OK, None, None)


def _not_estimated(results_json: Path) -> list[str]:
    """The analyses a report left out as the data cannot support them (results.json)."""
    import json

    try:
        rows = json.loads(Path(results_json).read_text()).get("not_estimated") or []
    except (OSError, ValueError):
        return []
    return [str(row.get("analysis")) for row in rows]


def _build_recovering(home: Home):
    """The incremental build; if SQLMesh fails on state a killed run left half-applied, plan
    again from SQLMesh's state (a plan fills what is missing and restates what changed)."""
    from middlestep.build import BuildError

    incremental = latest_build(home) is not None
    try:
        return commands.build(home, incremental=incremental)
    except BuildError as error:
        log.warning("run: the build failed (%s); planning again", str(error).splitlines()[0])
        return commands.build(home, incremental=False)


def _already_reported(home: Home, build_id: str) -> str | None:
    """The report of ``build_id`` if its gate passed and its report was written, else None."""
    _, gate = gate_of_latest_build(home)
    if not gate or not gate.get("passed") or gate.get("build_id") != build_id:
        return None
    reports = [entry for entry in read_run_log(home) if entry.get("step") == "report"]
    if not reports or reports[-1].get("build_id") != build_id:
        return None  # no report yet, or the report files are another build's
    written = home.report_dir / Path(reports[-1].get("path", "index.html")).name
    return str(written) if written.exists() and report_build(home) == build_id else None


def _finish(
    home: Home,
    name: str,
    facts: dict[str, Any],
    started: float,
    exit_code: int,
    stage: str | None,
    reason: str | None,
    *,
    log_it: bool = True,
) -> RunOutcome:
    seconds = round(time.monotonic() - started, 1)
    counts = f"loaded {facts.get('loaded', 0)} rejected {facts.get('rejected', 0)}"
    failed = f", {facts['files_failed']} failed" if facts.get("files_failed") else ""
    files = (
        f" ({facts['files_loaded']} files loaded, {facts['files_skipped']} already loaded{failed})"
        if "files_loaded" in facts
        else ""
    )
    if exit_code == EXIT_OK:
        outcome = "OK"
        unchanged = " (nothing new: already gated and reported)" if facts.get("up_to_date") else ""
        left_out = (
            f" ({len(facts['not_estimated'])} analyses not estimated from this data: see its "
            "'Not estimated' section)"
            if facts.get("not_estimated")
            else ""
        )
        line = (
            f"middlestep run: OK {name}: {counts}{files}; build {facts['build_id']}{unchanged}; "
            f"gate passed; report {facts['report']}{left_out} ({seconds:g} s)"
        )
    else:
        outcome = "BUSY" if exit_code == EXIT_BUSY else "FAILED"
        done = f" after {counts}{files}" if "loaded" in facts else ""
        line = (
            f"middlestep run: {outcome} {name} at {stage}{done}: {reason}; "
            f"next: {NEXT_STEP[stage or 'ingest']}"
        )
    facts.update(
        outcome=outcome,
        exit_code=exit_code,
        failed_at=stage,
        reason=reason,
        next=NEXT_STEP.get(stage or "") if exit_code else None,
        seconds=seconds,
    )
    if log_it:  # a refused run did not touch the warehouse: it is not the "last run"
        log_run(home, "run", **facts)
    return RunOutcome(exit_code, line, facts)


# --------------------------------------------------------------------------------------------
# status


def status_text(home: Home) -> str:
    lines = [f"home: {home.root}"]
    entries = read_run_log(home)
    if not entries and not home.warehouse.exists():
        return "\n".join(lines + ["nothing has run here yet: try `middlestep demo`"])
    runs = [entry for entry in entries if entry.get("step") == "run"]
    unfinished = _unfinished_run(entries)
    if unfinished:
        lines.append(
            f"last run: {local_time(unfinished['at'])} "
            f"{Path(unfinished.get('drop', '?')).name} ({unfinished.get('department')}): "
            "did NOT finish (killed or crashed); the warehouse keeps what completed"
        )
    if runs:
        last = runs[-1]
        if unfinished:
            lines.append("the last run that finished:")
        lines.append(
            f"last run: {local_time(last['at'])} {Path(last.get('drop', '?')).name} "
            f"({last.get('department')}): {last.get('outcome')} in {last.get('seconds')} s"
        )
        if "loaded" in last:
            lines.append(
                f"  rows loaded {last['loaded']}, rejected {last['rejected']}; files loaded "
                f"{last.get('files_loaded')}, already loaded {last.get('files_skipped')}"
                + (f", FAILED {last['files_failed']}" if last.get("files_failed") else "")
            )
        gate = {True: "passed", False: "FAILED", None: "not run"}[last.get("gate_passed")]
        lines.append(f"  build {last.get('build_id', '-')}; gate {gate}")
        if last.get("report"):
            lines.append(f"  report {last['report']}" + _report_state(home, last))
        if last.get("outcome") != "OK":
            lines.append(f"  failed at {last.get('failed_at')}: {last.get('reason')}")
        lines += [f"  warning: {warning}" for warning in last.get("warnings") or []]
        lines.append("drops run: " + ", ".join(_run_label(entry) for entry in runs[-10:]))
    else:
        lines.append(
            "no nightly run has finished yet"
            if unfinished
            else "no nightly run yet (`middlestep run --drop DIR --department NAME`)"
        )
        for entry in entries[-5:]:
            details = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("step", "at"))
            lines.append(f"{local_time(entry['at'])}  {entry['step']:<7} {details}")
    fresh = freshness(home)
    if fresh:
        lines.append("data freshness (latest event; last loaded):")
        for row in fresh:
            if not row["files_attempted"]:
                continue
            failed = (
                f"; {row['files_failed']} FAILED or every row rejected, not loaded"
                if row["files_failed"]
                else ""
            )
            lines.append(
                f"  {row['table']:<18} {local_time(row['latest_event']):<20}  "
                f"loaded {local_time(row['last_loaded_at'])}  ({row['rows']} rows, "
                f"{row['batches']} files{failed})"
            )
    identity, gate = gate_of_latest_build(home)
    next_step = _next_step(home, runs[-1] if runs else None, identity, gate, unfinished)
    lines.append("next: " + next_step)
    return "\n".join(lines)


def _unfinished_run(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The start of the last run if no summary followed it. `status` runs only when no writer
    holds the warehouse, so such a run is not running: it was killed or crashed."""
    for entry in reversed(entries):
        if entry.get("step") == "run":
            return None
        if entry.get("step") == "run_started":
            return entry
    return None


def status_document(home: Home) -> dict[str, Any]:
    """`status --json`: what `status_text` says, as fields."""
    entries = read_run_log(home)
    runs = [entry for entry in entries if entry.get("step") == "run"]
    identity, gate = gate_of_latest_build(home) if home.warehouse.exists() else (None, None)
    unfinished = _unfinished_run(entries)
    next_step = _next_step(home, runs[-1] if runs else None, identity, gate, unfinished)
    return {
        "home": str(home.root),
        "last_run": runs[-1] if runs else None,
        "drops_run": [
            {"drop": Path(e.get("drop", "?")).name, "outcome": e.get("outcome")} for e in runs
        ],
        "unfinished_run": unfinished,
        "last_steps": entries[-5:],
        "build_id": identity.build_id if identity else None,
        "gate_passed": gate.get("passed") if gate else None,
        "freshness": freshness(home) if home.warehouse.exists() else [],
        "next": next_step if entries or home.warehouse.exists() else "try `middlestep demo`",
    }


def _run_label(entry: dict[str, Any]) -> str:
    return f"{Path(entry.get('drop', '?')).name} {entry.get('outcome')}"


def _report_state(home: Home, last_run: dict[str, Any]) -> str:
    """What is true of the last run's report now: on disk, and of which build."""
    build_id = report_build(home)
    if build_id is None:
        return " (missing on disk)"
    if build_id != last_run.get("build_id"):
        return f" (now holds the report of build {build_id})"
    return ""


def report_build(home: Home) -> str | None:
    """The build the report on disk was made from (its results.json), None when there is no
    complete report (index.html and results.json) under the home."""
    import json

    html, results = home.report_dir / "index.html", home.report_dir / "results.json"
    if not (html.exists() and results.exists()):
        return None
    try:
        document = json.loads(results.read_text())
    except (OSError, ValueError):
        return None
    return (document.get("provenance") or {}).get("build_id")


def _next_step(home: Home, last_run: dict[str, Any] | None, identity, gate, unfinished=None) -> str:
    if unfinished is not None:
        return (
            f"run `middlestep run --drop {unfinished.get('drop')} --department "
            f"{unfinished.get('department')}` again: the last run did not finish"
        )
    if last_run is not None and last_run.get("outcome") == "FAILED":
        return str(last_run.get("next"))
    if identity is None:
        return "run `middlestep build`"
    if gate is None:
        return f"build {identity.build_id} is not gated; run `middlestep check`"
    if not gate.get("passed"):
        return "the gate failed; `middlestep check` says what to fix"
    reported = report_build(home)
    if reported is None:
        return (
            f"the gate passed for build {identity.build_id} but no report is on disk: run "
            "`middlestep report`"
        )
    if reported != identity.build_id:
        return (
            f"the gate passed for build {identity.build_id} but the report on disk is of build "
            f"{reported}: run `middlestep report`"
        )
    return f"nothing: the gate passed for build {identity.build_id} and the report is current"
