"""What the gate found: one :class:`CheckResult` per expectation or integrity check, whether the
data supports each analysis (:class:`AnalysisSupport`), and the :class:`GateResult` of a build.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from middlestep.gate.months import MartState, MonthScope
from middlestep.gate.specs import CRITICAL, WARNING, format_kwargs
from middlestep.jsonable import jsonable

DEFAULT_MAX_REJECT_SHARE = 0.05


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one expectation or one integrity check of the batches."""

    mart: str  # the mart, a derived frame `mart.frame`, or raw._batches / raw._rejects
    expectation: str
    success: bool
    column: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    severity: str = CRITICAL
    observed: Any = None  # the observed value, or a text saying what was found
    unexpected_count: int | None = None
    element_count: int | None = None
    unexpected_sample: tuple = ()
    why: str = ""
    skipped: str | None = None  # why it was not evaluated
    scope: str | None = None  # the rows checked, when not all of them (gate/months.py)
    carried_from: str | None = None  # the build whose passed gate's verdict this is (unchanged)

    @property
    def is_failure(self) -> bool:
        """Failed and counts against the gate."""
        return not self.success and self.skipped is None and self.severity == CRITICAL

    @property
    def is_warning(self) -> bool:
        return not self.success and self.skipped is None and self.severity == WARNING

    def describe(self) -> str:
        """One line: mart, column, expectation and what was observed."""
        where = self.mart + (f", column {self.column}" if self.column else "")
        where += f" ({self.scope})" if self.scope else ""
        call = f"{self.expectation}({format_kwargs(self.kwargs)})"
        if self.skipped:
            return f"{where}: {call} skipped ({self.skipped})"
        text = f"{where}: {call} {self.verdict}"
        observed = self.observed_text()
        if observed:
            text += f": {observed}"
        if self.why and not self.success:
            text += f" (why it matters: {self.why})"
        return text

    @property
    def verdict(self) -> str:
        """How the check ended, in words that keep a warning from reading as a failure."""
        if self.success:
            return "passed"
        if self.is_warning:
            return "gave a warning (the gate does not fail on it)"
        return "failed"

    def observed_text(self) -> str:
        if self.unexpected_count is not None:
            of = f" of {self.element_count}" if self.element_count is not None else ""
            text = f"{self.unexpected_count}{of} rows unexpected"
            if self.unexpected_sample:
                sample = ", ".join(
                    f"{value:.4g}" if isinstance(value, float) else repr(value)
                    for value in self.unexpected_sample[:5]
                )
                text += f", e.g. {sample}"
            return text
        if self.observed is None:
            return ""
        if isinstance(self.observed, float):
            return f"observed {self.observed:.4g}"
        if isinstance(self.observed, str):
            return self.observed
        return f"observed {self.observed}"

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "mart": self.mart,
                "column": self.column,
                "expectation": self.expectation,
                "kwargs": dict(self.kwargs),
                "severity": self.severity,
                "success": self.success,
                "skipped": self.skipped,
                "observed": self.observed,
                "unexpected_count": self.unexpected_count,
                "element_count": self.element_count,
                "unexpected_sample": list(self.unexpected_sample),
                "why": self.why,
                "scope": self.scope,
                "carried_from_build": self.carried_from,
                "text": self.describe(),
            }
        )


@dataclass(frozen=True)
class AnalysisSupport:
    """Whether a department's data supports one analysis, and if not, why not."""

    department_id: str
    analysis: str
    supported: bool
    reason: str = ""

    def describe(self) -> str:
        if self.supported:
            return f"{self.analysis}: supported"
        return f"{self.analysis}: not supported ({self.reason})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "department_id": self.department_id,
            "analysis": self.analysis,
            "supported": self.supported,
            "reason": self.reason,
            "text": self.describe(),
        }


