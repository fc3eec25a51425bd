"""The report: HTML, Markdown and JSON of a department's effect estimates and their provenance.

``write_report(out_dir, context)`` writes

* ``index.html``: one self-contained page (inline CSS, the forest plot as a base64 PNG);
* ``report.md`` with ``forest_plot.png`` beside it;
* ``results.json``: everything machine-readable (effects via ``Effect.to_dict()``).

A report is marked "UNGATED: not for publication" on every output unless the estimates ran on a
gated build: ``context.is_gated`` is true and the gate result it carries passed.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.memo import memoized
from analysis.results import Effect
from middlestep.jsonable import jsonable
from middlestep.report_rollout import rollout_sections
from middlestep.report_sections import Section, open_box_sections, power_sentences

TEMPLATES_DIR = Path(__file__).parent / "templates"

UNGATED_LABEL = "UNGATED: not for publication"
GATED_LABEL = "GATED: quality gate passed"

RATIO_SCALES = ("rate_ratio", "odds_ratio")
_RATIO_TICKS = (0.05, 0.1, 0.2, 0.33, 0.5, 0.67, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0)
_RATIO_TICKS += (3.0, 4.0, 5.0, 10.0, 20.0)
ALPHA_THRESHOLD = 0.667

# Panels of the forest plot: effects on one scale share an axis.
_PANELS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Differences (points)", ("difference", "mean_difference"), "linear"),
    ("Standardised differences (SD)", ("sd",), "linear"),
    ("Ratios (log scale)", RATIO_SCALES, "log"),
)


@dataclass(frozen=True)
class ReportContext:
    """Everything a report shows; the caller gathers it from the warehouse and the estimators.

    `gate` is the dict form of the gate result (`GateResult.to_dict()` or `latest_gate()`):
    passed, failures, warnings, analyses. `provenance` holds input files (sha256, row counts),
    model names and versions, code version, seed and scenario (synthetic), build_id and
    generated_at. `truth`, for synthetic departments: outcome -> planted effect, either a number
    or a dict with `estimand` and/or `planted`.
    """

    department_id: str
    title: str
    effects: Sequence[Effect] = ()
    balance: pd.DataFrame | None = None
    gate: Mapping[str, Any] | None = None
    reliability: pd.DataFrame | None = None
    rejects: pd.DataFrame | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)
    is_gated: bool = False
    truth: Mapping[str, Any] | None = None
    open_box: Any = None  # analysis.open_box.OpenBox: power, mediation, subgroups, ...
    reliability_items: pd.DataFrame | None = None  # alpha and kappa with bootstrap intervals
    excluded_items: tuple[str, ...] = ()  # unreliable items left out of the confirmatory set
    analysis_notes: tuple[str, ...] = ()
    rollout: Any = None  # analysis.rollout.RolloutStudy of a roll-out department
    rollout_effects: Sequence[Effect] = ()  # a wait-list trial read as a staggered roll-out

    @property
    def gate_passed(self) -> bool:
        return bool(self.gate) and self.gate.get("passed") is True

    @property
    def is_publishable(self) -> bool:
        """Gated estimates on a build whose gate passed."""
        return self.is_gated and self.gate_passed

    @property
    def status(self) -> str:
        return GATED_LABEL if self.is_publishable else UNGATED_LABEL

    @property
    def ungated_reason(self) -> str | None:
        if not self.is_gated:
            return "the estimates were computed without the quality gate"
        if not self.gate:
            return "there is no quality-gate result for this build"
        if not self.gate_passed:
            return "the quality gate failed for this build"
        return None


@dataclass(frozen=True)
class ReportPaths:
    out_dir: Path
    html: Path
    markdown: Path
    json: Path
    forest_plot: Path | None


def write_report(out_dir: Path, context: ReportContext) -> ReportPaths:
    """Write index.html, report.md, results.json (and forest_plot.png) into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    provenance = dict(context.provenance)
    provenance.setdefault("generated_at", datetime.now(UTC).isoformat(timespec="seconds"))

    png = forest_plot_png(context.effects, truth=context.truth, title=context.title)
    plot_path = None
    if png is not None:
        plot_path = out_dir / "forest_plot.png"
        plot_path.write_bytes(png)

    summary = summary_sentences(context)
    view = _view(context, provenance, summary)
    sections = rollout_sections(context.rollout, context.rollout_effects, context.effects)
    sections += open_box_sections(
        context.open_box,
        context.effects,
        context.reliability_items,
        context.excluded_items,
        ALPHA_THRESHOLD,
    )
    for section in sections:
        for plot in section.plots:
            (out_dir / plot.file_name).write_bytes(plot.png)
    view["sections"] = [_section_view(section) for section in sections]

    html_path = out_dir / "index.html"
    markdown_path = out_dir / "report.md"
    json_path = out_dir / "results.json"
    html_path.write_text(
        _render(
            "report.html.j2",
            view,
            plot_data_uri=(
                "data:image/png;base64," + base64.b64encode(png).decode("ascii") if png else None
            ),
        ),
        encoding="utf-8",
    )
    markdown_path.write_text(
        _render("report.md.j2", view, plot_file=plot_path.name if plot_path else None),
        encoding="utf-8",
    )
    json_path.write_text(
        json.dumps(
            results_document(context, provenance, summary), indent=2, allow_nan=False, default=str
        )
        + "\n",
        encoding="utf-8",
    )
    return ReportPaths(
        out_dir=out_dir,
        html=html_path,
        markdown=markdown_path,
        json=json_path,
        forest_plot=plot_path,
    )


