"""How often officers of a trial shared calls, summed inside DuckDB from
`marts.fct_call_officers`: the analysis (`analysis.spillover`) gets one row per officer x study
period and one per calendar month x arm, never the call x officer rows themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from middlestep.warehouse.home import connect

MART = "fct_call_officers"

_BY_OFFICER_SQL = f"""
select
    officer_id,
    arm,
    study_period,
    count(*) as attendances,
    count(*) filter (where has_other_treatment_arm) as with_treatment_arm,
    count(*) filter (where has_other_trained) as with_trained
from marts.{MART}
where department_id = $department_id and arm is not null and study_period is not null
group by officer_id, arm, study_period
order by officer_id, study_period
"""

_BY_MONTH_SQL = f"""
select
    month_start,
    arm,
    count(*) as attendances,
    count(*) filter (where has_other_treatment_arm) as with_treatment_arm,
    count(*) filter (where has_other_trained) as with_trained
from marts.{MART}
where department_id = $department_id and arm is not null
group by month_start, arm
order by month_start, arm
"""


@dataclass(frozen=True)
class CallSharing:
    """Per officer x study period (`analysis.spillover.SHARING_COLUMNS`) and per month x arm:
    attendances, and those shared with another officer assigned to the treatment arm / trained
    before the call's day."""

    by_officer: pd.DataFrame
    by_month: pd.DataFrame


def call_sharing(warehouse: Path, department_id: str) -> CallSharing | None:
    """The department's call sharing, or None when the warehouse has no
    `marts.fct_call_officers` (built before the mart existed)."""
    with connect(Path(warehouse), read_only=True) as connection:
        present = connection.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'marts' and table_name = ?",
            [MART],
        ).fetchone()[0]
        if not present:
            return None
        parameters = {"department_id": department_id}
        by_officer = connection.execute(_BY_OFFICER_SQL, parameters).df()
        by_month = connection.execute(_BY_MONTH_SQL, parameters).df()
    for frame in (by_officer, by_month):
        for column in ("attendances", "with_treatment_arm", "with_trained"):
            frame[column] = frame[column].astype("int64")
    by_officer["officer_id"] = by_officer["officer_id"].astype(str)
    return CallSharing(by_officer=by_officer, by_month=by_month)
