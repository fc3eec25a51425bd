"""The report's plain-language sentences: what was found, what was not, what is not a finding
(exploratory, or not significant once adjusted for the family's multiple outcomes), what could not
be analysed, and caveats; one sentence per effect a department reader understands, worded as the
effect of assignment to training (intent-to-treat).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from statsmodels.stats.multitest import multipletests

from analysis.results import Effect
from middlestep.report.context import ALPHA_THRESHOLD, RATIO_SCALES, UNGATED_LABEL, ReportContext
from middlestep.report.numbers import (
    finite,
    is_detectable,
    num,
    outcome_label,
    p_value_text,
    signed,
)
from middlestep.report.sections import power_sentences

ASSIGNMENT = "Assignment to training (intent-to-treat)"
ROLLOUT = "Training (staggered roll-out: trained vs not yet trained officers)"


def describe_effect(effect: Effect, subject: str = ASSIGNMENT) -> str:
    """One sentence a department reader understands, in the words of what was estimated (by
    default the effect of assignment to training, intent-to-treat, not of training received),
    naming the estimator that gave it."""
    label = outcome_label(effect.outcome)
    if not finite(effect.estimate):
        return f"The effect on {label} could not be estimated ({effect.estimator})."
    by = f"{effect.estimator}: "
    ci = f"95% CI {num(effect.ci_low)} to {num(effect.ci_high)}"
    if effect.scale in RATIO_SCALES:
        kind = "rate ratio" if effect.scale == "rate_ratio" else "odds ratio"
        what = label if effect.scale == "rate_ratio" else f"the odds of {label}"
        if not is_detectable(effect):
            return (
                f"{subject}: no detectable change in {what}; {rules_out(effect)} "
                f"({by}{kind} {num(effect.estimate)}, {ci})."
            )
        change = effect.estimate - 1.0
        verb = "increased" if change > 0 else "reduced"
        return (
            f"{subject} {verb} {what} by {abs(change):.0%} "
            f"({by}{kind} {num(effect.estimate)}, {ci})."
        )
    value, low, high, unit = _in_reported_units(effect)
    ci = f"95% CI {num(low)} to {num(high)}"
    if not is_detectable(effect):
        return (
            f"{subject}: no detectable change in {label}; {rules_out(effect)} "
            f"({by}difference {signed(value)} {unit}, {ci})."
        )
    verb = "increased" if value > 0 else "decreased"
    return f"{subject} {verb} {label} by {num(abs(value))} {unit} ({by}{ci})."


def has_width(effect: Effect) -> bool:
    """A finite estimate with a positive standard error and an interval wider than a point: an
    estimator that returns a zero-width interval (an outcome constant in an arm) measured
    nothing, and its p-value of 0 is not evidence."""
    if not (finite(effect.estimate) and finite(effect.ci_low) and finite(effect.ci_high)):
        return False
    if finite(effect.std_error) and effect.std_error <= 0:
        return False
    return effect.ci_high - effect.ci_low > 1e-9 * max(1.0, abs(effect.estimate))


def rules_out(effect: Effect) -> str:
    """What a 95% interval that includes no effect excludes, in the effect's reported units."""
    if effect.scale in RATIO_SCALES:
        reduction = 1.0 - effect.ci_low
        increase = effect.ci_high - 1.0
        return (
            f"the interval rules out reductions larger than {reduction:.0%} and increases "
            f"larger than {increase:.0%}"
        )
    _, low, high, unit = _in_reported_units(effect)
    return (
        f"the interval rules out decreases larger than {num(abs(low))} {unit} and increases "
        f"larger than {num(high)} {unit}"
    )


def _in_reported_units(effect: Effect) -> tuple[float, float, float, str]:
    """(estimate, ci_low, ci_high, unit): a difference in proportions in percentage points."""
    if effect.scale == "difference" and "probability" in effect.estimator:
        return (
            100 * effect.estimate,
            100 * effect.ci_low,
            100 * effect.ci_high,
            "percentage points",
        )
    if effect.scale == "percentage_points":
        return effect.estimate, effect.ci_low, effect.ci_high, "percentage points"
    unit = "standard deviations" if effect.scale == "sd" else "points"
    unit = effect.extras.get("unit") or unit  # e.g. "per officer-month"
    return effect.estimate, effect.ci_low, effect.ci_high, unit


def adjusted_p_values(
    effects: Sequence[Effect], plan: Mapping[str, Any] | None
) -> dict[str, tuple[float, str, str, str]]:
    """outcome -> (adjusted p, method, role, family) over the families of the analysis plan.

    Without a plan, every estimated effect is one Holm family (the conservative choice). An
    exploratory outcome, or one in no family, is never adjusted into a finding.
    """
    families = [
        (family["outcomes"], family["multiplicity"], family["role"], f"{family['name']} family")
        for family in (plan or {}).get("families", [])
    ] or [([effect.outcome for effect in effects], "holm", "confirmatory", "all outcomes")]
    adjusted: dict[str, tuple[float, str, str, str]] = {}
    for outcomes, method, role, family in families:
        members = [e for e in effects if e.outcome in outcomes and finite(e.p_value)]
        if not members:
            continue
        p_values = [float(e.p_value) for e in members]
        if method == "none":
            values = p_values
        else:
            values = multipletests(p_values, method=method)[1].tolist()
        for effect, value in zip(members, values, strict=True):
            adjusted[effect.outcome] = (float(value), method, role, family)
    return adjusted