# --------------------------------------------------------------------------------------------
# Plain-language summary
# --------------------------------------------------------------------------------------------


def outcome_label(outcome: str) -> str:
    return outcome.replace("_", " ")


def null_value(effect: Effect) -> float:
    return 1.0 if effect.scale in RATIO_SCALES else 0.0


def is_detectable(effect: Effect) -> bool:
    """The 95% interval excludes no effect (0 for differences, 1 for ratios)."""
    low, high = effect.ci_low, effect.ci_high
    if _finite(low) and _finite(high):
        null = null_value(effect)
        return low > null or high < null
    return _finite(effect.p_value) and effect.p_value < 0.05


def describe_effect(effect: Effect) -> str:
    """One sentence a department reader understands."""
    label = outcome_label(effect.outcome)
    if not _finite(effect.estimate):
        return f"The effect on {label} could not be estimated."
    ci = f"95% CI {_num(effect.ci_low)} to {_num(effect.ci_high)}"
    if effect.scale in RATIO_SCALES:
        kind = "rate ratio" if effect.scale == "rate_ratio" else "odds ratio"
        if not is_detectable(effect):
            return f"No detectable change in {label} ({kind} {_num(effect.estimate)}, {ci})."
        change = effect.estimate - 1.0
        verb = "increased" if change > 0 else "reduced"
        subject = label if effect.scale == "rate_ratio" else f"the odds of {label}"
        return (
            f"Training {verb} {subject} by {abs(change):.0%} "
            f"({kind} {_num(effect.estimate)}, {ci})."
        )
    unit = "standard deviations" if effect.scale == "sd" else "points"
    unit = effect.extras.get("unit") or unit  # e.g. "per officer-month"
    if not is_detectable(effect):
        return f"No detectable change in {label} (difference {effect.estimate:+.3g} {unit}, {ci})."
    verb = "increased" if effect.estimate > 0 else "decreased"
    return f"Training {verb} {label} by {_num(abs(effect.estimate))} {unit} ({ci})."


def summary_sentences(context: ReportContext) -> dict[str, list[str]]:
    """What was found, what was not, what could not be analysed, and caveats."""
    found = [describe_effect(e) for e in context.effects if is_detectable(e)]
    not_found = [describe_effect(e) for e in context.effects if not is_detectable(e)]
    not_analysed = [
        f"{row['analysis'][:1].upper()}{row['analysis'][1:]} were not estimated: "
        f"{row.get('reason') or 'not supported by the data'}."
        for row in _analyses(context)
        if not row.get("supported")
    ]
    caveats = []
    if not context.is_publishable:
        caveats.append(f"{UNGATED_LABEL}: {context.ungated_reason}.")
    low_alpha = _low_alpha_items(context.reliability)
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


def _section_view(section: Section) -> dict[str, Any]:
    return {
        "title": section.title,
        "paragraphs": list(section.paragraphs),
        "tables": [(caption, _table(frame)) for caption, frame in section.tables],
        "plots": [
            {
                "file_name": plot.file_name,
                "alt": plot.alt,
                "data_uri": "data:image/png;base64," + base64.b64encode(plot.png).decode("ascii"),
            }
            for plot in section.plots
        ],
        "notes": list(section.notes),
    }


