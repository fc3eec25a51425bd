"""The report of a department without a trial (no randomized arms, no roll-out cohorts): its
force figures (analysis/descriptive.py) and the planning of a trial from its own data
(analysis/planning.py), each figure computed or said why not.

`middlestep/trial.py` comes here when the marts hold no trial start date; the trial's analyses
are then listed as not estimated, with the gate's reason where it gave one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from middlestep.errors import DATA_FAULTS
from middlestep.jsonable import jsonable
from middlestep.warehouse import Home
from middlestep.warehouse.force import load_force_reports, load_force_subjects

# the analyses of a trial, as the gate names them (middlestep/gate/support.py)
TRIAL_ANALYSES = (
    "randomization balance",
    "communication effects",
    "force effects",
    "complaint effects",
)


@dataclass
class DepartmentFigures:
    """The descriptive figures and trial planning of one department."""

    monthly: pd.DataFrame | None = None
    by_level: pd.DataFrame | None = None
    by_type: pd.DataFrame | None = None
    by_unit: pd.DataFrame | None = None
    concentration: Any = None  # analysis.descriptive.Concentration
    repeat_subjects: pd.DataFrame | None = None
    planning: Any = None  # analysis.planning.TrialPlanning
    not_estimated: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def records(frame: pd.DataFrame | None) -> list[dict]:
            if frame is None:
                return []
            return frame.astype(object).where(frame.notna(), None).to_dict("records")

        return jsonable(
            {
                "force_per_officer_month": records(self.monthly),
                "force_by_level": records(self.by_level),
                "force_by_type": records(self.by_type),
                "force_by_unit": records(self.by_unit),
                "concentration": (
                    self.concentration.to_dict() if self.concentration is not None else None
                ),
                "repeat_subjects": records(self.repeat_subjects),
                "trial_planning": self.planning.to_dict() if self.planning is not None else None,
                "not_estimated": list(self.not_estimated),
            }
        )

    def text(self) -> str:
        """What `middlestep analyze` prints: the overall rate and the trial planning."""
        blocks = []
        monthly = self.monthly
        if monthly is not None and not monthly.empty:
            rate = 1000.0 * monthly["reports"].sum() / monthly["officers"].sum()
            blocks.append(
                f"force: {int(monthly['reports'].sum())} reports in "
                f"{int(monthly['officers'].sum())} officer-months served over {len(monthly)} "
                f"months ({rate:.1f} per 1,000 officer-months)"
            )
        if self.concentration is not None:
            blocks.append(self.concentration.table.to_string(index=False))
        if self.planning is not None:
            blocks.append(
                f"trial planning (rate ratio {self.planning.rate_ratio:.2f}, "
                f"{self.planning.target_power:.0%} power):"
            )
            blocks.append(self.planning.designs.to_string(index=False))
            blocks += [f"note: {note}" for note in self.planning.notes]
        return "\n".join(blocks)


def why_no_trial(marts) -> str | None:
    """Why the marts hold no trial to analyse (None: they hold one)."""
    try:
        dates = marts.study_dates
    except (ValueError, KeyError) as error:
        return str(error)
    return None if dates.trial_start_on else "the trial has no start date"


def trial_not_estimated(gate: dict | None, department_id: str, why: str) -> list[dict[str, str]]:
    """The trial's analyses as not estimated: the gate's reason for each, else `why`."""
    reasons = {
        row.get("analysis"): row.get("reason")
        for row in (gate or {}).get("analyses") or []
        if row.get("department_id") in (None, department_id) and not row.get("supported")
    }
    return [
        {"analysis": name, "reason": reasons.get(name) or f"no trial in the data ({why})"}
        for name in TRIAL_ANALYSES
    ]


def department_figures(home: Home, marts, *, simulations: int = 200, seed: int = 0):
    """Every figure of a department without a trial; one that cannot be made is listed in
    `not_estimated` with the reason."""
    from analysis import descriptive
    from analysis.planning import plan_trials, planning_baseline

    figures = DepartmentFigures()
    department_id = marts.department_id
    months, officers = marts.officer_months, marts.officers
    reports = load_force_reports(home.warehouse, department_id)

    def attempt(name: str, step, *, empty: str | None = None):
        try:
            value = step()
        except DATA_FAULTS as error:
            figures.not_estimated.append({"analysis": name, "reason": str(error)})
            return None
        if empty and (value is None or (isinstance(value, pd.DataFrame) and value.empty)):
            figures.not_estimated.append({"analysis": name, "reason": empty})
        return value

    no_reports = "no force reports delivered" if reports.empty else None
    figures.monthly = attempt(
        "force per officer-month",
        lambda: descriptive.monthly_force_rates(months),
        empty="no officer-months served",
    )
    figures.by_level = attempt(
        "force by level",
        lambda: descriptive.force_breakdown(reports, "force_level"),
        empty=no_reports,
    )
    figures.by_type = attempt(
        "force by type",
        lambda: descriptive.force_breakdown(reports, "force_type"),
        empty=no_reports,
    )
    figures.by_unit = attempt(
        "force by unit",
        lambda: descriptive.force_breakdown(
            reports, "unit", officer_months=months, officers=officers
        ),
        empty=no_reports or "the roster maps no unit",
    )
    figures.concentration = attempt(
        "concentration of force among officers",
        lambda: descriptive.force_concentration(months, seed=seed),
        empty=no_reports or "no force report by an officer in service",
    )
    figures.repeat_subjects = attempt(
        "repeat subjects",
        lambda: descriptive.repeat_subjects(load_force_subjects(home.warehouse, department_id)),
        empty=no_reports or "the force reports key no civilian (no subject_key mapped)",
    )
    figures.planning = attempt(
        "trial planning",
        lambda: plan_trials(
            planning_baseline(months, officers), n_simulations=simulations, seed=seed
        ),
    )
    return figures
