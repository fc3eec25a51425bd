"""Which analyses a department's data supports, and if not, why not: the policy the analysis
commands and the report follow.
"""

from __future__ import annotations

from functools import partial

from middlestep.gate.facts import WarehouseFacts
from middlestep.gate.results import AnalysisSupport

COMMUNICATION_EFFECTS = "communication effects"
FORCE_EFFECTS = "force effects"
COMPLAINT_EFFECTS = "complaint effects"
RANDOMIZATION_BALANCE = "randomization balance"
ROLLOUT_EFFECTS = "staggered roll-out effects"
SSO_RELIABILITY = "SSO reliability"
SPILLOVER_EXPOSURE = "spillover exposure"

ANALYSES: tuple[str, ...] = (
    RANDOMIZATION_BALANCE,
    COMMUNICATION_EFFECTS,
    FORCE_EFFECTS,
    COMPLAINT_EFFECTS,
    ROLLOUT_EFFECTS,
    SSO_RELIABILITY,
    SPILLOVER_EXPOSURE,
)


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
    """Per department of the marts: which analyses its data supports (from the small
    per-department counts the gate computed in DuckDB, gate/counts.py)."""
    supports: list[AnalysisSupport] = []
    for counts in facts.department_counts.to_dict("records"):
        department_id = counts["department_id"]
        n_assigned = counts["n_assigned"]
        n_arms = counts["n_arms"]
        assigned_months = counts["n_assigned_months"]
        n_encounters = counts["n_encounters"]
        assigned_encounters = counts["n_assigned_encounters"]
        post_encounters = counts["n_post_encounters"]
        n_cohorts = counts["n_cohorts"]
        n_months = counts["n_officer_months"]

        support = partial(_support, department_id)

        trial_reason = (
            "no officers assigned to a trial arm"
            if n_assigned == 0
            else "only one arm assigned"
            if n_arms < 2
            else None
        )
        supports.append(support(RANDOMIZATION_BALANCE, trial_reason))
        # force and complaint effects: by arm (wait-list trial) or by cohort (staggered roll-out)
        rollout_months = counts["n_rollout_months"]
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
                    if n_encounters == 0
                    else "no coded encounters of officers in a trial arm"
                    if assigned_encounters == 0
                    else "no coded encounters in the post period"
                    if post_encounters == 0
                    else None
                ),
            )
        )
        force_delivered = (
            _delivered(facts, department_id, "force_reports") or counts["n_force_reports"] > 0
        )
        supports.append(
            support(
                FORCE_EFFECTS,
                outcome_reason
                or (
                    "no officer-months"
                    if n_months == 0
                    else "no officer-months of officers in a trial arm or roll-out cohort"
                    if outcome_months == 0
                    else "no force reports delivered"
                    if not force_delivered
                    else None
                ),
            )
        )
        complaints_delivered = (
            _delivered(facts, department_id, "complaints") or counts["n_complaints"] > 0
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
                if n_months == 0
                else None,
            )
        )
        supports.append(
            support(
                SSO_RELIABILITY,
                None if counts["n_double_coded_items"] > 0 else "no double-coded videos",
            )
        )
        supports.append(
            support(
                SPILLOVER_EXPOSURE,
                trial_reason
                or (
                    None
                    if counts["n_control_post_attendances"] > 0
                    else "no calls attended by control-arm officers after the treatment arm's "
                    "training (marts.fct_call_officers)"
                ),
            )
        )
    return tuple(supports)
