"""The report's plain-language sentences: what was found, what was not, what could not be
analysed, and caveats; one sentence per effect a department reader understands.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from analysis.results import Effect
from middlestep.report.context import ALPHA_THRESHOLD, RATIO_SCALES, UNGATED_LABEL, ReportContext
from middlestep.report.numbers import finite, is_detectable, num, outcome_label
from middlestep.report.sections import power_sentences


def describe_effect(effect: Effect) -> str:
    """One sentence a department reader understands."""
    label = outcome_label(effect.outcome)
    if not finite(effect.estimate):
        return f"The effect on {label} could not be estimated."
    ci = f"95% CI {num(effect.ci_low)} to {num(effect.ci_high)}"
    if effect.scale in RATIO_SCALES:
        kind = "rate ratio" if effect.scale == "rate_ratio" else "odds ratio"
        if not is_detectable(effect):
            return f"No detectable change in {label} ({kind} {num(effect.estimate)}, {ci})."
        change = effect.estimate - 1.0
        verb = "increased" if change > 0 else "reduced"
        subject = label if effect.scale == "rate_ratio" else f"the odds of {label}"
        return (
            f"Training {verb} {subject} by {abs(change):.0%} ({kind} {num(effect.estimate)}, {ci})."
        )
    unit = "standard deviations" if effect.scale == "sd" else "points"
    unit = effect.extras.get("unit") or unit  # e.g. "per officer-month"
    if not is_detectable(effect):
        return f"No detectable change in {label} (difference {effect.estimate:+.3g} {unit}, {ci})."
    verb = "increased" if effect.estimate > 0 else "decreased"
    return f"Training {verb} {label} by {num(abs(effect.estimate))} {unit} ({ci})."


def summary_sentences(context: ReportContext) -> dict[str, list[str]]:
    """What was found, what was not, what could not be analysed, and caveats."""
    found = [describe_effect(e) for e in context.effects if is_detectable(e)]
    not_found = [describe_effect(e) for e in context.effects if not is_detectable(e)]
    not_analysed = [
        f"{row['analysis'][:1].upper()}{row['analysis'][1:]} were not estimated: "
        f"{row.get('reason') or 'not supported by the data'}."
        for row in gate_analyses(context)
        if not row.get("supported")
    ]
    caveats = []
    if not context.is_publishable:
        caveats.append(f"{UNGATED_LABEL}: {context.ungated_reason}.")
    low_alpha = low_alpha_items(context.reliability)
    if low_alpha:
        items = ", ".join(f"{outcome_label(item)} (alpha {alpha:.2f})" for item, alpha in low_alpha)
        caveats.append(
            f"Coders agreed less than the usual standard (Krippendorff's alpha "
            f"{ALPHA_THRESHOLD}) on: {items}; effects on these items are less certain than "
            "their intervals suggest."
        )
    if context.excluded_items:
        caveats.append(
            "Left out of the confirmatory analysis as unreliable: "
            + ", ".join(outcome_label(item) for item in context.excluded_items)
            + "."
        )
    if not context.effects:
        not_found.append("No effects were estimated.")
    box = context.open_box
    could_detect = power_sentences(box, context.effects)[:2] if box is not None else []
    return {
        "found": found,
        "not_found": not_found,
        "not_analysed": not_analysed,
        "could_detect": could_detect,
        "caveats": caveats,
    }


def gate_analyses(context: ReportContext) -> list[Mapping[str, Any]]:
    rows = list((context.gate or {}).get("analyses") or [])
    return [
        row
        for row in rows
        if row.get("department_id") in (None, context.department_id) and row.get("analysis")
    ]


def low_alpha_items(reliability: pd.DataFrame | None) -> list[tuple[str, float]]:
    if reliability is None or reliability.empty:
        return []
    if not {"item", "krippendorff_alpha"} <= set(reliability.columns):
        return []
    low = reliability[reliability["krippendorff_alpha"] < ALPHA_THRESHOLD]
    return [(str(row.item), float(row.krippendorff_alpha)) for row in low.itertuples()]
