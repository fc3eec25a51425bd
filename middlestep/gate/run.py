"""Running the gate on a warehouse: read it, carry or evaluate the expectations, check the
batches, say which analyses the data supports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from middlestep.gate.batches import batch_checks
from middlestep.gate.facts import read_warehouse
from middlestep.gate.results import DEFAULT_MAX_REJECT_SHARE, CheckResult, GateResult
from middlestep.gate.roster import roster_checks
from middlestep.gate.specs import EXPECTATIONS_DIR, WARNING, load_expectations
from middlestep.gate.support import analyses_supported
from middlestep.gate.verdicts import carried_verdicts, run_expectations


def run_gate(
    warehouse: Path,
    build_id: str | None = None,
    *,
    max_reject_share: float = DEFAULT_MAX_REJECT_SHARE,
    expectations_dir: Path = EXPECTATIONS_DIR,
    full: bool = False,
    data_docs_dir: Path | None = None,
) -> GateResult:
    """Check the marts and input batches of `warehouse`; nothing is written.

    `build_id` defaults to the latest build in `meta.builds` (None if there is none).
    `max_reject_share`: the gate fails if a table's rejected rows exceed this share of the
    rows read (per department and raw table); below it, rejects are a warning.
    A mart unchanged since the last passed gate keeps that gate's verdicts, and a monthly mart
    is validated in the months changed since (middlestep/gate/months.py); `full` validates all.
    Every mart of the warehouse is gated: one without ``<mart>.yaml`` in `expectations_dir` is a
    warning naming it. With `data_docs_dir`, Great Expectations' Data Docs of the expectations
    run are written there (nothing is written when every mart's verdicts are carried over).
    """
    warehouse = Path(warehouse)
    if not warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {warehouse}")
    specs = load_expectations(expectations_dir)
    facts = read_warehouse(warehouse, specs, expectations_dir, build_id, incremental=not full)
    checked_at = datetime.now(UTC)

    carried = carried_verdicts(specs, facts)
    checks = run_expectations(specs, facts, carried, data_docs_dir)
    checks += unspecified_mart_checks(facts.mart_tables, specs, expectations_dir)
    checks += batch_checks(facts, max_reject_share)
    checks += roster_checks(warehouse)  # gate/roster.py: every trial officer loaded
    analyses = analyses_supported(facts)
    rejects = tuple(
        {
            "department_id": row.department_id,
            "table": row.table_name,
            "file": row.source_file,
            "reason": row.reason,
            "rows": int(row.rows),
        }
        for row in facts.rejects_summary.itertuples(index=False)
    )
    index = Path(data_docs_dir) / "index.html" if data_docs_dir is not None else None
    return GateResult(
        passed=not any(check.is_failure for check in checks),
        build_id=facts.build_id,
        checked_at=checked_at,
        checks=tuple(checks),
        analyses=analyses,
        rejects=rejects,
        max_reject_share=max_reject_share,
        month_scopes=tuple(facts.month_scopes.values()),
        mart_states=tuple(
            replace(state, carried_from=facts.baseline.build_id) if mart in carried else state
            for mart, state in facts.mart_states.items()
        ),
        data_docs=index if index is not None and index.exists() else None,
    )


def unspecified_mart_checks(
    mart_tables: tuple[str, ...], specs: Mapping[str, object], expectations_dir: Path
) -> list[CheckResult]:
    """A warning for each mart of the warehouse that no expectations file gates."""
    return [
        CheckResult(
            mart=mart,
            expectation="mart_has_expectations",
            success=False,
            severity=WARNING,
            observed=(
                f"marts.{mart} has no expectations: it is not gated until "
                f"{Path(expectations_dir).name}/{mart}.yaml lists them"
            ),
            why="an analysis may read any mart; the gate vouches only for marts it validates",
        )
        for mart in mart_tables
        if mart not in specs
    ]
