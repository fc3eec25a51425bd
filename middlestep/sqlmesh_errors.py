"""SQLMesh's failures as a summary a user can act on.

SQLMesh reports a failed build through its console (the models whose evaluation or audits
failed, the linter's violations) and then raises a generic error ("Plan application failed",
"Linter detected errors in the code"). :func:`quiet_console` keeps what the console was told;
:func:`summarize` turns it into a few lines: for a lint error the model and the rule, for a
failed audit the audit, the model, the failing row count, a sample of the failing rows' keys
and the next step. SQLMesh's own text (the rendered audit SQL) is kept apart as the details,
which the CLI prints only with ``-v``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

SAMPLE_ROWS = 3
SAMPLE_COLUMNS = 4  # of a model without a declared grain: its first columns name a row


@dataclass
class Failure:
    """What SQLMesh said about a failed build: summary lines and its own full text."""

    summary: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


def quiet_console():
    """A SQLMesh console that prints nothing (no progress bars on stdout) but keeps the errors,
    the warnings, the failed nodes and the linter's errors for :func:`summarize`."""
    from sqlmesh.core.console import NoopConsole, _format_node_errors

    class QuietConsole(NoopConsole):
        def __init__(self) -> None:
            super().__init__()
            self.errors: list[str] = []
            self.warnings: list[str] = []
            self.failed_nodes: list[Any] = []
            self.lint_errors: list[tuple[str, str, str]] = []  # (model, rule, message)

        def log_failed_models(self, errors) -> None:
            self.failed_nodes.extend(errors)
            for node, message in _format_node_errors(errors).items():
                self.errors.append(f"{node}: {message}")

        def log_error(self, message: str) -> None:
            self.errors.append(message)

        def log_warning(self, short_message: str, long_message: str | None = None) -> None:
            self.warnings.append(long_message or short_message)

        def show_linter_violations(self, violations, model, is_error: bool = False) -> None:
            if is_error:
                self.lint_errors += [(model.name, v.rule.name, v.violation_msg) for v in violations]

    return QuietConsole()


def summarize(error: BaseException, console, engine_adapter=None) -> Failure:
    """The summary of a failed SQLMesh call: lint errors, failed audits, failed models, else
    SQLMesh's own message. ``engine_adapter`` (the context's) samples the failing rows."""
    failure = Failure(details=list(console.errors))
    if console.lint_errors:
        failure.summary += [
            f"model {model}: {rule}: {message}" for model, rule, message in console.lint_errors
        ]
        failure.summary.append(
            "next: fix the model (a rule of sqlmesh.yaml's linter failed; every model declares "
            "its audits in its MODEL block), then build again; `sqlmesh lint` lists every rule"
        )
        return failure
    audits, others = _audit_errors(console.failed_nodes)
    for audit in audits:
        failure.summary += _audit_summary(audit, engine_adapter)
    for node, cause in others:
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else repr(cause)
        failure.summary.append(f"model {node} failed: {type(cause).__name__}: {first}")
    if audits:
        failure.summary.append(
            "next: a blocking audit stops the build; fix the rows it names (a corrected file in "
            "the next drop) or the model, then build again; `middlestep -v build` shows the "
            "audit's SQL"
        )
    elif others:
        failure.summary.append("next: fix the model; `middlestep -v build` shows SQLMesh's text")
    if not failure.summary:
        lines = [line for line in str(error).strip().splitlines() if line.strip()]
        failure.summary = [lines[0] if lines else repr(error)]
        failure.details = [str(error), *failure.details]
    return failure


def _audit_errors(failed_nodes: list[Any]) -> tuple[list[Any], list[tuple[str, BaseException]]]:
    from sqlmesh.utils.errors import AuditError, NodeAuditsErrors

    audits, others = [], []
    for node_error in failed_nodes:
        cause = node_error.__cause__ or node_error
        if isinstance(cause, NodeAuditsErrors):
            audits += cause.errors
        elif isinstance(cause, AuditError):
            audits.append(cause)
        else:
            others.append((_node_name(node_error), cause))
    return audits, others


def _node_name(node_error) -> str:
    node = getattr(node_error, "node", None)
    return getattr(node, "name", None) or getattr(node, "snapshot_name", None) or str(node)


def _audit_summary(audit, engine_adapter) -> list[str]:
    rows = "row" if audit.count == 1 else "rows"
    arguments = ", ".join(
        f"{name} := {value.sql(dialect=audit.adapter_dialect)}"
        for name, value in (audit.audit_args or {}).items()
    )
    called = f"{audit.audit_name}({arguments})" if arguments else audit.audit_name
    lines = [f"audit {called} of model {audit.model_name}: {audit.count} {rows} failed"]
    sample = _sample(audit, engine_adapter)
    if sample:
        lines.append(f"  e.g. {sample}")
    return lines


def _sample(audit, engine_adapter) -> str:
    """A few of the audit's failing rows, by the model's grain where the audit returns it."""
    if engine_adapter is None:
        return ""
    try:
        frame = engine_adapter.fetchdf(audit.query.limit(SAMPLE_ROWS))
    except Exception as error:  # noqa: BLE001 - the summary stands without its sample
        logger.debug("could not sample the failing rows of %s: %s", audit.audit_name, error)
        return ""
    if frame.empty:
        return ""
    columns = [column for column in _grain(audit.model) if column in frame.columns]
    frame = frame[columns or list(frame.columns[:SAMPLE_COLUMNS])]
    rows = [
        "(" + ", ".join(f"{column}={value}" for column, value in row.items()) + ")"
        for row in frame.to_dict(orient="records")
    ]
    more = "; ..." if audit.count > len(rows) else ""
    return "; ".join(rows) + more


def _grain(model) -> list[str]:
    """The column names of the model's declared grain (`grain (a, b)`), if any."""
    names = []
    for grain in getattr(model, "grains", None) or []:
        names += [column.name for column in getattr(grain, "expressions", None) or [grain]]
    return names
