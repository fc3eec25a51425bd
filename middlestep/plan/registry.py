"""Plan registrations in the warehouse (`meta.plan_registrations`) and the post-period outcome
data a registration had seen (read from the marts of the last build)."""

from __future__ import annotations

import datetime as dt
import json

import duckdb

from middlestep.plan.spec import (
    AnalysisPlan,
    PlanError,
    PlanStatus,
    Registration,
    load_plan,
    plan_path,
    plan_status,
)

PLAN_REGISTRATIONS_DDL = """
create table if not exists meta.plan_registrations (
    department_id text not null,
    trial_id text not null,
    plan_sha256 text not null,
    plan_json text not null,
    registered_at timestamptz not null,
    post_period_outcomes_seen bigint not null
)
"""

# Post-period outcome records of a trial: coded encounters after the immediate arm's training,
# and force reports and complaints of the trial's officers in months from then on.
_POST_PERIOD_OUTCOMES_SQL = """
with trial_start as (
    select min(cohort_on) as trial_start_on
    from marts.dim_officers
    where department_id = $department and trial_id = $trial and arm = 'treatment'
),
encounters as (
    select count(*) as n
    from marts.fct_encounters
    where department_id = $department and trial_id = $trial and is_post
),
officer_months as (
    select coalesce(sum(months.force_reports + months.complaints), 0) as n
    from marts.fct_officer_months as months
    cross join trial_start
    where months.department_id = $department
        and months.trial_id = $trial
        and months.month_start >= date_trunc('month', trial_start.trial_start_on)
)
select encounters.n + officer_months.n from encounters cross join officer_months
"""


def ensure_plan_table(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute("create schema if not exists meta")
    connection.execute(PLAN_REGISTRATIONS_DDL)


def post_period_outcomes_seen(
    connection: duckdb.DuckDBPyConnection, department_id: str, trial_id: str
) -> int:
    """Post-period outcome records in the marts now (0 before the trial's post-period data).

    Before the first build there are no marts: a warehouse that holds no outcome record yet has
    seen none; one with outcome records loaded but not built cannot say which period they are
    in, so it is refused (build first)."""
    if not _table_exists(connection, "marts", "fct_encounters"):
        loaded = sum(
            _raw_rows(connection, table, department_id)
            for table in ("sso_codings", "force_reports", "complaints")
        )
        if loaded:
            raise PlanError(
                f"{loaded} outcome records are loaded but not built: run `middlestep build` "
                "so that the registration can record which of them are post-period"
            )
        return 0
    row = connection.execute(
        _POST_PERIOD_OUTCOMES_SQL, {"department": department_id, "trial": trial_id}
    ).fetchone()
    return int(row[0] or 0)


def _table_exists(connection: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        connection.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def _raw_rows(connection: duckdb.DuckDBPyConnection, table: str, department_id: str) -> int:
    if not _table_exists(connection, "raw", table):
        return 0
    return connection.execute(
        f"select count(*) from raw.{table} where department_id = ?", [department_id]
    ).fetchone()[0]


def register_plan(
    connection: duckdb.DuckDBPyConnection, plan: AnalysisPlan, *, now: dt.datetime | None = None
) -> Registration:
    """Record the plan's hash and content with the post-period outcome data seen now."""
    ensure_plan_table(connection)
    registration = Registration(
        department_id=plan.department_id,
        trial_id=plan.trial_id,
        sha256=plan.sha256,
        content=plan.content,
        registered_at=(now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        post_period_outcomes_seen=post_period_outcomes_seen(
            connection, plan.department_id, plan.trial_id
        ),
    )
    connection.execute(
        "insert into meta.plan_registrations values (?, ?, ?, ?, ?, ?)",
        [
            registration.department_id,
            registration.trial_id,
            registration.sha256,
            json.dumps(registration.content, sort_keys=True),
            registration.registered_at,
            registration.post_period_outcomes_seen,
        ],
    )
    return registration


def registrations(connection: duckdb.DuckDBPyConnection, department_id: str) -> list[Registration]:
    """Every registration of the department's plans, oldest first (none: an empty list)."""
    if not _table_exists(connection, "meta", "plan_registrations"):
        return []
    rows = connection.execute(
        "select department_id, trial_id, plan_sha256, plan_json, "
        "strftime(registered_at at time zone 'UTC', '%Y-%m-%dT%H:%M:%S+00:00'), "
        "post_period_outcomes_seen from meta.plan_registrations "
        "where department_id = ? order by registered_at",
        [department_id],
    ).fetchall()
    return [
        Registration(row[0], row[1], row[2], json.loads(row[3]), row[4], int(row[5]))
        for row in rows
    ]


def status_of(connection: duckdb.DuckDBPyConnection, department_id: str) -> PlanStatus | None:
    """The department's plan (`plans/<department>.yaml`) against its registrations, or None
    when the department has no plan file (a roll-out or descriptive department)."""
    path = plan_path(department_id)
    if not path.exists():
        return None
    plan = load_plan(path)
    try:
        seen = post_period_outcomes_seen(connection, plan.department_id, plan.trial_id)
    except PlanError:  # outcomes loaded, not built: the plan is shown, the count is unknown
        seen = 0
    return plan_status(plan, registrations(connection, department_id), outcomes_seen_now=seen)
