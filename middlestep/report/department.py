"""The report sections of a department's own force figures and of planning a trial from them
(middlestep/descriptive.py gathers them), and the list of analyses the data could not support,
each with its reason (early nightly drops: codings lag calls; a department without a trial)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from middlestep.report.force_plots import concentration_png, monthly_force_png, planning_curves_png
from middlestep.report.sections import Plot, Section


def not_estimated_section(rows: Sequence[Mapping[str, str]]) -> list[Section]:
    if not rows:
        return []
    return [
        Section(
            "Not estimated from this data",
            paragraphs=(
                "Each analysis below was left out because the data cannot support it yet (an "
                "early nightly drop: camera codings arrive weeks after the calls) or at all (no "
                "trial in the data). The rest of the report stands without them.",
            ),
            tables=(
                (
                    "Analyses left out, with the reason",
                    pd.DataFrame(list(rows), columns=["analysis", "reason"]),
                ),
            ),
        )
    ]


def data_notes_section(notes: Sequence[str]) -> list[Section]:
    """What the export leaves unknown and how the models read it (middlestep/contract.py)."""
    if not notes:
        return []
    return [Section("What the data leaves unknown", paragraphs=tuple(notes))]


def department_sections(figures: Any) -> list[Section]:
    """The force figures and the trial planning of a department without a trial."""
    if figures is None:
        return []
    sections = []
    monthly = figures.monthly
    if monthly is not None and not monthly.empty:
        rate = 1000.0 * monthly["reports"].sum() / monthly["officers"].sum()
        sections.append(
            Section(
                "Force per officer-month",
                paragraphs=(
                    f"Over {len(monthly)} months the department's officers filed "
                    f"{int(monthly['reports'].sum()):,} force reports (an officer named in a "
                    f"report counts once) in {int(monthly['officers'].sum()):,} officer-months "
                    f"served: {rate:.1f} per 1,000 officer-months. The band is the exact "
                    "Poisson 95% interval of each month's count; officers differ in their use "
                    "of force, so the real uncertainty is somewhat wider.",
                ),
                tables=(("By month", monthly),),
                plots=(
                    Plot(
                        "force_per_officer_month.png",
                        monthly_force_png(monthly),
                        "Force reports per 1,000 officer-months by month, with 95% intervals",
                    ),
                ),
            )
        )
    tables = [
        (caption, frame)
        for caption, frame in (
            ("By force level", figures.by_level),
            ("By force type", figures.by_type),
            ("By the officer's unit (roster), per 1,000 officer-months", figures.by_unit),
        )
        if frame is not None and not frame.empty
    ]
    if tables:
        sections.append(Section("Force by level, type and unit", tables=tuple(tables)))
    if figures.concentration is not None:
        sections.append(_concentration_section(figures.concentration))
    if figures.repeat_subjects is not None and not figures.repeat_subjects.empty:
        sections.append(
            Section(
                "Repeat subjects",
                paragraphs=(
                    "Civilians named in force reports (by their keyed hash: no name is loaded), "
                    "by the number of distinct reports that name them.",
                ),
                tables=(("Civilians by the reports that name them", figures.repeat_subjects),),
            )
        )
    if figures.planning is not None:
        sections.append(planning_section(figures.planning))
    return sections


def _concentration_section(concentration: Any) -> Section:
    table = concentration.table
    top = table.iloc[-1]
    return Section(
        "How concentrated force is among officers",
        paragraphs=(
            f"The {top['top_officers']} of the {concentration.n_officers:,} officers who served "
            f"({int(top['n_officers'])} officers) account for {top['share_observed']:.0%} of the "
            f"{concentration.n_reports:,} force reports. If every officer had the same rate and "
            f"differed only by chance and months served (a Poisson model with the same mean), "
            f"they would account for about {top['share_poisson']:.0%} (95% range "
            f"{top['poisson_low']:.0%} to {top['poisson_high']:.0%}). "
            f"{concentration.share_with_any_observed:.0%} of officers filed any report, against "
            f"{concentration.share_with_any_poisson:.0%} under the Poisson model.",
        ),
        tables=(("Share of force reports by the top officers", table),),
        plots=(
            Plot(
                "force_concentration.png",
                concentration_png(table),
                "Share of force reports by the top officers, observed and under a Poisson model",
            ),
        ),
    )


def planning_section(planning: Any) -> Section:
    baseline, designs = planning.baseline, planning.designs
    lines = [
        f"A trial planned on the department's own last {baseline.window_months} months: "
        f"{baseline.rate_per_officer_month * 1000:.1f} force reports per 1,000 officer-months "
        f"served, officers' propensities overdispersed by NB2 alpha {baseline.dispersion:.2f}, "
        f"{baseline.monthly_separation:.2%} of officers leaving per month "
        f"({baseline.turnover_source}), {baseline.n_officers:,} officers serving in the last "
        "month. Every simulated trial is estimated as the analysis would estimate it: a "
        "wait-list trial by the primary Poisson ANCOVA of force per officer-month, a stepped "
        "wedge by the staggered roll-out estimator."
    ]
    for row in designs.to_dict("records"):
        mde = row["detectable_rate_ratio"]
        needed = row["officers_needed"]
        lines.append(
            f"{row['design'][:1].upper()}{row['design'][1:]} over {row['months']} months: with "
            f"the department's {row['officers']:,} officers, power "
            f"{row['power_at_rate_ratio']:.0%} to detect a rate ratio of "
            f"{planning.rate_ratio:.2f}; "
            + (
                f"the smallest reduction it detects with {planning.target_power:.0%} power is "
                f"{1 - mde:.0%} (rate ratio {mde:.2f}); "
                if _finite(mde)
                else f"no simulated reduction down to rate ratio 0.3 reaches "
                f"{planning.target_power:.0%} power; "
            )
            + (
                f"about {int(needed):,} officers would be needed for "
                f"{planning.target_power:.0%} power at rate ratio {planning.rate_ratio:.2f}."
                if _finite(needed)
                else f"even {int(row['largest_size_simulated']):,} officers would not give "
                f"{planning.target_power:.0%} power at rate ratio {planning.rate_ratio:.2f}."
            )
        )
    sizes = ", ".join(
        f"{row['design'].split(' (')[0]} {row['rejection_at_no_effect']:.0%}"
        for row in designs.to_dict("records")
    )
    lines.append(
        f"With no effect (rate ratio 1) the simulated tests reject in {sizes} of trials (5% "
        "nominal): a design whose figure is well above 5% is too small for its test to be "
        "trusted, and its power above is overstated."
    )
    return Section(
        "Planning a trial from the department's own data",
        paragraphs=tuple(lines),
        tables=(("Each design at the department's size", designs),),
        plots=(
            Plot(
                "trial_planning_power.png",
                planning_curves_png(planning.power_curves, planning.target_power),
                "Simulated power of a wait-list trial and a stepped wedge at the department's size",
            ),
        ),
        notes=tuple(planning.notes),
    )


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