@dataclass(frozen=True)
class GateResult:
    """The outcome of the gate for one build."""

    passed: bool
    build_id: str | None
    checked_at: datetime
    checks: tuple[CheckResult, ...]
    analyses: tuple[AnalysisSupport, ...] = ()
    rejects: tuple[Mapping[str, Any], ...] = ()  # department_id, table, file, reason, rows
    max_reject_share: float = DEFAULT_MAX_REJECT_SHARE
    month_scopes: tuple[MonthScope, ...] = ()  # the months of the monthly marts validated
    mart_states: tuple[MartState, ...] = ()  # each mart's fingerprint; whether it was carried
    data_docs: Path | None = None  # Great Expectations' Data Docs index of this gate, if written

    @property
    def n_carried(self) -> int:
        """Checks whose verdict was carried over from a passed gate (their mart is unchanged)."""
        return sum(1 for check in self.checks if check.carried_from is not None)

    @property
    def n_expectations(self) -> int:
        """Checks evaluated (skipped ones not counted)."""
        return sum(1 for check in self.checks if check.skipped is None)

    @property
    def n_failed(self) -> int:
        return sum(1 for check in self.checks if check.is_failure)

    @property
    def failed_checks(self) -> tuple[CheckResult, ...]:
        return tuple(check for check in self.checks if check.is_failure)

    @property
    def warning_checks(self) -> tuple[CheckResult, ...]:
        return tuple(check for check in self.checks if check.is_warning)

    def failures(self) -> str:
        """The failed checks, one line each, naming mart, column, expectation and observation."""
        return "\n".join(check.describe() for check in self.failed_checks)

    def warnings(self) -> str:
        return "\n".join(check.describe() for check in self.warning_checks)

    def supports(self, analysis: str, department_id: str | None = None) -> bool:
        """True if every (or the given) department's data supports `analysis`."""
        matches = [
            support
            for support in self.analyses
            if support.analysis == analysis
            and (department_id is None or support.department_id == department_id)
        ]
        return bool(matches) and all(support.supported for support in matches)

    def rejects_frame(self) -> pd.DataFrame:
        columns = ["department_id", "table", "file", "reason", "rows"]
        return pd.DataFrame(list(self.rejects), columns=columns)

    def summary(self) -> str:
        status = "PASSED" if self.passed else "FAILED"
        carried = f" ({self.n_carried} carried over)" if self.n_carried else ""
        lines = [
            f"quality gate {status} for build {self.build_id or '(unknown)'} "
            f"at {self.checked_at:%Y-%m-%d %H:%M:%S} UTC: "
            f"{self.n_expectations} checks{carried}, {self.n_failed} failed, "
            f"{len(self.warning_checks)} warnings (warnings do not fail the gate)",
        ]
        lines += [f"  {mart}: {text}" for mart, text in self.validated().items()]
        if self.n_failed:
            lines += ["failures:"] + [f"  {line}" for line in self.failures().splitlines()]
        if self.warning_checks:
            lines += ["warnings:"] + [f"  {line}" for line in self.warnings().splitlines()]
        if self.data_docs is not None:
            lines.append(f"Data Docs (Great Expectations): {self.data_docs}")
        if self.analyses:
            lines.append("analyses the data supports:")
            lines += [
                f"  [{support.department_id}] {support.describe()}" for support in self.analyses
            ]
        return "\n".join(lines)

    def validated(self) -> dict[str, str]:
        """mart -> what of it this gate validated, or from which passed gate its verdicts come."""
        months = {scope.mart: scope.describe() for scope in self.month_scopes}
        return {
            state.mart: months[state.mart]
            if state.mart in months and state.carried_from is None
            else state.describe()
            for state in self.mart_states
        }

    def text(self) -> str:
        return self.summary()

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """The dict form the report and `meta.gate_results.result_json` use."""
        texts = self.validated()
        return jsonable(
            {
                "passed": self.passed,
                "build_id": self.build_id,
                "checked_at": self.checked_at.isoformat(),
                "n_expectations": self.n_expectations,
                "n_failed": self.n_failed,
                "n_warnings": len(self.warning_checks),
                "max_reject_share": self.max_reject_share,
                "data_docs": str(self.data_docs) if self.data_docs is not None else None,
                "failures": [check.describe() for check in self.failed_checks],
                "warnings": [check.describe() for check in self.warning_checks],
                "analyses": [support.to_dict() for support in self.analyses],
                "n_carried": self.n_carried,
                "marts": [
                    {
                        "mart": state.mart,
                        "carried_from_build": state.carried_from,
                        "text": texts[state.mart],
                    }
                    for state in self.mart_states
                ],
                "months_validated": [scope.to_dict() for scope in self.month_scopes],
                "rejects": [dict(row) for row in self.rejects],
                "checks": [check.to_dict() for check in self.checks],
            }
        )
