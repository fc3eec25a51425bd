"""Build the SQLMesh project into a warehouse: ``build`` (plan and apply) and ``run`` (nightly).

Both plan ``prod`` when the models changed (on a fresh warehouse: every model, all of the
history), and then bring it up to date with the raw batches loaded since the last build. SQLMesh
cannot see that raw tables grew (they are external models), so the raw tables with batches
newer than those recorded in ``meta.model_inputs`` are restated, which recomputes every model
downstream of them; the incremental models (by calendar month) only from the earliest month the
new batches touch: the new rows' months and those of the earlier versions they correct.
``run`` then lets SQLMesh's scheduler fill the intervals that fell due. Both always close
SQLMesh's DuckDB connection, since one process at a time may write the warehouse file, and keep
SQLMesh's console quiet: its errors are raised as :class:`BuildError`, its warnings (failed
non-blocking audits) are logged.

Incremental models cover months up to the execution time. So that a study window reaching past
today (a synthetic department) is not cut short, the execution time is the later of now and
the first day after the last study month of any department.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from middlestep import build_state
from middlestep.contract import RAW_TABLES
from middlestep.errors import PipelineError
from middlestep.sqlmesh_errors import quiet_console, summarize
from middlestep.warehouse.home import MEMORY_LIMIT_ENV, TEMP_DIRECTORY_ENV, duckdb_settings

logger = logging.getLogger(__name__)

WAREHOUSE_ENV = "MIDDLESTEP_WAREHOUSE"
ENVIRONMENT = "prod"
INPUTS_TABLE = "meta.model_inputs"

# raw tables whose rows the incremental models place in a calendar month: table -> (the raw table
# that dates a row, its time column, the key columns shared by both besides department_id)
EVENT_TIMES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "calls": ("calls", "received_at", ("call_id",)),
    "call_officers": ("calls", "received_at", ("call_id",)),  # an officer's row: its call's time
    "force_reports": ("force_reports", "occurred_at", RAW_TABLES["force_reports"].key),
}


@dataclass(frozen=True)
class ModelVersion:
    name: str
    fingerprint: str  # the snapshot's identifier: changes with the model or any upstream change
    version: str  # the physical table's version (shared by non-breaking changes)
    kind: str


@dataclass(frozen=True)
class BuildRecord:
    plan_id: str
    environment: str
    built_at: str  # UTC, ISO 8601
    execution_time: str
    models: tuple[ModelVersion, ...]
    restated_tables: tuple[str, ...] = ()
    restated_from: str | None = None
    batches: dict[str, int] = field(default_factory=dict)  # raw table -> max batch id built

    @property
    def model_versions(self) -> dict[str, str]:
        """Model name -> fingerprint of every model in the environment."""
        return {model.name: model.fingerprint for model in self.models}


def build(warehouse: Path, project_root: Path) -> BuildRecord:
    """Plan ``prod`` and apply it, then restate what raw batches loaded since the last build change.

    New and changed models are built and missing intervals filled (all of the history on a fresh
    warehouse); models that did not change but read raw tables with new batches are restated.
    """
    with _context(warehouse, project_root) as context:
        return _update(context, run_scheduler=False)


def run(warehouse: Path, project_root: Path) -> BuildRecord:
    """The nightly step: what :func:`build` does, then SQLMesh's run of the intervals that fell due.

    On a warehouse whose models are up to date this only restates what the new batches change;
    with no new batch, no model change and no new month it does not open SQLMesh at all
    (middlestep/build_state.py) and returns the last build's record.
    """
    remembered = build_state.recalled(warehouse, project_root, _execution_time)
    if remembered is not None:
        return _record_from_dict(remembered)
    with _context(warehouse, project_root) as context:
        return _update(context, run_scheduler=True)


def _update(context, *, run_scheduler: bool) -> BuildRecord:
    execution_time = latest_execution_time(context)
    built = _built_inputs(context)
    plan_id = ""
    if _models_changed(context):
        plan = context.plan(
            ENVIRONMENT,
            auto_apply=True,
            no_prompts=True,
            execution_time=execution_time,
            # the nightly run applies models that were tested when planned (`middlestep build`,
            # `sqlmesh test` in CI); their unit tests are not the night's work
            skip_tests=run_scheduler,
        )
        plan_id = plan.plan_id
    # without a record of earlier inputs (a fresh warehouse) the plan just built from all of them
    changed = _changed_tables(context, built) if built else []
    restated_from = _earliest_affected_month(context, changed, built) if changed else None
    if restated_from is None and set(changed) <= set(EVENT_TIMES):
        # only rows no month holds (officers of calls not delivered yet): nothing to recompute;
        # the batch that delivers their calls restates that month
        changed = []
    if changed:
        plan = context.plan(
            ENVIRONMENT,
            restate_models=[f"raw.{table}" for table in changed],
            start=restated_from,
            auto_apply=True,
            no_prompts=True,
            execution_time=execution_time,
            skip_tests=True,  # the models did not change: their unit tests ran when planned
        )
        plan_id = plan.plan_id
    if run_scheduler:
        context.run(ENVIRONMENT, execution_time=execution_time)
    versions, batches = _record_inputs(context)
    record = _record(
        context,
        plan_id or _environment_plan_id(context),
        execution_time,
        batches,
        restated_tables=tuple(changed),
        restated_from=restated_from.isoformat() if restated_from else None,
    )
    project = build_state.project_fingerprint(Path(context.path))
    key = build_state.state_key(versions, project, execution_time)
    build_state.remember(context.engine_adapter.execute, key, dataclasses.asdict(record))
    return record


def _record_from_dict(values: dict) -> BuildRecord:
    """A remembered build's record (build_state.remember), as built now."""
    models = tuple(ModelVersion(**model) for model in values["models"])
    built_at = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat()
    unchanged = {"restated_tables": (), "restated_from": None}  # nothing new: nothing restated
    return BuildRecord(**{**values, "models": models, "built_at": built_at, **unchanged})


