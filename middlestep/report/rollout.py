"""The report's staggered roll-out sections (analysis/rollout.py, middlestep/rollout.py).

* a roll-out department (no randomized arms, e.g. Chicago): the design and sample, the estimates
  of the four estimands x three outcomes with the efficient and Callaway & Sant'Anna estimators
  side by side, one event-study plot per outcome, the pre-trend balance checks;
* a wait-list trial: its force and complaint effects by the staggered estimators beside the
  Poisson difference-in-differences rate ratio.

The sections use `middlestep.report.sections.Section`, which both templates render.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from analysis.results import Effect
from middlestep.report.plots import event_study_png
from middlestep.report.sections import Plot, Section

PUBLISHED_NOTE = (
    "Published estimates: this repository holds no published figures of the Chicago roll-out "
    "to compare with (neither data/chicago_pj/README.md nor the estimator spec lists any), so "
    "the estimates are not checked against the paper. The panel they rest on is checked against "
    "the README's definition, officer counts and pre-training means (tests/test_chicago_panel.py)"
    ", and the estimators against the R package's output on the spec's test data."
)


def rollout_sections(
    study: Any, rollout_effects: Sequence[Effect], effects: Sequence[Effect]
) -> list[Section]:
    """The roll-out sections of a report: the study's (a roll-out department) or the wait-list
    comparison (a trial with `rollout_effects`); empty when there is neither."""
    sections: list[Section] = []
    if study is not None:
        sections += study_sections(study)
    if rollout_effects:
        sections.append(waitlist_section(rollout_effects, effects))
    return sections


def study_sections(study) -> list[Section]:
    from analysis.rollout import OUTCOME_LABELS, UNIT

    cohorts = [c for c in study.cohorts if math.isfinite(c)]
    never = len(cohorts) < len(study.cohorts)
    design = (
        f"The training was rolled out in {len(cohorts)} monthly cohorts (first trained in study "
        f"month {int(min(cohorts))} to {int(max(cohorts))} of {study.n_periods}). "
        + (
            "Officers never trained in the window form a comparison group too. "
            if never
            else "Every officer is eventually trained, so an effect compares officers already "
            "trained with officers not yet trained in the same month. "
        )
        + f"Sample '{study.sample}' ({study.sample_description}): {study.n_units:,} officers "
        f"x {study.n_periods} months, a balanced panel."
        + (
            " It keeps only officers still serving after the window, which conditions on a "
            "variable training may change (whether an officer stays); its '-itt' twin does not."
            if not study.sample.endswith("-itt")
            else ""
        )
    )
    estimators = (
        "Two estimators side by side: Roth & Sant'Anna's efficient estimator (it weights the "
        "pre-training difference between cohorts by the plug-in beta that minimises the variance) "
        "and Callaway & Sant'Anna's (not-yet-trained comparisons, beta = 1). Estimates are "
        f"differences in mean counts {UNIT} (trained minus not yet trained). Each has a "
        "design-based standard error (refined) and the conservative Neyman one; the 95% interval "
        "uses the design-based SE. Estimands: simple (each officer-month after training weighted "
        "equally), cohort (each cohort equally), calendar (each month equally), event study "
        "(months since training)."
    )
    fisher = (
        f"Fisher randomization p-values permute the cohort labels ({study.permutations} draws, "
        + ("the R package's draws" if study.rng == "r" else f"numpy's generator, seed {study.seed}")
        + "; the test statistic is |estimate / design-based SE|)."
        if study.permutations
        else "Fisher randomization p-values were not computed (0 permutations)."
    )
    means = ", ".join(
        f"{OUTCOME_LABELS.get(outcome, outcome)} {value:.3f}"
        for outcome, value in study.pre_means.items()
        if outcome != "months" and value is not None
    )
    paragraphs = [design, estimators, fisher]
    if means:
        paragraphs.append(
            f"For scale: in the {study.pre_means.get('months')} months before the first cohort "
            f"was trained, officers averaged {means} per officer-month."
        )
    sections = [
        Section(
            "Staggered roll-out effects",
            tuple(paragraphs),
            (
                (
                    f"Estimates by estimand and outcome ({study.sample} sample; difference {UNIT})",
                    _display(study.estimates_frame(), study.permutations),
                ),
            ),
            notes=(PUBLISHED_NOTE, *study.notes),
        )
    ]
    plots = tuple(
        Plot(
            f"event_study_{outcome}.png",
            event_study_png(study.event_studies, outcome, title=study.plot_title(outcome)),
            f"Event study of {OUTCOME_LABELS.get(outcome, outcome)}: effect by months since "
            "training, efficient and Callaway & Sant'Anna estimators, 95% intervals",
        )
        for outcome in dict.fromkeys(study.event_studies["outcome"])
    )
    times = sorted(set(study.event_studies["event_time"]))
    sections.append(
        Section(
            "Event studies: effects by months since training",
            (
                f"Effects in month e = {times[0]} to {times[-1]} after each cohort's training "
                "month, the two estimators side by side (dots: estimates; bars: 95% intervals). "
                "Later event times rest on fewer cohorts (a cohort contributes only while a "
                "later one is still untrained), so their intervals widen.",
            ),
            plots=plots,
        )
    )
    balance = study.balance_frame()
    sections.append(
        Section(
            "Pre-trend balance checks",
            (
                "Before training, cohorts should not differ beyond chance: each estimand's "
                "pre-training contrast (the difference the efficient estimator adjusts for) is "
                "tested against zero, and all of them jointly (Wald test; contrasts: simple, "
                "cohort, calendar and the event study at each event time shown). A small joint "
                "p-value warns that cohorts differed before training.",
            ),
            (
                ("Joint test per outcome", _display(balance, study.permutations)),
                (
                    "Single contrasts (simple, cohort, calendar)",
                    _display(study.balance_contrasts(), study.permutations),
                ),
            ),
        )
    )
    return sections


def waitlist_section(rollout_effects: Sequence[Effect], effects: Sequence[Effect]) -> Section:
    from analysis.rollout import UNIT, waitlist_comparison_frame

    outcomes = {effect.outcome for effect in rollout_effects}
    did = [e for e in effects if e.outcome in outcomes and e.scale == "rate_ratio"]
    first = rollout_effects[0]
    paragraphs = [
        "The wait-list trial is a staggered roll-out with two cohorts: the treatment arm trained "
        "at once, the control arm a year later. The roll-out estimators (Roth & Sant'Anna's "
        "efficient estimator and Callaway & Sant'Anna's) compare, month by month, officers "
        "already trained with officers not yet trained, on a balanced panel: "
        + samples_sentence(rollout_effects),
        f"Scales differ: the roll-out estimates are differences in mean counts {UNIT} "
        "(no exposure offset), the difference-in-differences estimate a ratio of rates per call "
        "attended. For a rough comparison the column 'relative change' divides each roll-out "
        "estimate by the pre-training mean per officer-month, and gives the rate ratio minus 1 "
        "for the difference-in-differences.",
    ]
    return Section(
        "The wait-list trial as a staggered roll-out",
        tuple(paragraphs),
        (
            (
                "Roll-out estimates beside the difference-in-differences",
                _display(
                    waitlist_comparison_frame(rollout_effects, did),
                    first.extras.get("n_permutations"),
                ),
            ),
        ),
    )


def samples_sentence(rollout_effects: Sequence[Effect]) -> str:
    """Which officers each of the wait-list view's panels holds, and which of them conditions on
    retention (`middlestep.rollout.waitlist_effects`)."""
    officers: dict[tuple[str, bool], int] = {}
    for effect in rollout_effects:
        key = (
            str(effect.extras.get("sample", "full")),
            bool(effect.extras.get("retained_only", True)),
        )
        officers.setdefault(key, effect.n_units)
    itt = [(sample, n) for (sample, retained), n in officers.items() if not retained]
    retained = [(sample, n) for (sample, is_retained), n in officers.items() if is_retained]
    parts = []
    if itt:
        sample, n = itt[0]
        parts.append(
            f"every randomized officer serving when the study window began ({n:,} officers, "
            f"sample '{sample}'): officers who left stay in their arm's cohort, with no events "
            "after leaving, so the comparison does not condition on retention"
        )
    if retained:
        sample, n = retained[0]
        parts.append(
            (
                "as a sensitivity analysis, only the officers still serving after the window "
                if itt
                else "the officers still serving after the study window "
            )
            + f"({n:,} officers, sample '{sample}'): that conditions on retention, a "
            "post-assignment variable training may change"
            + ("" if itt else "; read it as a check of the estimators, not of the ITT effect")
        )
    return "; ".join(parts) + "."


def _display(frame, permutations: int | None = None):
    """The frame as the report's tables write every number (middlestep/report/tables.py), its
    Fisher p-values no finer than their draws; results.json keeps the full numbers."""
    out = frame.copy()
    out.attrs["permutations"] = permutations
    return out
