"""Reading the marts from a warehouse file, read-only."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

from analysis.marts import study_dates
from middlestep.warehouse.marts import load_marts


def write_marts(
    path, tables=("dim_officers", "fct_officer_months", "fct_encounters", "rpt_sso_reliability")
):
    officers = pd.DataFrame(
        {
            "department_id": ["a", "a", "b"],
            "officer_id": ["o1", "o2", "o1"],
            "arm": ["treatment", "control", "treatment"],
            "cohort_on": pd.to_datetime(["2025-01-06", "2026-01-05", "2025-03-01"]),
        }
    )
    frames = {
        "dim_officers": officers,
        "fct_officer_months": officers.assign(month_start=pd.Timestamp("2024-12-01")),
        "fct_encounters": officers.assign(video_id=["v1", "v2", "v3"], study_period="pre"),
        "rpt_sso_reliability": pd.DataFrame({"department_id": ["a"], "item": ["empathy"]}),
    }
    connection = duckdb.connect(str(path))
    connection.execute("create schema marts")
    for table in tables:
        frame = frames[table]  # noqa: F841 (read by the query)
        connection.execute(f"create table marts.{table} as select * from frame")
    connection.close()


def test_loads_one_department_and_releases_the_file(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    write_marts(warehouse)
    marts = load_marts(warehouse, department_id="a")
    assert sorted(marts.officers["officer_id"]) == ["o1", "o2"]
    assert len(marts.officer_months) == 2
    assert list(marts.encounters["video_id"]) == ["v1", "v2"]
    assert len(marts.sso_reliability) == 1
    assert marts.study_dates.trial_start_on == date(2025, 1, 6)
    assert marts.study_dates.control_start_on == date(2026, 1, 5)
    # the connection is closed: a writer can open the file again
    writer = duckdb.connect(str(warehouse))
    writer.execute("create table marts.after as select 1 as x")
    writer.close()


def test_loads_every_department_without_a_filter(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    write_marts(warehouse)
    assert len(load_marts(warehouse).officers) == 3


def test_missing_mart_and_missing_file_are_reported(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    write_marts(warehouse, tables=("dim_officers", "fct_officer_months"))
    with pytest.raises(LookupError, match="fct_encounters"):
        load_marts(warehouse)
    with pytest.raises(FileNotFoundError):
        load_marts(tmp_path / "nowhere.duckdb")


def test_unknown_department_is_an_error(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    write_marts(warehouse)
    with pytest.raises(LookupError, match="zz"):
        load_marts(warehouse, department_id="zz")


def test_study_dates_from_officer_months_are_month_starts():
    months = pd.DataFrame(
        {
            "arm": ["treatment", "control", "control"],
            "cohort_month": pd.to_datetime(["2025-01-01", "2026-02-01", "2026-01-01"]),
        }
    )
    dates = study_dates(months, cohort="cohort_month")
    assert dates.trial_start_on == date(2025, 1, 1)
    assert dates.control_start_on == date(2026, 1, 1)
