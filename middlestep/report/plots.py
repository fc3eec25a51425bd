"""Every plot of the report, as PNG bytes: the forest plot of the effects, the power curve of
the force analysis, the subgroup forest plot and the roll-out's event studies. matplotlib is
imported inside each (a headless backend); the slow ones are memoized (analysis/memo.py).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from analysis.heterogeneity import SubgroupEffects
from analysis.memo import memoized
from analysis.power import LOUISVILLE_RATE_RATIO, TARGET_POWER
from analysis.results import Effect
from analysis.rollout import UNIT
from analysis.staggered.api import ESTIMATORS
from middlestep.report.context import RATIO_SCALES
from middlestep.report.numbers import (
    finite,
    is_detectable,
    outcome_label,
    p_value_text,
    truth_for,
)

_RATIO_TICKS = (0.05, 0.1, 0.2, 0.33, 0.5, 0.67, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0)
_RATIO_TICKS += (3.0, 4.0, 5.0, 10.0, 20.0)


# Panels of the forest plot: effects on one scale share an axis.
_PANELS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Differences (points)", ("difference", "mean_difference"), "linear"),
    ("Standardised differences (SD)", ("sd",), "linear"),
    ("Ratios (log scale)", RATIO_SCALES, "log"),
)


@memoized  # a plot takes a second to draw
def forest_plot_png(
    effects: Sequence[Effect],
    *,
    truth: Mapping[str, Any] | None = None,
    title: str = "",
) -> bytes | None:
    """A forest plot of the effects as PNG bytes, one panel per scale; None without effects."""
    if not effects:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    known = {scale for _, scales, _ in _PANELS for scale in scales}
    panels = [
        (name, [e for e in effects if e.scale in scales], axis) for name, scales, axis in _PANELS
    ]
    other = [e for e in effects if e.scale not in known]
    if other:
        panels.append(("Other scales", other, "linear"))
    panels = [(name, panel_effects, axis) for name, panel_effects, axis in panels if panel_effects]

    heights = [0.9 + 0.42 * len(panel_effects) for _, panel_effects, _ in panels]
    figure, axes = plt.subplots(
        len(panels),
        1,
        figsize=(8.5, sum(heights) + 0.6),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    has_truth = False
    for axis, (name, panel_effects, scale) in zip(axes[:, 0], panels, strict=True):
        rows = list(range(len(panel_effects)))[::-1]  # first effect on top
        reference = 1.0 if scale == "log" else 0.0
        axis.axvline(reference, color="#555555", linewidth=1, linestyle="--", zorder=1)
        for row, effect in zip(rows, panel_effects, strict=True):
            estimate, low, high = effect.estimate, effect.ci_low, effect.ci_high
            if scale == "log" and not all(finite(v) and v > 0 for v in (estimate, low, high)):
                continue
            color = "#1f4e79" if is_detectable(effect) else "#8c8c8c"
            if finite(low) and finite(high):
                axis.plot([low, high], [row, row], color=color, linewidth=2.2, zorder=2)
            if finite(estimate):
                axis.plot(estimate, row, "o", color=color, markersize=7, zorder=3)
            planted = truth_for(truth, effect.outcome)
            target = planted.get("estimand", planted.get("planted"))
            if target is not None and (scale != "log" or target > 0):
                has_truth = True
                axis.plot(
                    target,
                    row,
                    "D",
                    markerfacecolor="none",
                    markeredgecolor="#c0392b",
                    markersize=8,
                    markeredgewidth=1.6,
                    zorder=4,
                )
        axis.set_yticks(rows)
        axis.set_yticklabels(
            [f"{outcome_label(e.outcome)}\n({e.estimator})" for e in panel_effects], fontsize=8.5
        )
        axis.set_ylim(-0.7, len(panel_effects) - 0.3)
        axis.set_title(name, fontsize=10, loc="left")
        axis.grid(axis="x", color="#e5e5e5", linewidth=0.8)
        axis.set_axisbelow(True)
        for side in ("top", "right"):
            axis.spines[side].set_visible(False)
        if scale == "log":
            axis.set_xscale("log")
            _include_reference(axis, 1.0, log=True)
            low, high = axis.get_xlim()
            ticks = [tick for tick in _RATIO_TICKS if low <= tick <= high] or [1.0]
            axis.xaxis.set_major_locator(FixedLocator(ticks))
            axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            axis.xaxis.set_minor_locator(NullLocator())
            axis.set_xlabel("ratio (1 = no effect), 95% CI", fontsize=8.5)
        else:
            _include_reference(axis, 0.0, log=False)
            axis.set_xlabel("estimate (0 = no effect), 95% CI", fontsize=8.5)
    if title:
        figure.suptitle(title, fontsize=11, x=0.02, ha="left")
    if has_truth:
        from matplotlib.lines import Line2D

        figure.legend(
            handles=[
                Line2D([], [], marker="o", color="#1f4e79", linestyle="-", label="estimate"),
                Line2D(
                    [],
                    [],
                    marker="D",
                    markerfacecolor="none",
                    markeredgecolor="#c0392b",
                    linestyle="none",
                    label="planted (truth)",
                ),
            ],
            loc="upper right",
            fontsize=8,
            frameon=False,
        )
    return _png(figure, dpi=150)


def _include_reference(axis, reference: float, *, log: bool) -> None:
    """Widen the x range so the no-effect line is visible, with some margin."""
    low, high = axis.get_xlim()
    low, high = min(low, reference), max(high, reference)
    if log:
        ratio = (high / low) ** 0.05
        axis.set_xlim(low / ratio, high * ratio)
    else:
        margin = 0.05 * (high - low or 1.0)
        axis.set_xlim(low - margin, high + margin)


@memoized  # a plot takes a second to draw
def power_curve_png(
    curve: pd.DataFrame, simulated: pd.DataFrame | None = None, *, title: str = ""
) -> bytes:
    """Power vs rate ratio, one line per trial size; simulated points with MC error bars."""

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.5, 4.2))
    for (n, m), group in curve.groupby(["n_officers", "n_months"], sort=False):
        label = f"{n} officers x {m} mo (DiD, analytic)"
        axis.plot(group["rate_ratio"], group["power_analytic"], label=label)
    if simulated is not None and not simulated.empty:
        axis.errorbar(
            simulated["rate_ratio"],
            simulated["power"],
            yerr=1.96 * simulated["power_mc_error"],
            fmt="o",
            color="black",
            markersize=4,
            label="primary estimator, simulated (this trial)",
        )
    axis.axhline(TARGET_POWER, color="#999999", linestyle=":", linewidth=1)
    axis.axvline(LOUISVILLE_RATE_RATIO, color="#c0392b", linestyle="--", linewidth=1)
    axis.annotate(
        "Louisville -28%",
        (LOUISVILLE_RATE_RATIO, 0.02),
        color="#c0392b",
        fontsize=8,
        xytext=(3, 0),
        textcoords="offset points",
    )
    axis.set_xlabel("rate ratio of force (ITT; 1 = no effect)")
    axis.set_ylabel("power (5% two-sided)")
    axis.set_ylim(0, 1.02)
    axis.grid(color="#eeeeee")
    axis.legend(fontsize=8, frameon=False, loc="upper right")
    if title:
        axis.set_title(title, fontsize=10, loc="left")
    return _png(figure, dpi=130)


@memoized  # a plot takes a second to draw
def subgroup_plot_png(results: Sequence[SubgroupEffects], *, title: str = "") -> bytes | None:
    """Forest plot: one row per subgroup level, one panel per outcome (effects on their scale),
    with the interaction test's p-value in each subgroup's label."""
    results = [r for r in results if r.effects]
    if not results:
        return None

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outcomes = list(dict.fromkeys(r.outcome for r in results))
    rows_per = {o: sum(len(r.effects) for r in results if r.outcome == o) for o in outcomes}
    figure, axes = plt.subplots(
        len(outcomes),
        1,
        figsize=(8.5, 0.9 + sum(0.32 * n + 0.6 for n in rows_per.values())),
        gridspec_kw={"height_ratios": [rows_per[o] + 1 for o in outcomes]},
        squeeze=False,
    )
    for axis, outcome in zip(axes[:, 0], outcomes, strict=True):
        labels, row = [], 0
        scale = "difference"
        for result in (r for r in results if r.outcome == outcome):
            for effect in result.effects:
                scale = effect.scale
                y = -row
                color = "#1f4e79" if effect.p_value < 0.05 else "#8c8c8c"
                axis.plot([effect.ci_low, effect.ci_high], [y, y], color=color, linewidth=2)
                axis.plot(effect.estimate, y, "o", color=color)
                level = str(effect.extras.get("level")).replace("_", " ")
                labels.append(
                    f"{result.subgroup.replace('_', ' ')}: {level}\n"
                    f"(interaction p = {p_value_text(result.interaction_p_value)})"
                    if effect is result.effects[0]
                    else f"{result.subgroup.replace('_', ' ')}: {level}"
                )
                row += 1
        axis.axvline(1.0 if scale == "rate_ratio" else 0.0, color="#555555", linestyle="--")
        axis.set_yticks([-i for i in range(row)])
        axis.set_yticklabels(labels, fontsize=7.5)
        axis.set_title(f"{outcome.replace('_', ' ')} ({scale}), 95% CI", fontsize=9, loc="left")
        axis.grid(axis="x", color="#eeeeee")
    if title:
        figure.suptitle(title, fontsize=10, x=0.02, ha="left")
    return _png(figure, dpi=120)


def event_study_png(event_studies: pd.DataFrame, outcome: str, *, title: str = "") -> bytes:
    """Event-study estimates with 95% intervals, the estimators side by side (dodged)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = event_studies[event_studies["outcome"] == outcome]
    estimators = list(dict.fromkeys(data["estimator"]))
    colours = {"efficient": "#1f4e79", "cs": "#c0392b", "sa": "#7d6608"}
    width = 0.32
    figure, axis = plt.subplots(figsize=(8.5, 3.6))
    axis.axhline(0.0, color="#555555", linewidth=1, linestyle="--", zorder=1)
    for position, estimator in enumerate(estimators):
        rows = data[data["estimator"] == estimator].sort_values("event_time")
        offset = (position - (len(estimators) - 1) / 2) * width
        x = rows["event_time"].to_numpy(dtype=float) + offset
        colour = colours.get(estimator, "#444444")
        axis.vlines(x, rows["ci_low"], rows["ci_high"], color=colour, linewidth=1.4, zorder=2)
        axis.plot(
            x,
            rows["estimate"],
            "o",
            color=colour,
            markersize=4,
            zorder=3,
            label=ESTIMATORS.get(estimator, estimator),
        )
    axis.set_xlabel("months since the cohort's training (event time)", fontsize=9)
    axis.set_ylabel(f"difference {UNIT}", fontsize=9)
    axis.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    axis.set_axisbelow(True)
    for side in ("top", "right"):
        axis.spines[side].set_visible(False)
    axis.legend(fontsize=8, frameon=False, ncol=2, loc="lower right", bbox_to_anchor=(1.0, 1.0))
    if title:
        axis.set_title(title, fontsize=10, loc="left")
    return _png(figure, dpi=130)


