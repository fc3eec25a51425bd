"""Reads of a built warehouse that the commands, the nightly job's status and the report need:
the departments in the marts, the input batches and rejects, the call-type groups seed, and the
freshness of the raw tables. Each opens the file read-only and closes it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from middlestep.errors import PipelineError
from middlestep.warehouse.home import Home, connect

# raw table -> the column that dates its records, for data freshness
EVENT_COLUMNS = {
    "officers": "appointed_on",
    "officer_units": "started_on",
    "trial_assignments": "assigned_on",
    "training_events": "attended_on",
    "calls": "received_at",
    "call_officers": "arrived_at",
    "bwc_videos": "started_at",
    "sso_codings": "coded_at",
    "force_reports": "occurred_at",
    "complaints": "received_at",
}


# batches whose file was loaded again (a changed mapping): not an input of the marts any more
SUPERSEDED = "select batch_id from raw._batches where superseded_by is not null"


def unknown_appointments(home: Home, department_id: str) -> tuple[int, int]:
    """(officers whose appointment date the export does not give, officers) of the marts."""
    with connect(home.warehouse, read_only=True) as connection:
        unknown, officers = connection.execute(
            "select count(*) filter (where appointed_on is null), count(*) "
            "from marts.dim_officers where department_id = ?",
            [department_id],
        ).fetchone()
    return int(unknown), int(officers)


def officers_with_force(home: Home, department_id: str) -> tuple[int, int]:
    """(officers named in at least one force report, officers) of the marts' roster."""
    with connect(home.warehouse, read_only=True) as connection:
        named, officers = connection.execute(
            "select count(*) filter (where exists (select 1 from marts.fct_force_reports f "
            "where f.department_id = o.department_id and f.officer_id = o.officer_id)), "
            "count(*) from marts.dim_officers as o where o.department_id = ?",
            [department_id],
        ).fetchone()
    return int(named), int(officers)


def only_department(home: Home) -> str:
    """The one department of the marts; a command must be told which one when there are more."""
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


def rejects_summary(home: Home) -> pd.DataFrame:
    """Rejected rows per table, file and reason."""
    return _frame(
        home,
        "select table_name, source_file, reason, count(*) as rows from raw._rejects "
        f"where batch_id not in ({SUPERSEDED}) group by all order by rows desc",
    )


def input_batches(home: Home) -> pd.DataFrame:
    """Every input file loaded: its table, sha256 and row counts, in load order."""
    return _frame(
        home,
        "select source_file, table_name, file_sha256, rows_read, rows_loaded, rows_rejected "
        "from raw._batches where superseded_by is null order by batch_id",
    )


def call_type_groups(home: Home) -> dict[str, str]:
    """Call type -> its group, from the warehouse's seed model ``seeds.call_type_groups``."""
    with connect(home.warehouse, read_only=True) as connection:
        rows = connection.execute(
            "select call_type, call_type_group from seeds.call_type_groups"
        ).fetchall()
    return dict(rows)


def arms_and_cohorts(home: Home, department_id: str) -> tuple[int, int]:
    """(trial arms, roll-out cohorts) of a department's officers in ``marts.dim_officers``."""
    with connect(home.warehouse, read_only=True) as connection:
        arms, cohorts = connection.execute(
            "select count(distinct arm), count(distinct cohort_month) from marts.dim_officers "
            "where department_id = ?",
            [department_id],
        ).fetchone()
    return arms, cohorts


def freshness(home: Home) -> list[dict[str, Any]]:
    """Per raw table: the rows of its current batches (a superseded load is history), the
    latest event date, how many files are loaded and when the last one was; and how many
    files failed (unreadable) or had every row rejected, which are not loaded."""
    if not home.warehouse.exists():
        return []
    rows = []
    with connect(home.warehouse, read_only=True) as connection:
        initialised = connection.execute(  # an ingest killed before it made the raw tables
            "select count(*) from information_schema.tables where table_catalog = "
            "current_database() and table_schema = 'raw' and table_name = '_batches'"
        ).fetchone()[0]
        for table, column in EVENT_COLUMNS.items() if initialised else ():
            latest_event, n_rows = connection.execute(
                f'select max("{column}"), count(*) from raw.{table} '
                f"where _batch_id not in ({SUPERSEDED})"
            ).fetchone()
            batches, last_loaded, attempts, failed = connection.execute(
                "select count(*) filter (where coalesce(status, 'loaded') = 'loaded'), "
                "max(loaded_at) filter (where coalesce(status, 'loaded') = 'loaded'), "
                "count(*), count(*) filter (where status in ('failed', 'rejected')) "
                "from raw._batches where table_name = ? and superseded_by is null",
                [table],
            ).fetchone()
            rows.append(
                {
                    "table": table,
                    "rows": n_rows,
                    "latest_event": latest_event,
                    "batches": batches,
                    "last_loaded_at": last_loaded,
                    "files_attempted": attempts,
                    "files_failed": failed,
                }
            )
    return rows


def _frame(home: Home, query: str) -> pd.DataFrame:
    with connect(home.warehouse, read_only=True) as connection:
        return connection.execute(query).df()
