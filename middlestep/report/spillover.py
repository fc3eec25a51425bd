"""The report section on spillover between the arms (middlestep/spillover.py): how much of the
control arm's work was shared with treatment-arm officers, what that means for the
intent-to-treat estimates, and the primary estimates again without the most exposed control
officers, labelled as a sensitivity analysis. Every number it prints is in results.json
(`spillover`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from analysis.results import Effect
from middlestep.report.numbers import finite, interval, num, outcome_label, scale_label
from middlestep.report.sections import Section

TITLE = "Spillover between the arms: calls shared with the treatment arm"


def percent(share: Any) -> str:
    """A share as the section writes it: percent, three significant digits."""
    return f"{num(100 * share)}%" if finite(share) else "n/a"


def spillover_sections(spillover: Any, primary_effects: Sequence[Effect]) -> list[Section]:
    """One section, or none when the analysis found no control-arm attendance to measure."""
    if spillover is None:
        return []
    summary = spillover.summary
    paragraphs = [exposure_sentence(summary), contamination_sentence()]
    tables = [
        (
            "Call attendances by month and arm, and the shares shared with another officer "
            "assigned to the treatment arm / trained before the call's day",
            month_frame(spillover.by_month),
        )
    ]
    if spillover.sensitivity_effects:
        paragraphs.append(sensitivity_sentence(summary))
        tables.append(
            (
                "Sensitivity analysis: primary estimates without the high-exposure control "
                "officers (not the randomized comparison)",
                sensitivity_frame(primary_effects, spillover.sensitivity_effects),
            )
        )
    return [Section(TITLE, tuple(paragraphs), tuple(tables), notes=tuple(spillover.notes))]


def exposure_sentence(summary: Any) -> str:
    pre_share = percent(summary.pre_share_control_with_assigned)
    pre = (
        f" Before anyone was trained (the pre period), {pre_share} of their attendances were "
        "already shared with an officer assigned to the treatment arm: "
        "officers work in the same blocks and shifts whatever their arm."
        if summary.pre_share_control_with_assigned is not None
        else ""
    )
    return (
        "In the post period (the treatment arm trained, the wait-list not yet), "
        f"{percent(summary.share_control_with_trained)} of the control officers' "
        f"{summary.n_control_attendances:,} call attendances were shared with an officer trained "
        f"by then, and {percent(summary.share_control_with_assigned)} with an officer assigned "
        "to the treatment arm (trained or not). Per control officer the share shared with a "
        f"trained officer has median {percent(summary.control_officer_share_median)} and 90th "
        f"percentile {percent(summary.control_officer_share_p90)} "
        f"({summary.n_control_officers:,} officers). For comparison, "
        f"{percent(summary.share_treatment_with_other_assigned)} of the treatment arm's "
        "attendances were shared with another treatment-arm officer." + pre
    )


def contamination_sentence() -> str:
    return (
        "What it means for the intent-to-treat estimates: if working beside trained officers "
        "changes how control officers talk to civilians or use force, the control arm moves "
        "towards the treatment arm, and every ITT estimate is biased towards no effect "
        "(contamination): it then understates the effect of training every officer against "
        "training none. The shares measure the room for spillover, not a spillover effect, "
        "which this design cannot separate from the ITT."
    )


def sensitivity_sentence(summary: Any) -> str:
    if summary.exposure_basis == "pre":
        basis = (
            "Exposure is the share of an officer's pre-period calls shared with the treatment "
            "arm, measured before anyone was trained: a baseline fact, so the split conditions "
            "on nothing training could change."
        )
    else:
        basis = (
            "Exposure is the share of an officer's post-period calls shared with a trained "
            "officer, measured after assignment (the data has no pre-period calls): whom an "
            "officer works with may itself respond to training, so this conditions on a "
            "post-assignment quantity; read it with care."
        )
    return (
        "Sensitivity analysis, not the randomized comparison: the primary estimates again "
        f"without the control officers whose exposure was above the control arm's median "
        f"({percent(summary.low_exposure_threshold)}), keeping every treatment-arm officer and "
        f"the {summary.n_low_exposure_control_officers:,} control officers at or below it. "
        + basis
        + " The officers left out are not a random half (they work in blocks and shifts with "
        "more treatment-arm officers), so block fixed effects carry the comparison. If "
        "contamination mattered, these estimates would lie further from no effect than the "
        "primary ones; a difference within their intervals is no evidence either way."
    )


def month_frame(by_month: pd.DataFrame) -> pd.DataFrame:
    """Per month: each arm's attendances and the shares shared with an assigned / a trained
    treatment-arm officer."""
    rows = []
    for month, frame in by_month.groupby("month_start", sort=True):
        row: dict[str, Any] = {"month": str(pd.Timestamp(month).date())[:7]}
        for arm_row in frame.to_dict("records"):
            arm = arm_row["arm"]
            row[f"{arm} attendances"] = int(arm_row["attendances"])
            row[f"{arm}: with a treatment-arm officer"] = percent(
                arm_row["share_with_treatment_arm"]
            )
            row[f"{arm}: with a trained officer"] = percent(arm_row["share_with_trained"])
        rows.append(row)
    return pd.DataFrame(rows)


def sensitivity_frame(
    primary_effects: Sequence[Effect], sensitivity_effects: Sequence[Effect]
) -> pd.DataFrame:
    """The primary estimate beside its low-exposure re-estimate, one row per outcome."""
    primary = {
        effect.outcome: effect
        for effect in primary_effects
        if "per calls_attended" not in effect.estimator
    }
    rows = []
    for effect in sensitivity_effects:
        main = primary.get(effect.outcome)
        rows.append(
            {
                "outcome": outcome_label(effect.outcome),
                "scale": scale_label(effect),
                "primary estimate": num(main.estimate) if main else None,
                "primary 95% CI": interval(main.ci_low, main.ci_high) if main else None,
                "primary officers": main.n_units if main else None,
                "sensitivity estimate": num(effect.estimate),
                "sensitivity 95% CI": interval(effect.ci_low, effect.ci_high),
                "sensitivity officers": effect.n_units,
            }
        )
    return pd.DataFrame(rows)