def _analyses(context: ReportContext) -> list[Mapping[str, Any]]:
    rows = list((context.gate or {}).get("analyses") or [])
    return [
        row
        for row in rows
        if row.get("department_id") in (None, context.department_id) and row.get("analysis")
    ]


def _shown(context: ReportContext, analysis: str, frame: pd.DataFrame | None) -> bool:
    """Show an analysis' section unless the gate says it is unsupported and there is nothing."""
    supported = {row["analysis"]: row.get("supported") for row in _analyses(context)}
    return supported.get(analysis, True) is not False or not (frame is None or frame.empty)


def _low_alpha_items(reliability: pd.DataFrame | None) -> list[tuple[str, float]]:
    if reliability is None or reliability.empty:
        return []
    if not {"item", "krippendorff_alpha"} <= set(reliability.columns):
        return []
    low = reliability[reliability["krippendorff_alpha"] < ALPHA_THRESHOLD]
    return [(str(row.item), float(row.krippendorff_alpha)) for row in low.itertuples()]


# --------------------------------------------------------------------------------------------
# Forest plot
# --------------------------------------------------------------------------------------------


def truth_for(truth: Mapping[str, Any] | None, outcome: str) -> dict[str, float]:
    """The planted effect and estimand of `outcome` from a truth mapping (may be empty)."""
    if not truth:
        return {}
    outcomes = truth.get("outcomes") if isinstance(truth.get("outcomes"), Mapping) else truth
    value = outcomes.get(outcome)
    if isinstance(value, Mapping):
        found = {
            key: float(value[key])
            for key in ("estimand", "planted", "effect", "planted_effect")
            if isinstance(value.get(key), int | float) and not isinstance(value.get(key), bool)
        }
        if "planted" not in found:
            for alias in ("effect", "planted_effect"):
                if alias in found:
                    found["planted"] = found[alias]
        return {key: found[key] for key in ("estimand", "planted") if key in found}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"estimand": float(value)}
    return {}


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
            if scale == "log" and not all(_finite(v) and v > 0 for v in (estimate, low, high)):
                continue
            color = "#1f4e79" if is_detectable(effect) else "#8c8c8c"
            if _finite(low) and _finite(high):
                axis.plot([low, high], [row, row], color=color, linewidth=2.2, zorder=2)
            if _finite(estimate):
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
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=150)
    plt.close(figure)
    return buffer.getvalue()


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


# --------------------------------------------------------------------------------------------
# Tables and rendering
# --------------------------------------------------------------------------------------------


def effects_frame(
    effects: Sequence[Effect], truth: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    rows = []
    for effect in effects:
        row = {
            "outcome": effect.outcome,
            "estimator": effect.estimator,
            "scale": effect.scale,
            "estimate": effect.estimate,
            "std_error": effect.std_error,
            "ci_low": effect.ci_low,
            "ci_high": effect.ci_high,
            "p_value": effect.p_value,
            "n_units": effect.n_units,
            "n_obs": effect.n_obs,
        }
        if truth:
            planted = truth_for(truth, effect.outcome)
            row["truth_estimand"] = planted.get("estimand")
            row["truth_planted"] = planted.get("planted")
        if any("fisher_p_value" in e.extras for e in effects):
            row["fisher_p_value"] = effect.extras.get("fisher_p_value")
        rows.append(row)
    return pd.DataFrame(rows)


def _view(
    context: ReportContext, provenance: Mapping[str, Any], summary: Mapping[str, list[str]]
) -> dict[str, Any]:
    gate = {
        "build_id": provenance.get("build_id"),
        "checked_at": None,
        "passed": False,
        "n_expectations": None,
        "n_failed": None,
        "failures": [],
        "warnings": [],
        **dict(context.gate or {}),
    }
    provenance_scalars = {
        key: value
        for key, value in provenance.items()
        if not isinstance(value, Mapping | list | tuple)
    }
    provenance_tables = {
        key: _frame_of(value)
        for key, value in provenance.items()
        if isinstance(value, Mapping | list | tuple)
    }
    notes = [(e.outcome, e.estimator, note) for e in context.effects for note in e.notes]
    return {
        "context": context,
        "status": context.status,
        "is_publishable": context.is_publishable,
        "ungated_reason": context.ungated_reason,
        "ungated_label": UNGATED_LABEL,
        "summary": summary,
        "effects": _table(effects_frame(context.effects, context.truth)),
        "effect_notes": notes,
        "has_truth": bool(context.truth),
        "balance": _table(context.balance),
        "reliability": _table(context.reliability),
        # sections of analyses the gate says the data does not support are left out
        "show_balance": _shown(context, "randomization balance", context.balance),
        "show_reliability": _shown(context, "SSO reliability", context.reliability),
        "alpha_threshold": ALPHA_THRESHOLD,
        "rejects": _table(context.rejects),
        "gate": gate,
        "has_gate": bool(context.gate),
        "gate_analyses": _table(
            pd.DataFrame(
                [
                    {
                        "analysis": row.get("analysis"),
                        "supported": "yes" if row.get("supported") else "no",
                        "reason": row.get("reason") or "",
                    }
                    for row in _analyses(context)
                ]
            )
        ),
        "provenance_scalars": {key: _cell(value) for key, value in provenance_scalars.items()},
        "provenance_tables": {key: _table(frame) for key, frame in provenance_tables.items()},
    }


@dataclass(frozen=True)
class _Table:
    """A frame formatted for both templates."""

    columns: list[str]
    rows: list[list[str]]

    @property
    def is_empty(self) -> bool:
        return not self.rows

    def markdown(self) -> str:
        if not self.columns:
            return ""
        escape = lambda text: str(text).replace("|", "\\|").replace("\n", " ")  # noqa: E731
        lines = [
            "| " + " | ".join(escape(c) for c in self.columns) + " |",
            "|" + "|".join("---" for _ in self.columns) + "|",
        ]
        lines += ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in self.rows]
        return "\n".join(lines)