def summary_sentences(context: ReportContext) -> dict[str, list[str]]:
    """What was found, what was not, what was not a finding, what could not be analysed, and
    caveats. A finding is an effect of a confirmatory or secondary family whose p-value,
    adjusted for the family's multiple outcomes as the plan says, is below 5%."""
    # the design's primary estimates when there are any, else (a roll-out) the headline effects
    effects = list(context.primary_effects) or list(context.effects)
    adjusted = adjusted_p_values(effects, context.plan)
    subject = ROLLOUT if context.rollout is not None and not context.primary_effects else ASSIGNMENT
    found, not_found, not_findings, not_analysed = [], [], [], []
    for effect in effects:
        if not has_width(effect):  # no real uncertainty is zero: neither a finding nor a null
            not_analysed.append(
                f"{outcome_label(effect.outcome)[:1].upper()}{outcome_label(effect.outcome)[1:]}: "
                f"not estimated, the estimator ({effect.estimator}) gave no usable interval "
                "(too little variation in this data)."
            )
            continue
        sentence = describe_effect(effect, subject)
        if not is_detectable(effect):
            not_found.append(sentence)
            continue
        p_adjusted, method, role, family = adjusted.get(
            effect.outcome, (float("nan"), "none", "", "")
        )
        adjustment = _adjusted_text(method, p_adjusted, family)
        if role in ("confirmatory", "secondary") and p_adjusted < 0.05:
            found.append(f"{sentence[:-1]}; {adjustment}.")
        else:
            why = (
                "exploratory outcome"
                if role in ("exploratory", "")
                else f"not significant after adjustment ({adjustment})"
            )
            not_findings.append(
                f"{sentence[:-1]}; unadjusted p {p_value_text(effect.p_value)}, {why}."
            )
    # what the gate says the data cannot support, then what the analysis had to leave out
    # (an item without post-period clips of both arms, an estimator that failed on the data)
    left_out = [row for row in gate_analyses(context) if not row.get("supported")]
    named = {row.get("analysis") for row in left_out}
    left_out += [row for row in context.not_estimated if row.get("analysis") not in named]
    not_analysed += [
        f"{row['analysis'][:1].upper()}{row['analysis'][1:]}: not estimated, "
        f"{row.get('reason') or 'not supported by the data'}."
        for row in left_out
    ]
    caveats = []
    if not context.is_publishable:
        caveats.append(f"{UNGATED_LABEL}: {context.ungated_reason}.")
    low_alpha = low_alpha_items(context.reliability)
    if low_alpha:
        items = ", ".join(f"{outcome_label(item)} (alpha {alpha:.2f})" for item, alpha in low_alpha)
        caveats.append(
            f"Coders agreed less than the usual standard (Krippendorff's alpha "
            f"{ALPHA_THRESHOLD}) on: {items}; these items are measured with more error, so "
            "effects on them are likely attenuated towards no effect and a null on them is "
            "weaker evidence of no change."
        )
    if context.excluded_items:
        # the plan's rule is flag and report: the primary estimates keep every plan outcome
        where = (
            "Left out of the difference-in-differences (the robustness check) as unreliable, "
            "kept in the primary estimates as the analysis plan says: "
            if context.primary_effects
            else "Left out of the estimates as unreliable: "
        )
        caveats.append(
            where + ", ".join(outcome_label(item) for item in context.excluded_items) + "."
        )
    if context.effects:  # a plan's families matter only to estimates
        caveats += plan_caveats(context.plan)
    caveats += list(context.data_notes)  # what the figures above rest on
    if not context.effects and context.department is not None:
        not_found.append(
            "No trial in this data, so no effect was estimated: the report describes the "
            "department's use of force and plans a trial from it."
        )
        could_detect_trial = planning_sentences(context.department)
    elif not context.effects:
        not_found.append("No effects were estimated.")
    box = context.open_box
    could_detect = power_sentences(box, context.effects)[:2] if box is not None else []
    if not context.effects and context.department is not None:
        could_detect = could_detect_trial
    return {
        "found": found,
        "not_found": not_found,
        "not_findings": not_findings,
        "not_analysed": not_analysed,
        "could_detect": could_detect,
        "caveats": caveats,
    }


def _adjusted_text(method: str, p_adjusted: float, family: str) -> str:
    name = {"holm": "Holm", "fdr_bh": "Benjamini-Hochberg"}.get(method, method)
    return f"{name}-adjusted p {p_value_text(p_adjusted)} over the {family}"


def plan_caveats(plan: Mapping[str, Any] | None) -> list[str]:
    """The plan's registration and deviations, said where a reader of the summary sees them."""
    if plan is None:
        return [
            "No pre-registered analysis plan: every estimate is one family adjusted by Holm's "
            "method."
        ]
    lines = [f"Deviation from the registered analysis plan: {line}." for line in plan["deviations"]]
    if not plan.get("registered"):
        lines.append(
            f"The analysis plan (sha256 {plan['sha256'][:12]}) was not registered before "
            "post-period outcomes arrived."
        )
    return lines


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


def planning_sentences(figures: Any) -> list[str]:
    """What a trial planned on the department's own data could detect (analysis/planning.py)."""
    planning = getattr(figures, "planning", None)
    if planning is None:
        return []
    sentences = []
    for design in planning.designs.to_dict("records"):
        ratio = design.get("detectable_rate_ratio")
        if ratio is None or ratio != ratio:  # NaN: not reached within the simulated sizes
            continue
        sentences.append(
            f"A {design['design'].split(' (')[0]} trial of the department's "
            f"{int(design['officers']):,} officers "
            f"over {int(design['months'])} months would detect a rate ratio of {num(ratio)} "
            f"(a {num(100 * (1 - ratio))}% reduction in force per officer-month) with "
            f"{planning.target_power:.0%} power (simulated)."
        )
    return sentences
