"""The event-grained force frames a department's descriptive figures read: every officer named
in a force report (`marts.fct_force_reports`) and the keyed civilians of each report.

The civilians' keyed hashes are read from `staging.stg_force_reports`: no mart carries them
(the analysis of a trial needs none), and the descriptive count of repeat subjects needs only the
key and the report. A warehouse without either table gives an empty frame: a department that
delivers no force reports still gets the rest of its report.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from middlestep.warehouse.home import connect

FORCE_COLUMNS = (
    "report_id",
    "officer_id",
    "occurred_at",
    "month_start",
    "force_type",
    "force_level",
    "subject_resistance",
)


def load_force_reports(warehouse, department_id: str) -> pd.DataFrame:
    """The department's rows of `marts.fct_force_reports` (empty if the mart is absent)."""
    columns = ", ".join(FORCE_COLUMNS)
    return _read(
        warehouse,
        f"select {columns} from marts.fct_force_reports where department_id = ? order by all",
        department_id,
        FORCE_COLUMNS,
    )


def load_force_subjects(warehouse, department_id: str) -> pd.DataFrame:
    """(report_id, subject_key) of the department's force reports with a keyed civilian."""
    return _read(
        warehouse,
        "select distinct report_id, subject_key from staging.stg_force_reports "
        "where department_id = ? and subject_key is not null order by all",
        department_id,
        ("report_id", "subject_key"),
    )


def _read(warehouse, query: str, department_id: str, columns) -> pd.DataFrame:
    connection = connect(warehouse, read_only=True)
    try:
        return connection.execute(query, [department_id]).df()
    except (duckdb.CatalogException, duckdb.BinderException):  # never built: nothing delivered
        return pd.DataFrame(columns=list(columns))
    finally:
        connection.close()
