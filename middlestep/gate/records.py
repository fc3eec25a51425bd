"""The gate's record in the warehouse: ``meta.gate_results`` (and the fingerprints of
``middlestep/gate/months.py``), written by :func:`record_gate`, read by :func:`latest_gate`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from middlestep.gate.months import MARTS_DDL, MONTHS_DDL, record_mart, record_months
from middlestep.gate.results import GateResult
from middlestep.warehouse import connect
from middlestep.warehouse.schema import META_BUILDS_DDL, META_GATE_RESULTS_DDL


def ensure_meta_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create schema `meta` with `meta.builds`, `meta.gate_results`, `meta.gate_months` and
    `meta.gate_marts` if they are missing."""
    con.execute("create schema if not exists meta")
    con.execute(META_BUILDS_DDL)
    con.execute(META_GATE_RESULTS_DDL)
    con.execute(MONTHS_DDL)
    con.execute(MARTS_DDL)


def record_gate(warehouse: Path, result: GateResult) -> None:
    """Append `result` to `meta.gate_results` (read-write connection, closed after)."""
    con = connect(warehouse)
    try:
        ensure_meta_tables(con)
        checked_at = result.checked_at.astimezone(UTC).replace(tzinfo=None)
        con.execute(
            "insert into meta.gate_results (build_id, checked_at, passed, n_expectations, "
            "n_failed, result_json) values (?, ?, ?, ?, ?, ?)",
            [
                result.build_id,
                checked_at,
                result.passed,
                result.n_expectations,
                result.n_failed,
                json.dumps(result.to_dict()),
            ],
        )
        for scope in result.month_scopes:
            record_months(con, checked_at, result.build_id, scope)
        for state in result.mart_states:
            record_mart(con, checked_at, result.build_id, state)
    finally:
        con.close()


def latest_gate(warehouse: Path, build_id: str | None = None) -> dict[str, Any] | None:
    """The most recent gate result (of `build_id` if given) as a dict, or None if there is none.

    The dict is `GateResult.to_dict()` as recorded; `passed`, `build_id`, `checked_at`,
    `n_expectations` and `n_failed` come from the table's columns.
    """
    warehouse = Path(warehouse)
    if not warehouse.exists():
        return None
    con = connect(warehouse, read_only=True)
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'meta' and table_name = 'gate_results'"
        ).fetchone()[0]
        if not exists:
            return None
        query = (
            "select build_id, checked_at, passed, n_expectations, n_failed, result_json "
            "from meta.gate_results"
        )
        parameters: list[Any] = []
        if build_id is not None:
            query += " where build_id = ?"
            parameters.append(build_id)
        row = con.execute(query + " order by checked_at desc limit 1", parameters).fetchone()
    finally:
        con.close()
    if row is None:
        return None
    recorded = json.loads(row[5]) if row[5] else {}
    checked_at = row[1].replace(tzinfo=UTC) if isinstance(row[1], datetime) else row[1]
    recorded.update(
        {
            "build_id": row[0],
            "checked_at": checked_at.isoformat() if checked_at is not None else None,
            "passed": bool(row[2]),
            "n_expectations": row[3],
            "n_failed": row[4],
        }
    )
    return recorded
