"""The marts the analysis reads, as data frames (`analysis.marts.Marts`), and the per-coding
table the reliability estimates need. The analysis modules are pure: this is where their frames
come from.

`load_codings` reads `intermediate.int_encounter_codings`, not a mart: the per-item reliability
bootstrap needs every coding of a double-coded video, which no mart holds yet.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from analysis.marts import MART_TABLES, Marts
from middlestep.warehouse.home import connect


def load_marts(warehouse: Path, department_id: str | None = None) -> Marts:
    """Read `marts.dim_officers`, `fct_officer_months`, `fct_encounters` and
    `rpt_sso_reliability` from `warehouse`, for one department if `department_id` is given.

    Raises FileNotFoundError if the warehouse file does not exist and LookupError if a mart is
    missing from it (the build has not run) or the department has no officers in it.
    """
    path = Path(warehouse)
    if not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}")
    connection = connect(path, read_only=True)
    try:
        present = {
            name
            for (name,) in connection.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        }
        missing = [table for table in MART_TABLES.values() if table not in present]
        if missing:
            raise LookupError(
                f"warehouse {path} has no marts.{', marts.'.join(missing)}; build it first"
            )
        frames = {
            attribute: _read_table(connection, table, department_id)
            for attribute, table in MART_TABLES.items()
        }
    finally:
        connection.close()
    if department_id is not None and frames["officers"].empty:
        raise LookupError(f"department {department_id!r} has no officers in {path}")
    return Marts(**frames, department_id=department_id)


def _read_table(
    connection: duckdb.DuckDBPyConnection, table: str, department_id: str | None
) -> pd.DataFrame:
    # in a fixed order (by all columns): bootstraps and panels follow row order, so the same
    # rows must give the same estimates however a build laid them out
    query = f"select * from marts.{table}"
    if department_id is None:
        return connection.execute(query + " order by all").df()
    return connection.execute(query + " where department_id = ? order by all", [department_id]).df()


def load_codings(warehouse: Path, department_id: str | None = None) -> pd.DataFrame:
    """Every coding of every video (`intermediate.int_encounter_codings`), read-only, in a
    fixed order (by all columns: the bootstrap resamples rows, so the same codings must give the
    same intervals however the table was built)."""
    connection = connect(warehouse, read_only=True)
    try:
        query = "select * from intermediate.int_encounter_codings"
        if department_id is None:
            return connection.execute(query + " order by all").df()
        return connection.execute(
            query + " where department_id = ? order by all", [department_id]
        ).df()
    finally:
        connection.close()
