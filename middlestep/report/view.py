"""The view model both templates render: the report's tables formatted as text cells, its
sections, the gate and provenance; and the Jinja2 rendering of ``templates/``.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from middlestep.jsonable import jsonable
from middlestep.report.context import ALPHA_THRESHOLD, UNGATED_LABEL, ReportContext
from middlestep.report.numbers import effects_frame
from middlestep.report.sections import Section
from middlestep.report.summary import gate_analyses

TEMPLATES_DIR = Path(__file__).parent / "templates"


def section_view(section: Section) -> dict[str, Any]:
    return {
        "title": section.title,
        "paragraphs": list(section.paragraphs),
        "tables": [(caption, table(frame)) for caption, frame in section.tables],
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
        "plan": context.plan,
        "effects": table(effects_frame(context.effects, context.truth)),
        "effect_notes": notes,
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
        "provenance_scalars": {key: _cell(value) for key, value in provenance_scalars.items()},
        "provenance_tables": {key: table(frame) for key, frame in provenance_tables.items()},
    }


@dataclass(frozen=True)
class Table:
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


def table(frame: pd.DataFrame | None) -> Table:
    if frame is None or frame.empty:
        return Table(columns=[] if frame is None else [str(c) for c in frame.columns], rows=[])
    return Table(
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
    return environment.get_template(template).render(**view, **extra)
