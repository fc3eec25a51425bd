"""Months and dates come from the department's local calendar, not from the UTC timestamps.

A department in Chicago (UTC-6 in winter, UTC-5 from 10 March 2024) has events at 23:30 local on
the last day of a month (already the next month in UTC) and at 00:30 local on the first day, one
pair of each across the switch to daylight saving time. Built in full, and month by month with
SQLMesh's incremental runs and a restated month, every event lands in its local month, the
builds agree row for row, and a late correction restates from the local month it touches.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
from test_models_build import create_raw_tables, insert, items

from middlestep.build import ENVIRONMENT, build, run, sqlmesh_environment
from middlestep.fingerprint import differences, table_fingerprints

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEPARTMENT = {"department_id": "c"}


def utc(local: str, offset_hours: int) -> str:
    """The UTC text of a Chicago wall-clock time whose UTC offset is `offset_hours`."""
    moment = dt.datetime.fromisoformat(local) - dt.timedelta(hours=offset_hours)
    return moment.isoformat(sep=" ")


# (name, UTC time): 23:30 on the last day and 00:30 on the first, in standard and in summer time
EDGES = {
    "jan_last": utc("2024-01-31 23:30", -6),  # 2024-02-01 05:30 UTC
    "feb_first": utc("2024-02-01 00:30", -6),
    "mar_last": utc("2024-03-31 23:30", -5),  # 2024-04-01 04:30 UTC
    "apr_first": utc("2024-04-01 00:30", -5),  # a fixed UTC-6 would say 31 March, 23:30
}


def load_chicago(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute(
        "insert into raw.departments values "
        "('c', 'Chicago-like', 'America/Chicago', '2024-01-01', '2024-06-30')"
    )
    insert(
        connection,
        "officers",
        1,
        [
            {**DEPARTMENT, "officer_id": "o1", "appointed_on": "2020-01-01"},
            # served through January only: a report at 23:30 on 31 January is in a served month
            {
                **DEPARTMENT,
                "officer_id": "o2",
                "appointed_on": "2020-01-01",
                "separated_on": "2024-01-31",
            },
        ],
    )
    officer_of = {"jan_last": "o2", "feb_first": "o1", "mar_last": "o1", "apr_first": "o1"}
    insert(
        connection,
        "force_reports",
        1,
        [
            {
                **DEPARTMENT,
                "report_id": f"r_{name}",
                "officer_id": officer_of[name],
                "occurred_at": at,
                "force_type": "takedown",
                "force_level": 1,
            }
            for name, at in EDGES.items()
        ],
    )
    insert(
        connection,
        "calls",
        1,
        [
            {
                **DEPARTMENT,
                "call_id": f"c_{name}",
                "received_at": at,
                "arrived_at": at,
                "cleared_at": (dt.datetime.fromisoformat(at) + dt.timedelta(minutes=30)).isoformat(
                    sep=" "
                ),
            }
            for name, at in EDGES.items()
        ],
    )
    insert(
        connection,
        "call_officers",
        1,
        [
            {**DEPARTMENT, "call_id": f"c_{name}", "officer_id": officer}
            for name, officer in officer_of.items()
        ],
    )
    insert(
        connection,
        "complaints",
        1,
        [
            {
                **DEPARTMENT,
                "complaint_id": "k_feb_last",
                "officer_id": "o1",
                "occurred_at": utc("2024-02-29 23:30", -6),
            }
        ],
    )
    insert(
        connection,
        "bwc_videos",
        1,
        [
            {
                **DEPARTMENT,
                "video_id": "v_may_last",
                "officer_id": "o1",
                "started_at": utc("2024-05-31 23:30", -5),
            }
        ],
    )
    insert(
        connection,
        "sso_codings",
        1,
        [
            {
                **DEPARTMENT,
                "coding_id": "s1",
                "video_id": "v_may_last",
                "coder_id": "A",
                "coded_at": "2024-07-01 10:00",
                **items(),
            }
        ],
    )


def new_warehouse(directory: Path) -> Path:
    path = directory / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        create_raw_tables(connection)
        load_chicago(connection)
    return path


@contextmanager
def sqlmesh_context(warehouse: Path):
    from sqlmesh import Context

    saved = dict(os.environ)
    os.environ.update(sqlmesh_environment(warehouse))
    context = Context(paths=str(PROJECT_ROOT))
    try:
        yield context
    finally:
        context.close()
        os.environ.clear()
        os.environ.update(saved)


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql).fetchall()


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> Path:
    warehouse = new_warehouse(tmp_path_factory.mktemp("full"))
    build(warehouse, PROJECT_ROOT)
    return warehouse


@pytest.fixture(scope="module")
def month_by_month(tmp_path_factory) -> Path:
    """The same raw tables built by SQLMesh one month at a time, then February restated."""
    warehouse = new_warehouse(tmp_path_factory.mktemp("monthly"))
    with sqlmesh_context(warehouse) as context:
        context.plan(
            ENVIRONMENT,
            auto_apply=True,
            no_prompts=True,
            skip_tests=True,
            execution_time=dt.datetime(2024, 2, 1),  # January is the last whole month
        )
        for month in (3, 4, 5):  # February, March, April: each month's edges on their own
            context.run(ENVIRONMENT, execution_time=dt.datetime(2024, month, 1))
        context.plan(
            ENVIRONMENT,
            restate_models=["raw.calls", "raw.call_officers", "raw.force_reports"],
            start="2024-02-01",
            end="2024-02-29",
            auto_apply=True,
            no_prompts=True,
            skip_tests=True,
            execution_time=dt.datetime(2024, 5, 1),
        )
        context.run(ENVIRONMENT, execution_time=dt.datetime.now())
    return warehouse


def officer_months(warehouse: Path, officer_id: str) -> dict[str, tuple]:
    rows = query(
        warehouse,
        "select strftime(month_start, '%Y-%m'), calls_attended, force_reports, complaints, "
        "coded_encounters, is_active from marts.fct_officer_months "
        f"where department_id = 'c' and officer_id = '{officer_id}' order by month_start",
    )
    return {month: values for month, *values in ((r[0], *r[1:]) for r in rows)}


def test_events_at_the_edges_of_a_month_land_in_their_local_month(full):
    force = query(
        full,
        "select report_id, occurred_at, occurred_on, month_start from marts.fct_force_reports "
        "where department_id = 'c' order by occurred_at",
    )
    assert [(r[0], str(r[1]), str(r[2]), str(r[3])) for r in force] == [
        ("r_jan_last", "2024-02-01 05:30:00", "2024-01-31", "2024-01-01"),  # _at stays UTC
        ("r_feb_first", "2024-02-01 06:30:00", "2024-02-01", "2024-02-01"),
        ("r_mar_last", "2024-04-01 04:30:00", "2024-03-31", "2024-03-01"),
        ("r_apr_first", "2024-04-01 05:30:00", "2024-04-01", "2024-04-01"),
    ]
    calls = query(
        full,
        "select call_id, received_on, month_start from marts.fct_calls "
        "where department_id = 'c' order by received_at",
    )
    assert [(r[0], str(r[1]), str(r[2])) for r in calls] == [
        ("c_jan_last", "2024-01-31", "2024-01-01"),
        ("c_feb_first", "2024-02-01", "2024-02-01"),
        ("c_mar_last", "2024-03-31", "2024-03-01"),
        ("c_apr_first", "2024-04-01", "2024-04-01"),
    ]
    (encounter_on,) = query(full, "select encounter_on from marts.fct_encounters")[0]
    assert encounter_on == dt.date(2024, 5, 31)


def test_the_officer_month_panel_counts_each_event_in_its_local_month(full):
    # month: calls attended, force reports, complaints, coded encounters, active
    o1 = officer_months(full, "o1")
    assert o1 == {
        "2024-01": [0, 0, 0, 0, True],
        "2024-02": [1, 1, 1, 0, True],
        "2024-03": [1, 1, 0, 0, True],
        "2024-04": [1, 1, 0, 0, True],
        "2024-05": [0, 0, 0, 1, True],
        "2024-06": [0, 0, 0, 0, True],
    }
    o2 = officer_months(full, "o2")
    assert o2["2024-01"] == [1, 1, 0, 0, True]
    assert all(values == [0, 0, 0, 0, False] for month, values in o2.items() if month > "2024-01")
    outside = query(
        full,
        "select count(*) from marts.fct_force_reports f anti join marts.fct_officer_months m "
        "on m.department_id = f.department_id and m.officer_id = f.officer_id "
        "and m.month_start = f.month_start and m.is_active",
    )
    assert outside == [(0,)]


def test_month_by_month_runs_and_a_restated_month_build_what_a_full_build_does(
    full, month_by_month
):
    schemas = ("staging", "intermediate", "marts")
    monthly = table_fingerprints(month_by_month, schemas)
    assert "marts.fct_calls" in monthly and "staging.stg_calls" in monthly
    assert differences(table_fingerprints(full, schemas), monthly) == []
    per_month = query(
        month_by_month,
        "select strftime(month_start, '%Y-%m'), count(*) from marts.fct_calls "
        "group by 1 order by 1",
    )
    assert per_month == [("2024-01", 1), ("2024-02", 1), ("2024-03", 1), ("2024-04", 1)]


def test_a_correction_restates_from_the_local_month_it_touches(full, tmp_path):
    warehouse = Path(shutil.copy(full, tmp_path / "warehouse.duckdb"))
    with duckdb.connect(str(warehouse)) as connection:  # 31 January's report, level 1 -> 3
        insert(
            connection,
            "force_reports",
            2,
            [
                {
                    **DEPARTMENT,
                    "report_id": "r_jan_last",
                    "officer_id": "o2",
                    "occurred_at": EDGES["jan_last"],
                    "force_type": "takedown",
                    "force_level": 3,
                }
            ],
        )
    record = run(warehouse, PROJECT_ROOT)
    assert record.restated_tables == ("force_reports",)
    assert record.restated_from == "2024-01-01"  # its UTC time is in February
    level_2_plus = query(
        warehouse,
        "select force_reports_level_2_plus from marts.fct_officer_months "
        "where department_id = 'c' and officer_id = 'o2' and month_start = '2024-01-01'",
    )
    assert level_2_plus == [(1,)]