# --------------------------------------------------------------------------------------------


class BuildError(PipelineError):
    """SQLMesh could not build the models: the message is a summary (middlestep/sqlmesh_errors.py:
    the model and rule of a lint error, the audit, model, failing rows of a failed audit);
    ``details`` holds SQLMesh's own text (the rendered SQL), which the CLI prints with -v."""

    def __init__(self, message: str, details: list[str]):
        super().__init__(message)
        self.details = details


@contextlib.contextmanager
def _context(warehouse: Path, project_root: Path) -> Iterator:
    from sqlmesh import Context
    from sqlmesh.core.console import get_console, set_console
    from sqlmesh.utils.errors import SQLMeshError

    settings = sqlmesh_environment(warehouse)
    previous_env = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    previous_console = get_console()
    console = quiet_console()
    set_console(console)
    with warnings.catch_warnings():
        # SQLMesh's seed loader and macro evaluator warn about their own pandas and Python use
        for category in (FutureWarning, UserWarning, SyntaxWarning):
            warnings.simplefilter("ignore", category=category)
        context = None
        try:
            context = Context(paths=str(project_root))
            yield context
        except SQLMeshError as error:
            adapter = context.engine_adapter if context is not None else None
            failure = summarize(error, console, adapter)
            first, *more = failure.summary
            message = "\n".join([f"SQLMesh failed: {first}", *(f"  {line}" for line in more)])
            raise BuildError(message, failure.details) from error
        finally:
            if context is not None:
                context.close()
            set_console(previous_console)
            for warning in console.warnings:
                logger.warning("sqlmesh: %s", warning)
            for name, value in previous_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def sqlmesh_environment(warehouse: Path) -> dict[str, str]:
    """The variables sqlmesh.yaml reads: the warehouse file and the DuckDB settings of every
    middlestep connection to it (the same ones, or DuckDB refuses a second connection)."""
    settings = duckdb_settings(warehouse)
    return {
        WAREHOUSE_ENV: str(Path(warehouse).resolve()),
        MEMORY_LIMIT_ENV: settings["memory_limit"],
        TEMP_DIRECTORY_ENV: settings["temp_directory"],
    }


def latest_execution_time(context) -> dt.datetime:
    return _execution_time(context.engine_adapter.fetchall)


