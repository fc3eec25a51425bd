"""The scenario's study calendar as day numbers, and its sizes at a scale."""

from __future__ import annotations

import numpy as np

from middlestep.synth.clock import date_of, day_number
from middlestep.synth.scenario import as_date, month_starts, study_years


class Study:
    """Day numbers and sizes of the scenario."""

    def __init__(self, scenario: dict, scale: float):
        study, training = scenario["study"], scenario["training"]
        self.start_day = day_number(as_date(study["start_on"]))
        self.end_day = day_number(as_date(study["end_on"]))  # inclusive
        self.randomized_day = day_number(as_date(study["randomized_on"]))
        self.export_day = day_number(as_date(study["export_on"]))
        self.treatment_cohort_day = day_number(as_date(training["treatment_cohort_on"]))
        self.control_cohort_day = day_number(as_date(training["control_cohort_on"]))
        self.month_start_days = np.array([day_number(m) for m in month_starts(scenario)])
        self.month_days = np.diff(np.append(self.month_start_days, self.end_day + 1))
        self.years = study_years(scenario)
        self.n_trial = max(int(round(scenario["officers"]["n_trial"] * scale)), 2)
        self.n_non_trial = int(round(scenario["officers"]["n_non_trial"] * scale))
        self.n_officers = self.n_trial + self.n_non_trial


def session_days(cohort_day: int, n_sessions: int) -> np.ndarray:
    """Class days of a cohort: Tuesdays and Thursdays from the 6th day of the cohort month."""
    days, day = [], cohort_day + 5
    while len(days) < n_sessions:
        if date_of(day).weekday() in (1, 3):
            days.append(day)
        day += 1
    return np.array(days, dtype=np.int64)
