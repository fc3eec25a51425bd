"""The analysis contract: the marts the analysis modules read (`Marts`, one frame per mart) and
the trial's dates derived from them. The warehouse layer reads them
(`middlestep.warehouse.marts.load_marts`); the analysis gets frames, never a connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

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