def _execution_time(fetchall) -> dt.datetime:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    rows = fetchall("select max(study_end_on) from raw.departments")
    study_end = rows[0][0] if rows else None
    if study_end is None:
        return now
    # the first day of the month after the last study month: every study month is complete
    after = dt.date(study_end.year + study_end.month // 12, study_end.month % 12 + 1, 1)
    return max(now, dt.datetime.combine(after, dt.time()))


def _input_versions(context) -> dict[str, str]:
    return build_state.input_versions(context.engine_adapter.fetchall)


def _built_inputs(context) -> dict[str, str]:
    """The input versions the last build recorded (empty before the first build)."""
    exists = context.engine_adapter.fetchall(
        "select count(*) from information_schema.tables "
        "where table_schema = 'meta' and table_name = 'model_inputs'"
    )[0][0]
    if not exists:
        return {}
    rows = context.engine_adapter.fetchall(f"select table_name, input_version from {INPUTS_TABLE}")
    return dict(rows)


def _record_inputs(context) -> tuple[dict[str, str], dict[str, int]]:
    """Record the input versions built; (those versions, raw table -> its latest batch)."""
    versions = _input_versions(context)
    adapter = context.engine_adapter
    adapter.execute("create schema if not exists meta")
    adapter.execute(
        f"create table if not exists {INPUTS_TABLE} "
        "(table_name text, input_version text, recorded_at timestamp)"
    )
    adapter.execute(f"delete from {INPUTS_TABLE}")
    recorded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    for name, version in versions.items():
        adapter.execute(
            f"insert into {INPUTS_TABLE} values ('{name}', '{version}', '{recorded_at}')"
        )
    batches = {name: int(version) for name, version in versions.items() if name in RAW_TABLES}
    return versions, batches


def _changed_tables(context, built: dict[str, str]) -> list[str]:
    current = _input_versions(context)
    return sorted(name for name, version in current.items() if built.get(name) != version)


def _built_batch(built: dict[str, str], name: str) -> int:
    return int(built[name]) if name in built else 0


def _earliest_affected_month(context, changed: list[str], built: dict[str, str]) -> dt.date | None:
    """The first month an incremental model must recompute.

    That is the earliest month of the new rows and of the earlier versions they correct: of
    every version of the records (for call officers: of their calls) the new batches touch.
    Months are the department's local calendar months (the models' intervals): a record at
    23:30 local on 31 January is January's, though its UTC time is in February.
    """
    months = []
    for name in changed:
        if name not in EVENT_TIMES:
            continue
        dated_by, time_column, keys = EVENT_TIMES[name]
        key_columns = ("department_id", *keys)
        touched = ", ".join(key_columns)
        same_key = " and ".join(f"n.{c} is not distinct from t.{c}" for c in key_columns)
        # the local date as macros/common.py local_date writes it (UTC where no zone is known)
        local_date = (
            f"cast(t.{time_column} at time zone 'UTC' "
            "at time zone coalesce(departments.timezone, 'UTC') as date)"
        )
        rows = context.engine_adapter.fetchall(
            f"select min({local_date}) from raw.{dated_by} as t inner join "
            f"(select distinct {touched} from raw.{name} "
            f"where _batch_id > {_built_batch(built, name)} or _batch_id in (select batch_id "
            f"from raw._batches where superseded_by > {_built_batch(built, name)})) "
            f"as n on {same_key} "
            "left join raw.departments as departments "
            "on departments.department_id = t.department_id"
        )
        if rows and rows[0][0] is not None:
            months.append(dt.date(rows[0][0].year, rows[0][0].month, 1))
    return min(months) if months else None


def _models_changed(context) -> bool:
    environment = context.state_reader.get_environment(ENVIRONMENT)
    if environment is None:
        return True
    if not environment.finalized_ts:
        # a plan killed after it recorded the environment but before it finished (its views
        # not updated): plan again, so that SQLMesh completes it
        logger.warning("the last SQLMesh plan of %s did not finish: planning again", ENVIRONMENT)
        return True
    deployed = {snapshot.name: snapshot.fingerprint for snapshot in environment.snapshots}
    local = {snapshot.name: snapshot.fingerprint for snapshot in context.snapshots.values()}
    return deployed != local


def _environment_plan_id(context) -> str:
    environment = context.state_reader.get_environment(ENVIRONMENT)
    return environment.plan_id if environment else ""


def _record(context, plan_id, execution_time, batches, **extra) -> BuildRecord:
    environment = context.state_reader.get_environment(ENVIRONMENT)
    snapshots = context.state_reader.get_snapshots(environment.snapshots) if environment else {}
    models = tuple(
        sorted(
            (
                ModelVersion(
                    name=snapshot.model.name,
                    fingerprint=snapshot.identifier,
                    version=snapshot.version,
                    kind=snapshot.model_kind_name.name if snapshot.model_kind_name else "",
                )
                for snapshot in snapshots.values()
                if not snapshot.is_external
            ),
            key=lambda model: model.name,
        )
    )
    return BuildRecord(
        plan_id=plan_id,
        environment=ENVIRONMENT,
        built_at=dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(),
        execution_time=execution_time.isoformat(),
        models=models,
        batches=batches,
        **extra,
    )
