"""Writing a report: ``index.html``, ``report.md`` (with ``forest_plot.png`` beside it) and
``results.json``, the machine-readable document.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from middlestep.jsonable import jsonable
from middlestep.report.context import ALPHA_THRESHOLD, ReportContext, ReportPaths
from middlestep.report.department import (
    data_notes_section,
    department_sections,
    not_estimated_section,
)
from middlestep.report.design import design_sections
from middlestep.report.plots import forest_plot_png
from middlestep.report.rollout import rollout_sections
from middlestep.report.sections import open_box_sections
from middlestep.report.spillover import spillover_sections
from middlestep.report.summary import summary_sentences
from middlestep.report.view import render, section_view, view_model
from middlestep.warehouse.runlog import local_timestamp


def write_report(out_dir: Path, context: ReportContext) -> ReportPaths:
    """Write index.html, report.md, results.json (and forest_plot.png) into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    provenance = dict(context.provenance)
    provenance.setdefault("generated_at", local_timestamp())

    png = forest_plot_png(context.effects, truth=context.truth, title=context.title)
    plot_path = None
    if png is not None:
        plot_path = out_dir / "forest_plot.png"
        plot_path.write_bytes(png)

    summary = summary_sentences(context)
    view = view_model(context, provenance, summary)
    sections = data_notes_section(context.data_notes) + department_sections(context.department)
    sections += design_sections(context)
    sections += rollout_sections(context.rollout, context.rollout_effects, context.effects)
    sections += spillover_sections(context.spillover, context.primary_effects)
    sections += open_box_sections(
        context.open_box,
        context.effects,
        context.reliability_items,
        context.excluded_items,
        ALPHA_THRESHOLD,
    )
    sections += not_estimated_section(context.not_estimated)
    for section in sections:
        for plot in section.plots:
            (out_dir / plot.file_name).write_bytes(plot.png)
    draws = permutations_of(context)
    view["sections"] = [section_view(section, draws) for section in sections]
    view["data_docs_link"] = data_docs_link(context.gate, out_dir)

    html_path = out_dir / "index.html"
    markdown_path = out_dir / "report.md"
    json_path = out_dir / "results.json"
    html_path.write_text(
        render(
            "report.html.j2",
            view,
            plot_data_uri=(
                "data:image/png;base64," + base64.b64encode(png).decode("ascii") if png else None
            ),
        ),
        encoding="utf-8",
    )
    markdown_path.write_text(
        render("report.md.j2", view, plot_file=plot_path.name if plot_path else None),
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


def permutations_of(context: ReportContext) -> int | None:
    """The re-draws behind the report's Fisher p-values (one number per report)."""
    for effect in [*context.effects, *context.rollout_effects]:
        if effect.extras.get("n_permutations"):
            return int(effect.extras["n_permutations"])
    return getattr(context.rollout, "permutations", None) or None


def data_docs_link(gate: Mapping[str, Any] | None, out_dir: Path) -> str | None:
    """The gate's Data Docs index relative to the report, when it was written."""
    path = (gate or {}).get("data_docs")
    if not path or not Path(path).exists():
        return None
    return Path(os.path.relpath(Path(path), out_dir.resolve())).as_posix()


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
            "data_notes": list(context.data_notes),
            "rollout": context.rollout.to_dict() if context.rollout is not None else None,
            "rollout_effects": [effect.to_dict() for effect in context.rollout_effects],
            "provenance": dict(provenance if provenance is not None else context.provenance),
            "plan": dict(context.plan) if context.plan is not None else None,
            "primary_effects": [effect.to_dict() for effect in context.primary_effects],
            "robustness_effects": [effect.to_dict() for effect in context.robustness_effects],
            "complier_effects": [effect.to_dict() for effect in context.complier_effects],
            "balance_test": (
                context.balance_test.to_dict() if context.balance_test is not None else None
            ),
            "consort": records(context.consort),
            "cell_means": records(context.cell_means),
            "block_cluster_tests": [test.to_dict() for test in context.block_cluster_tests],
            "not_estimated": [dict(row) for row in context.not_estimated],
            "department_figures": (
                context.department.to_dict() if context.department is not None else None
            ),
            "spillover": context.spillover.to_dict() if context.spillover is not None else None,
        }
    )
