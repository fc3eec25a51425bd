"""The gate where the data is: Great Expectations runs its expectations as queries in DuckDB (no
mart read into memory), the analyses' support comes from per-department counts computed in
DuckDB, and every connection to the warehouse has a memory limit and spills under the home."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from middlestep.gate.counts import COUNT_NAMES, department_counts
from middlestep.gate.frames import DERIVED_FRAMES
from middlestep.warehouse import connect
from middlestep.warehouse.home import MEMORY_LIMIT_ENV, duckdb_settings
from middlestep.warehouse.sql_engine import gx_sql_connection
from tests.test_gate import tiny_department, write_warehouse


@pytest.fixture
def tiny_warehouse(tmp_path):
    return write_warehouse(tmp_path / "warehouse.duckdb", tiny_department())


def test_every_connection_is_memory_bounded_and_spills_beside_the_warehouse(tmp_path, monkeypatch):
    warehouse = tmp_path / "home" / "warehouse.duckdb"
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "300MB")
    with connect(warehouse) as connection:
        limit, temp = connection.execute(
            "select current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchone()
    assert limit.replace(" ", "") in {"286.1MiB", "300.0MB"}  # DuckDB prints it in MiB
    assert temp == str(tmp_path / "home" / "tmp")
    monkeypatch.delenv(MEMORY_LIMIT_ENV)
    assert duckdb_settings(warehouse)["memory_limit"] == "1GB"


def test_sqlmesh_connection_has_the_same_memory_limit_and_temp_directory(tmp_path, monkeypatch):
    """SQLMesh opens the warehouse with middlestep's settings (sqlmesh.yaml, set by build.py)."""
    warehouse = tmp_path / "home" / "warehouse.duckdb"
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "300MB")
    with connect(warehouse) as connection:
        ours = connection.execute(SETTINGS).fetchone()
    with _sqlmesh(warehouse) as context:
        theirs = context.engine_adapter.fetchone(SETTINGS)
    assert theirs == ours
    assert ours[1] == str(tmp_path / "home" / "tmp")


SETTINGS = "select current_setting('memory_limit'), current_setting('temp_directory')"


def _sqlmesh(warehouse):
    from middlestep.build import _context
    from middlestep.warehouse import PROJECT_ROOT

    return _context(warehouse, PROJECT_ROOT)


def test_a_result_read_after_its_connection_went_back_to_the_pool_keeps_its_rows(
    tiny_warehouse,
):
    """Great Expectations reads a metric's result after returning the connection; plain
    duckdb_engine returns no rows then, the warehouse's dialect buffers them."""
    url, kwargs = gx_sql_connection(tiny_warehouse)
    engine = sa.create_engine(url, **kwargs)
    try:
        with engine.connect() as connection:
            result = connection.execute(sa.text("select count(*) from marts.dim_officers"))
        assert result.fetchall() == [(4,)]
    finally:
        engine.dispose()
    with connect(tiny_warehouse) as connection:  # disposed: the file can be written again
        connection.execute("create table t as select 1")


def test_arm_balance_is_computed_in_duckdb(tiny_warehouse):
    tables = tiny_department()
    tables["marts.dim_officers"].loc[1, "arm"] = "treatment"  # 3 of 4 treated
    write_warehouse(tiny_warehouse.parent / "unbalanced.duckdb", tables)
    query = DERIVED_FRAMES["arm_balance"]('select * from marts."dim_officers" where true')
    with connect(tiny_warehouse.parent / "unbalanced.duckdb", read_only=True) as connection:
        balance = connection.execute(query).df()
    assert balance.to_dict("records") == [
        {
            "department_id": "tiny",
            "trial_id": "t1",
            "n_assigned": 4,
            "n_treatment": 3,
            "share_treatment": 0.75,
        }
    ]


def test_department_counts_equal_the_counts_of_the_whole_marts(tiny_warehouse):
    tables = tiny_department()
    officers, months = tables["marts.dim_officers"], tables["marts.fct_officer_months"]
    encounters = tables["marts.fct_encounters"]
    with connect(tiny_warehouse, read_only=True) as connection:
        counts = department_counts(connection)
    assert list(counts.columns) == ["department_id", *COUNT_NAMES]
    row = counts.set_index("department_id").loc["tiny"]
    assert row["n_officers"] == len(officers)
    assert row["n_assigned"] == officers["arm"].notna().sum()
    assert row["n_arms"] == 2
    assert row["n_cohorts"] == officers["cohort_month"].nunique()
    assert row["n_officer_months"] == len(months)
    assert row["n_complaints"] == months["complaints"].sum() > 0
    assert row["n_encounters"] == len(encounters)
    assert (
        row["n_post_encounters"]
        == (encounters["arm"].notna() & (encounters["study_period"] == "post")).sum()
    )
    assert row["n_force_reports"] == len(tables["marts.fct_force_reports"])


def test_a_missing_column_counts_as_empty(tmp_path):
    tables = tiny_department()
    tables["marts.dim_officers"] = tables["marts.dim_officers"].drop(columns=["cohort_month"])
    tables["marts.fct_officer_months"] = pd.DataFrame(
        {"department_id": ["tiny", "other"], "month_start": [date(2024, 1, 1)] * 2}
    )
    warehouse = write_warehouse(tmp_path / "warehouse.duckdb", tables)
    with connect(warehouse, read_only=True) as connection:
        counts = department_counts(connection).set_index("department_id")
    assert sorted(counts.index) == ["other", "tiny"]
    assert counts.loc["tiny", "n_cohorts"] == 0
    assert counts.loc["tiny", "n_assigned_months"] == 0
    assert counts.loc["other", "n_officer_months"] == 1
    assert counts.loc["other", "n_officers"] == 0