def _table(frame: pd.DataFrame | None) -> _Table:
    if frame is None or frame.empty:
        return _Table(columns=[] if frame is None else [str(c) for c in frame.columns], rows=[])
    return _Table(
        columns=[str(column) for column in frame.columns],
        rows=[[_cell(value) for value in row] for row in frame.itertuples(index=False)],
    )


def _frame_of(value: Any) -> pd.DataFrame:
    if isinstance(value, Mapping):
        if all(isinstance(item, Mapping) for item in value.values()) and value:
            return pd.DataFrame([{"name": key, **item} for key, item in value.items()])
        return pd.DataFrame({"name": list(value), "value": [_cell(v) for v in value.values()]})
    items = list(value)
    if items and all(isinstance(item, Mapping) for item in items):
        return pd.DataFrame(items)
    return pd.DataFrame({"value": [_cell(item) for item in items]})


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        if value != 0 and (abs(value) < 0.001 or abs(value) >= 1e6):
            return f"{value:.3g}"
        if value.is_integer():
            return str(int(value))
        return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.1f}"
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return _cell(value.item())
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(jsonable(value))
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def _render(template: str, view: Mapping[str, Any], **extra: Any) -> str:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return environment.get_template(template).render(**view, **extra)


def results_document(
    context: ReportContext,
    provenance: Mapping[str, Any] | None = None,
    summary: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The machine-readable report (what results.json holds)."""

    def records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
        if frame is None:
            return []
        return jsonable(frame.astype(object).where(frame.notna(), None).to_dict("records"))

    return jsonable(
        {
            "status": context.status,
            "is_gated": context.is_gated,
            "is_publishable": context.is_publishable,
            "ungated_reason": context.ungated_reason,
            "department_id": context.department_id,
            "title": context.title,
            "summary": dict(summary or summary_sentences(context)),
            "effects": [effect.to_dict() for effect in context.effects],
            "truth": dict(context.truth) if context.truth else None,
            "balance": records(context.balance),
            "gate": dict(context.gate) if context.gate else None,
            "reliability": records(context.reliability),
            "rejects": records(context.rejects),
            "open_box": context.open_box.to_dict() if context.open_box is not None else None,
            "reliability_items": records(context.reliability_items),
            "excluded_items": list(context.excluded_items),
            "analysis_notes": list(context.analysis_notes),
            "rollout": context.rollout.to_dict() if context.rollout is not None else None,
            "rollout_effects": [effect.to_dict() for effect in context.rollout_effects],
            "provenance": dict(provenance if provenance is not None else context.provenance),
        }
    )


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _num(value: float) -> str:
    if not _finite(value):
        return "n/a"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
