"""The report: HTML, Markdown and JSON of a department's effect estimates and their provenance.

``write_report(out_dir, context)`` writes

* ``index.html``: one self-contained page (inline CSS, the forest plot as a base64 PNG);
* ``report.md`` with ``forest_plot.png`` beside it;
* ``results.json``: everything machine-readable (effects via ``Effect.to_dict()``).

A report is marked "UNGATED: not for publication" on every output unless the estimates ran on a
gated build: ``context.is_gated`` is true and the gate result it carries passed.

One job per module: ``context`` (what a report shows), ``summary`` (the sentences), ``view``
(the view model and the templates), ``sections`` and ``rollout`` (the trial's open-box and the
roll-out's sections), ``plots`` (every plot) and ``document`` (writing the files, results.json).
"""

from middlestep.report.context import GATED_LABEL, UNGATED_LABEL, ReportContext, ReportPaths
from middlestep.report.document import results_document, write_report
from middlestep.report.plots import forest_plot_png
from middlestep.report.summary import describe_effect, summary_sentences

__all__ = [
    "GATED_LABEL",
    "UNGATED_LABEL",
    "ReportContext",
    "ReportPaths",
    "describe_effect",
    "forest_plot_png",
    "results_document",
    "summary_sentences",
    "write_report",
]
