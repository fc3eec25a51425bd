"""Spillover between a wait-list trial's arms, from a gated build: the warehouse side of
`analysis.spillover`.

:func:`spillover_analysis` reads how often officers shared calls (summed in DuckDB from
`marts.fct_call_officers`, `middlestep.warehouse.call_sharing`), summarises the control arm's
exposure to the treatment arm, and re-estimates the primary outcomes without the control
officers most exposed: a sensitivity analysis of the intent-to-treat estimates, labelled as such
in every output (the comparison is no longer the randomized one).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.results import Effect
from middlestep.contract import SSO_ITEMS
from middlestep.errors import DATA_FAULTS
from middlestep.gate.support import SPILLOVER_EXPOSURE
from middlestep.jsonable import jsonable
from middlestep.warehouse.call_sharing import call_sharing

SENSITIVITY_LABEL = "sensitivity analysis: high-exposure control officers left out"
DISTAL_OUTCOMES = ("force_reports", "complaints")


@dataclass(frozen=True)
class SpilloverAnalysis:
    """The control arm's exposure to the treatment arm on shared calls, per month, and the primary
    outcomes re-estimated without the control officers above the median exposure."""

    summary: Any  # analysis.spillover.SpilloverSummary
    by_month: pd.DataFrame  # analysis.spillover.sharing_by_month
    sensitivity_effects: tuple[Effect, ...]
    notes: tuple[str, ...] = ()  # sensitivity rows the data could not support, and why

    def to_dict(self) -> dict[str, Any]:
        months = self.by_month.astype(object).where(self.by_month.notna(), None)
        return jsonable(
            {
                **self.summary.to_dict(),
                "by_month": months.to_dict("records"),
                "sensitivity_effects": [effect.to_dict() for effect in self.sensitivity_effects],
                "notes": list(self.notes),
            }
        )


def primary_outcomes(department_id: str) -> tuple[str, ...]:
    """The plan's primary family (plans/<department>.yaml), else the codebook's confirmatory
    items and force per officer-month."""
    from middlestep.codebook import ITEMS
    from middlestep.plan import PlanError, load_plan, plan_path

    try:
        path = plan_path(department_id)
        if path.exists():
            return load_plan(path).primary.outcomes
    except PlanError:
        pass  # the report names a broken plan elsewhere; the sensitivity falls back
    return (*(item.name for item in ITEMS if item.is_confirmatory), "force_reports")


def spillover_analysis(
    warehouse: Path, marts: Any, outcomes: tuple[str, ...], gate: dict | None = None
) -> SpilloverAnalysis | None:
    """The trial's spillover exposure and its low-exposure sensitivity rows (module docstring);
    None when the warehouse has no call x officer mart or no control-arm attendance. A
    LookupError gives the gate's reason when it says the data does not support it."""
    from analysis.spillover import (
        low_exposure_split,
        sharing_by_month,
        spillover_summary,
    )

    for row in (gate or {}).get("analyses") or []:
        if (
            row.get("department_id") == marts.department_id
            and row.get("analysis") == SPILLOVER_EXPOSURE
            and not row.get("supported")
        ):
            raise LookupError(row.get("reason") or "the gate says the data does not support it")
    sharing = call_sharing(warehouse, marts.department_id)
    if sharing is None or sharing.by_officer.empty:
        return None
    summary = spillover_summary(sharing.by_officer)
    if summary.n_control_attendances == 0:
        return None
    split = low_exposure_split(sharing.by_officer)
    effects: list[Effect] = []
    notes: list[str] = []
    if split.high_exposure_control:
        effects, notes = sensitivity_effects(marts, split, outcomes)
    return SpilloverAnalysis(
        summary, sharing_by_month(sharing.by_month), tuple(effects), tuple(notes)
    )


def sensitivity_effects(
    marts: Any, split: Any, outcomes: tuple[str, ...]
) -> tuple[list[Effect], list[str]]:
    """The primary estimators on the marts without `split.high_exposure_control`, one effect per
    outcome of `outcomes` (SSO items and force or complaints per officer-month), and a note for
    each outcome the data cannot support (an early nightly drop: no post-period clip yet)."""
    from analysis.ancova import ancova_itt_effect
    from analysis.force_ancova import force_ancova_effect
    from analysis.spillover import without_officers

    dates = marts.study_dates
    left_out = split.high_exposure_control
    encounters = without_officers(marts.encounters, left_out)
    officer_months = without_officers(marts.officer_months, left_out)
    basis = (
        "measured before training (a baseline fact)"
        if split.basis == "pre"
        else "measured after assignment (a post-assignment quantity training may move)"
    )
    note = (
        f"{SENSITIVITY_LABEL}: the {len(left_out)} control officers whose share of calls shared "
        f"with the treatment arm, {basis}, was above the control median "
        f"({split.threshold:.3f}); not the randomized comparison"
    )
    effects, notes = [], []
    for outcome in outcomes:
        try:
            if outcome in DISTAL_OUTCOMES:
                effect = force_ancova_effect(
                    officer_months,
                    outcome=outcome,
                    trial_start=dates.trial_start_on,
                    control_start=dates.control_start_on,
                )
            elif outcome in SSO_ITEMS and len(encounters):
                effect = ancova_itt_effect(encounters, outcome=outcome, kind=SSO_ITEMS[outcome])
            else:
                continue
        except DATA_FAULTS as error:  # the data, not the code: said, and the others still run
            notes.append(f"{SENSITIVITY_LABEL}: {outcome} not estimated: {error}")
            continue
        extras = {
            **effect.extras,
            "sensitivity": SENSITIVITY_LABEL,
            "exposure_basis": split.basis,
            "exposure_threshold": split.threshold,
            "n_control_officers_left_out": len(left_out),
        }
        effects.append(replace(effect, extras=extras, notes=(note, *effect.notes)))
    return effects, notes
