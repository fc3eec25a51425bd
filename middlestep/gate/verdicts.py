"""The verdicts of the expectations: carried over from the last passed gate for an unchanged
mart, evaluated on the whole mart for a table-level check of a month-scoped one, skipped when
their condition is not met, and the rest through one Great Expectations checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from middlestep.gate.checkpoint import run_checkpoint
from middlestep.gate.facts import WarehouseFacts
from middlestep.gate.frames import DERIVED_FRAMES
from middlestep.gate.months import WHOLE_TABLE
from middlestep.gate.results import CheckResult
from middlestep.gate.specs import ExpectationSpec
from middlestep.jsonable import jsonable


def carried_verdicts(
    specs: Mapping[str, tuple[ExpectationSpec, ...]], facts: WarehouseFacts
) -> dict[str, list[CheckResult]]:
    """mart -> the verdicts the last passed gate recorded for the expectations it runs, for each
    mart unchanged since (the same fingerprint and checks version) whose verdicts are all there."""
    baseline = facts.baseline
    if baseline is None:
        return {}
    recorded = {_check_key(check): check for check in baseline.checks if not check.get("skipped")}
    carried: dict[str, list[CheckResult]] = {}
    for mart, mart_specs in specs.items():
        state = facts.mart_states.get(mart)
        if state is None or baseline.marts.get(mart) != (state.fingerprint, state.checks_version):
            continue
        keys = [
            _check_key(
                {
                    "mart": spec.target,
                    "expectation": spec.expectation,
                    "severity": spec.severity,
                    "kwargs": spec.kwargs,
                }
            )
            for spec in mart_specs
            if _runs(spec, facts)
        ]
        if all(key in recorded for key in keys):
            carried[mart] = [_carried_check(recorded[key], baseline.build_id) for key in keys]
    return carried


def _check_key(check: Mapping[str, Any]) -> str:
    """The expectation a check (as `CheckResult.to_dict` records it) is the verdict of."""
    names = ("mart", "expectation", "severity", "kwargs")
    return json.dumps(jsonable({name: check.get(name) for name in names}), sort_keys=True)


def _carried_check(recorded: Mapping[str, Any], build_id: str | None) -> CheckResult:
    """A recorded check (`CheckResult.to_dict`) as the verdict of an unchanged mart."""
    names = {item.name for item in fields(CheckResult)}
    values = {name: value for name, value in recorded.items() if name in names}
    values["unexpected_sample"] = tuple(values.get("unexpected_sample") or ())
    values["scope"] = f"unchanged since the passed gate of build {build_id}"
    return CheckResult(**values, carried_from=build_id)


def _runs(spec: ExpectationSpec, facts: WarehouseFacts) -> bool:
    return spec.only_if is None or facts.conditions[spec.only_if]


def run_expectations(
    specs: Mapping[str, tuple[ExpectationSpec, ...]],
    facts: WarehouseFacts,
    carried: Mapping[str, list[CheckResult]],
    data_docs_dir: Path | None = None,
) -> list[CheckResult]:
    """Run the expectations of the marts not `carried` through one Great Expectations
    checkpoint (none if every mart is carried: Great Expectations is not even imported), its
    Data Docs written to `data_docs_dir` if given."""
    checks: list[CheckResult] = []
    runnable: dict[str, list[tuple[int, ExpectationSpec]]] = {}
    queries: dict[str, str] = {}  # target -> the query of its rows (gate/frames.py)
    ordered: list[ExpectationSpec] = []
    for mart, mart_specs in specs.items():
        rows = facts.marts.get(mart)
        if rows is None:
            checks.append(
                CheckResult(
                    mart=mart,
                    expectation="mart_exists",
                    success=False,
                    observed=f"marts.{mart} is not in the warehouse",
                    why="every mart of the analysis contract is built, empty if need be",
                )
            )
            continue
        checks += [
            _skipped(spec, f"condition {spec.only_if} not met")
            for spec in mart_specs
            if not _runs(spec, facts)
        ]
        if mart in carried:
            checks += carried[mart]
            continue
        scope = facts.month_scopes.get(mart)
        in_months = scope is not None and not scope.is_full
        for spec in mart_specs:
            if not _runs(spec, facts):
                continue
            if in_months and spec.expectation in WHOLE_TABLE:
                checks.append(_whole_table_check(spec, scope.n_rows))
                continue
            if spec.target not in queries:
                queries[spec.target] = DERIVED_FRAMES[spec.frame](rows) if spec.frame else rows
            runnable.setdefault(spec.target, []).append((len(ordered), spec))
            ordered.append(spec)
    if ordered:
        results = run_checkpoint(runnable, queries, facts.warehouse, data_docs_dir)
        for index in range(len(ordered)):
            check = results[index]
            scope = facts.month_scopes.get(check.mart)
            if scope is not None and not scope.is_full:
                check = replace(check, scope=f"{len(scope.validated)} changed months")
            checks.append(check)
    return _sort_checks(checks, specs)


def _whole_table_check(spec: ExpectationSpec, n_rows: int) -> CheckResult:
    """A table-level expectation (months.WHOLE_TABLE: the row count) of a mart validated in
    some months only, on the whole mart."""
    unsupported = set(spec.kwargs) - {"min_value", "max_value"}
    if unsupported:
        raise ValueError(f"{spec.mart}: {spec.expectation} on the whole mart: {unsupported}")
    low, high = spec.kwargs.get("min_value"), spec.kwargs.get("max_value")
    return CheckResult(
        mart=spec.target,
        expectation=spec.expectation,
        success=(low is None or n_rows >= low) and (high is None or n_rows <= high),
        kwargs=spec.kwargs,
        severity=spec.severity,
        observed=n_rows,
        why=spec.why,
        scope="whole mart",
    )


def _sort_checks(
    checks: list[CheckResult], specs: Mapping[str, tuple[ExpectationSpec, ...]]
) -> list[CheckResult]:
    order = {mart: position for position, mart in enumerate(specs)}
    return sorted(checks, key=lambda check: order.get(check.mart.split(".")[0], len(order)))


def _skipped(spec: ExpectationSpec, reason: str) -> CheckResult:
    return CheckResult(
        mart=spec.target,
        expectation=spec.expectation,
        success=True,
        column=spec.column,
        kwargs=spec.kwargs,
        severity=spec.severity,
        why=spec.why,
        skipped=reason,
    )
