"""Read the analysis contract (schema `marts`) from a warehouse file, read-only.

The pipeline has one DuckDB writer at a time; the analysis is a reader, so it opens the warehouse
with `read_only=True` and closes the connection before it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

MART_TABLES: dict[str, str] = {
    "officers": "dim_officers",
    "officer_months": "fct_officer_months",
    "encounters": "fct_encounters",
    "sso_reliability": "rpt_sso_reliability",
}


@dataclass(frozen=True)
class StudyDates:
    """The wait-list trial's dates: the immediate arm's training and the wait-list's."""

    trial_start_on: date
    control_start_on: date | None


@dataclass(frozen=True)
class Marts:
    """The marts the analysis modules read, for one department or all of them."""

    officers: pd.DataFrame
    officer_months: pd.DataFrame
    encounters: pd.DataFrame
    sso_reliability: pd.DataFrame
    department_id: str | None = None

    @property
    def study_dates(self) -> StudyDates:
        return study_dates(self.officers)


def load_marts(warehouse: Path, department_id: str | None = None) -> Marts:
    """Read `marts.dim_officers`, `fct_officer_months`, `fct_encounters` and
    `rpt_sso_reliability` from `warehouse`, for one department if `department_id` is given.

    Raises FileNotFoundError if the warehouse file does not exist and LookupError if a mart is
    missing from it (the build has not run) or the department has no officers in it.
    """
    path = Path(warehouse)
    if not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}")
    connection = duckdb.connect(str(path), read_only=True)
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


def study_dates(
    officers: pd.DataFrame, *, arm: str = "arm", cohort: str = "cohort_on"
) -> StudyDates:
    """`trial_start_on` = the earliest scheduled training (`cohort_on`) of the treatment arm,
    `control_start_on` = the earliest of the control arm (None if the wait-list has no date).

    Works on `dim_officers` (`cohort_on`) and on `fct_officer_months` (pass
    `cohort="cohort_month"`: then the dates are month starts).
    """
    by_arm = pd.to_datetime(officers[cohort]).groupby(officers[arm]).min()
    treatment_start = by_arm.get("treatment")
    if treatment_start is None or pd.isna(treatment_start):
        raise ValueError(f"no {cohort} in the treatment arm: the trial has no start date")
    control_start = by_arm.get("control")
    return StudyDates(
        trial_start_on=treatment_start.date(),
        control_start_on=None
        if control_start is None or pd.isna(control_start)
        else control_start.date(),
    )
