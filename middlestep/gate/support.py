"""Which analyses a department's data supports, and if not, why not: the policy the analysis
commands and the report follow.
"""

from __future__ import annotations

from functools import partial

import pandas as pd

from middlestep.gate.facts import WarehouseFacts
from middlestep.gate.results import AnalysisSupport

COMMUNICATION_EFFECTS = "communication effects"
FORCE_EFFECTS = "force effects"
COMPLAINT_EFFECTS = "complaint effects"
RANDOMIZATION_BALANCE = "randomization balance"
ROLLOUT_EFFECTS = "staggered roll-out effects"
SSO_RELIABILITY = "SSO reliability"

ANALYSES: tuple[str, ...] = (
    RANDOMIZATION_BALANCE,
    COMMUNICATION_EFFECTS,
    FORCE_EFFECTS,
    COMPLAINT_EFFECTS,
    ROLLOUT_EFFECTS,
    SSO_RELIABILITY,
)


def _rows_of(frame: pd.DataFrame | None, department_id: str) -> pd.DataFrame:
    if frame is None or frame.empty or "department_id" not in frame.columns:
        return pd.DataFrame()
    return frame[frame["department_id"] == department_id]


def _delivered(facts: WarehouseFacts, department_id: str, table: str) -> bool:
    batches = facts.batches
    if batches is None or batches.empty:
        return False
    rows = batches[(batches["department_id"] == department_id) & (batches["table_name"] == table)]
    return bool(rows["rows_loaded"].sum() > 0)


def _support(department_id: str, analysis: str, reason: str | None) -> AnalysisSupport:
    """`reason` is why the analysis is not supported; None if it is."""
    return AnalysisSupport(department_id, analysis, reason is None, reason or "")


def analyses_supported(facts: WarehouseFacts) -> tuple[AnalysisSupport, ...]:
    departments: set[str] = set()
    for frame in facts.analysed.values():
        if frame is not None and "department_id" in frame.columns:
            departments.update(frame["department_id"].dropna().astype(str))
    supports: list[AnalysisSupport] = []
    for department_id in sorted(departments):
        officers = _rows_of(facts.analysed.get("dim_officers"), department_id)
        months = _rows_of(facts.analysed.get("fct_officer_months"), department_id)
        encounters = _rows_of(facts.analysed.get("fct_encounters"), department_id)
        force = _rows_of(facts.analysed.get("fct_force_reports"), department_id)
        reliability = _rows_of(facts.analysed.get("rpt_sso_reliability"), department_id)

        def column(frame: pd.DataFrame, name: str) -> pd.Series:
            return frame[name] if name in frame.columns else pd.Series(dtype=object)

        n_assigned = int(column(officers, "arm").notna().sum())
        arms = set(column(officers, "arm").dropna())
        assigned_months = int(column(months, "arm").notna().sum())
        assigned_encounters = (
            encounters[column(encounters, "arm").notna()] if not encounters.empty else encounters
        )
        post_encounters = int((column(assigned_encounters, "study_period") == "post").sum())
        n_cohorts = column(officers, "cohort_month").dropna().nunique()
        double_coded = column(reliability, "n_double_coded").fillna(0)

        support = partial(_support, department_id)

        trial_reason = (
            "no officers assigned to a trial arm"
            if n_assigned == 0
            else "only one arm assigned"
            if len(arms) < 2
            else None
        )
        supports.append(support(RANDOMIZATION_BALANCE, trial_reason))
        # force and complaint effects: by arm (wait-list trial) or by cohort (staggered roll-out)
        rollout_months = int(column(months, "cohort_period").notna().sum())
        outcome_reason = (
            None
            if trial_reason is None or n_cohorts >= 2
            else "no officers assigned to a trial arm or to two or more roll-out cohorts"
        )
        outcome_months = assigned_months if trial_reason is None else rollout_months
        supports.append(
            support(
                COMMUNICATION_EFFECTS,
                trial_reason
                or (
                    "no coded encounters"
                    if encounters.empty
                    else "no coded encounters of officers in a trial arm"
                    if len(assigned_encounters) == 0
                    else "no coded encounters in the post period"
                    if post_encounters == 0
                    else None
                ),
            )
        )
        force_delivered = _delivered(facts, department_id, "force_reports") or not force.empty
        supports.append(
            support(
                FORCE_EFFECTS,
                outcome_reason
                or (
                    "no officer-months"
                    if months.empty
                    else "no officer-months of officers in a trial arm or roll-out cohort"
                    if outcome_months == 0
                    else "no force reports delivered"
                    if not force_delivered
                    else None
                ),
            )
        )
        complaints_delivered = _delivered(facts, department_id, "complaints") or bool(
            column(months, "complaints").fillna(0).sum() > 0
        )
        supports.append(
            support(
                COMPLAINT_EFFECTS,
                outcome_reason
                or (
                    "no officer-months of officers in a trial arm or roll-out cohort"
                    if outcome_months == 0
                    else "no complaints delivered"
                    if not complaints_delivered
                    else None
                ),
            )
        )
        supports.append(
            support(
                ROLLOUT_EFFECTS,
                "fewer than two roll-out cohorts"
                if n_cohorts < 2
                else "no officer-months"
                if months.empty
                else None,
            )
        )
        supports.append(
            support(
                SSO_RELIABILITY,
                None if bool((double_coded > 0).any()) else "no double-coded videos",
            )
        )
    return tuple(supports)