def _png(figure, *, dpi: int) -> bytes:
    """The figure laid out and saved as PNG bytes; the figure is closed."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    buffer = io.BytesIO()
    # a tight bounding box: long tick labels widen the image instead of being cut at its edge
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.12)
    plt.close(figure)
    return buffer.getvalue()


# The CONSORT-style flow: per arm, the steps of `analysis.consort.consort_flow` as boxes.
_CONSORT_BOXES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Randomized", (("randomized", "officers"),)),
    (
        "Trained",
        (("completed training before the wait-list's training", "completed training"),),
    ),
    ("Separated", (("separated before the comparison window ended", "left the department"),)),
    (
        "Officers with coded clips",
        (
            ("with coded clips before training", "before training"),
            ("with coded clips after training", "after training"),
            ("with coded clips both before and after", "both"),
            ("with no coded clip", "none"),
        ),
    ),
    (
        "Force analysis",
        (("in the force analysis (active in the comparison window)", "officers"),),
    ),
    (
        "Coded clips",
        (
            ("coded clips before training", "before training"),
            ("coded clips after training", "after training"),
        ),
    ),
)
CONSORT_ARMS = (("treatment", "Immediate training"), ("control", "Wait-list control"))


def consort_box_texts(flow: pd.DataFrame) -> dict[str, list[str]]:
    """Per arm, the text of each box of the flow figure, from the flow table (step x arm)."""
    counts = flow.set_index("step")
    texts: dict[str, list[str]] = {}
    for arm, _ in CONSORT_ARMS:
        boxes = []
        for heading, steps in _CONSORT_BOXES:
            lines = [
                f"{label}: {int(counts.loc[step, arm]):,}"
                for step, label in steps
                if step in counts.index
            ]
            if lines:
                boxes.append("\n".join([heading, *lines]))
        texts[arm] = boxes
    return texts


def consort_figure(flow: pd.DataFrame):
    """The flow as a figure (a matplotlib Figure): the randomized total on top, then one column
    of boxes per arm joined by arrows. Every number is the flow table's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    texts = consort_box_texts(flow)
    n_rows = max(len(boxes) for boxes in texts.values()) + 1
    figure, axis = plt.subplots(figsize=(8.0, 1.15 * n_rows + 0.4))
    axis.set_xlim(0, 1)
    axis.set_ylim(0, n_rows)
    axis.axis("off")
    style = {"boxstyle": "round,pad=0.4", "facecolor": "#f4f6f8", "edgecolor": "#555555"}
    total = int(flow.set_index("step").loc["randomized", "total"])
    top = n_rows - 0.5
    axis.text(
        0.5,
        top,
        f"Officers randomized within blocks: {total:,}",
        ha="center",
        va="center",
        fontsize=9,
        bbox=style,
    )
    for column, (arm, title) in enumerate(CONSORT_ARMS):
        x = 0.27 + 0.46 * column
        axis.annotate(
            "",
            xy=(x, top - 0.6),
            xytext=(0.5, top - 0.2),
            arrowprops={"arrowstyle": "->", "color": "#555555"},
        )
        for row, text in enumerate(texts[arm]):
            y = top - 1.0 - row
            label = f"{title}\n{text}" if row == 0 else text
            axis.text(x, y, label, ha="center", va="center", fontsize=7.5, bbox=style)
            if row:
                axis.annotate(
                    "",
                    xy=(x, y + 0.38),
                    xytext=(x, y + 0.62),
                    arrowprops={"arrowstyle": "->", "color": "#555555"},
                )
    return figure


@memoized  # drawn every report; its flow table rarely changes
def consort_flow_png(flow: pd.DataFrame) -> bytes | None:
    """The flow figure as PNG bytes, or None when the flow has no randomized officers."""
    if flow is None or not len(flow) or "randomized" not in set(flow["step"]):
        return None
    return _png(consort_figure(flow), dpi=130)
