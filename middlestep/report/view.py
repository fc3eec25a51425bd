"""The view model both templates render: the report's tables formatted as text cells, its
sections, the gate and provenance; and the Jinja2 rendering of ``templates/``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from middlestep.report.context import ALPHA_THRESHOLD, UNGATED_LABEL, ReportContext
from middlestep.report.numbers import effects_frame
from middlestep.report.sections import Section
from middlestep.report.summary import gate_analyses
from middlestep.report.tables import Table, cell, table

__all__ = ["Table", "render", "section_view", "table", "view_model"]

TEMPLATES_DIR = Path(__file__).parent / "templates"


def section_view(section: Section, permutations: int | None = None) -> dict[str, Any]:
    """`permutations`: the draws of the Fisher p-values in the section's tables."""
    return {
        "title": section.title,
        "paragraphs": list(section.paragraphs),
        "tables": [
            (caption, table(frame, permutations=permutations)) for caption, frame in section.tables
        ],
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


def _shown(context: ReportContext, analysis: str, frame: pd.DataFrame | None) -> bool:
    """Show an analysis' section unless the gate says it is unsupported and there is nothing."""
    supported = {row["analysis"]: row.get("supported") for row in gate_analyses(context)}
    return supported.get(analysis, True) is not False or not (frame is None or frame.empty)


def view_model(
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
    shown = provenance_view(provenance)
    return {
        "context": context,
        "status": context.status,
        "is_publishable": context.is_publishable,
        "ungated_reason": context.ungated_reason,
        "ungated_label": UNGATED_LABEL,
        "summary": summary,
        "plan": context.plan,
        "effects": table(effects_frame(context.effects, context.truth)),
        "effect_notes": grouped_notes(context.effects),
        "has_truth": bool(context.truth),
        "balance": table(context.balance),
        "reliability": table(context.reliability),
        # sections of analyses the gate says the data does not support are left out
        "show_balance": _shown(context, "randomization balance", context.balance),
        "show_reliability": _shown(context, "SSO reliability", context.reliability),
        "alpha_threshold": ALPHA_THRESHOLD,
        "rejects": table(context.rejects),
        "gate": gate,
        "has_gate": bool(context.gate),
        "gate_analyses": table(
            pd.DataFrame(
                [
                    {
                        "analysis": row.get("analysis"),
                        "supported": "yes" if row.get("supported") else "no",
                        "reason": row.get("reason") or "",
                    }
                    for row in gate_analyses(context)
                ]
            )
        ),
        "generated_at": str(provenance.get("generated_at", "")),
        "provenance_scalars": shown["scalars"],
        "provenance_tables": shown["tables"],
    }


def provenance_view(provenance: Mapping[str, Any]) -> dict[str, Any]:
    """The provenance as a reader scans it: the build's identifiers as a list, the models and
    input files as tables, a nested setting (the synthetic scenario) as one parameter a row."""
    scalars = {
        _words(key): str(value)
        for key, value in provenance.items()
        if not isinstance(value, Mapping | list | tuple) and value is not None
    }
    tables = {}
    for key, value in provenance.items():
        if isinstance(value, list | tuple):
            items = list(value)
            frame = (
                pd.DataFrame(items)
                if items and all(isinstance(item, Mapping) for item in items)
                else pd.DataFrame({"value": [str(item) for item in items]})
            )
        elif isinstance(value, Mapping):
            flat = _flatten(value)
            label = "model" if key == "models" else "parameter"
            frame = pd.DataFrame(
                {label: list(flat), "version" if key == "models" else "value": list(flat.values())}
            )
        else:
            continue
        tables[_words(key)] = table(frame.astype(str) if key == "models" else frame)
    return {"scalars": scalars, "tables": tables}


def _flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            flat.update(_flatten(item, f"{name} / "))
        elif isinstance(item, list | tuple):
            flat[name] = ", ".join(cell(element) for element in item)
        else:
            flat[name] = cell(item) if not isinstance(item, str) else item
    return flat


def _words(key: str) -> str:
    return {"build_id": "build", "plan_id": "SQLMesh plan", "code_version": "code version"}.get(
        key, key.replace("_", " ")
    )


def grouped_notes(effects) -> list[tuple[str, str]]:
    """Each note once, with the estimates it applies to: per estimator, "every estimate" or
    the outcomes."""
    outcomes_of: dict[str, list[str]] = {}
    by_note: dict[str, dict[str, list[str]]] = {}
    for effect in effects:
        label = effect.outcome.replace("_", " ")
        outcomes_of.setdefault(effect.estimator, []).append(label)
        for note in effect.notes:
            by_note.setdefault(note, {}).setdefault(effect.estimator, []).append(label)
    grouped = []
    for note, estimators in by_note.items():
        parts = [
            f"every {estimator} estimate"
            if len(labels) == len(outcomes_of[estimator]) > 1
            else f"{estimator}: {', '.join(dict.fromkeys(labels))}"
            for estimator, labels in estimators.items()
        ]
        grouped.append((note, "; ".join(parts)))
    return grouped


def render(template: str, view: Mapping[str, Any], **extra: Any) -> str:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["wbr"] = _breakable
    return environment.get_template(template).render(**view, **extra)


def _breakable(text: Any):
    """HTML text with a line-break opportunity after each underscore (outcome and column codes
    wrap at their words in a narrow table cell; the text itself is unchanged)."""
    from markupsafe import Markup, escape

    return Markup(str(escape(text)).replace("_", "_<wbr>"))
