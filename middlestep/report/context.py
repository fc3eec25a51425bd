"""What a report shows (:class:`ReportContext`, gathered by the caller from the warehouse and the
estimators), where it was written (:class:`ReportPaths`), and its labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.results import Effect

UNGATED_LABEL = "UNGATED: not for publication"
GATED_LABEL = "GATED: quality gate passed"

RATIO_SCALES = ("rate_ratio", "odds_ratio")
ALPHA_THRESHOLD = 0.667


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
    # what the data means that every estimate rests on (an unknown appointment date, ...)
    data_notes: tuple[str, ...] = ()
    rollout: Any = None  # analysis.rollout.RolloutStudy of a roll-out department
    rollout_effects: Sequence[Effect] = ()  # a wait-list trial read as a staggered roll-out
    # the analysis plan and its registration (middlestep.plan.PlanStatus.to_dict()); None: the
    # department has no plan file
    plan: Mapping[str, Any] | None = None
    # the design's own estimators (middlestep/trial.py _design_estimates): when present, the
    # summary is built from the primary estimates, the difference-in-differences is robustness
    primary_effects: Sequence[Effect] = ()
    robustness_effects: Sequence[Effect] = ()
    complier_effects: Sequence[Effect] = ()  # completing training, among compliers (not ITT)
    balance_test: Any = None  # analysis.balance_randomization.RandomizationBalanceTest
    consort: pd.DataFrame | None = None
    cell_means: pd.DataFrame | None = None
    # the primary estimates' block-clustered wild bootstrap rows (analysis.wild_bootstrap)
    block_cluster_tests: Sequence[Any] = ()
    # analyses the data cannot support (yet), each {"analysis": ..., "reason": ...}
    not_estimated: Sequence[Mapping[str, str]] = ()
    # a department without a trial: middlestep.descriptive.DepartmentFigures
    department: Any = None
    # the control arm's exposure to the treatment arm on shared calls, and the low-exposure
    # sensitivity rows (middlestep.spillover.SpilloverAnalysis)
    spillover: Any = None

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
