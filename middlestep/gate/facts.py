"""What the gate reads from the warehouse, in one read-only connection closed before any check
runs: the batches and rejects, the raw tables' row counts, each mart's fingerprint, the last
passed gate, the per-department counts of the marts (gate/counts.py) and, per mart, the query of
the rows its expectations validate (a monthly mart: its changed months). No mart is read whole:
Great Expectations runs those queries inside DuckDB (gate/checkpoint.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from middlestep.gate.counts import department_counts
from middlestep.gate.frames import CONDITIONS
from middlestep.gate.months import (
    Baseline,
    MartState,
    MonthScope,
    checks_version,
    fingerprint_mart,
    last_passed,
)
from middlestep.gate.specs import ExpectationSpec
from middlestep.warehouse import connect


@dataclass(frozen=True)
class WarehouseFacts:
    """What the gate read from the warehouse (the connection is closed by then)."""

    warehouse: Path
    # mart -> the query of the rows to validate (monthly: the changed months); None if missing
    marts: dict[str, str | None]
    department_counts: pd.DataFrame  # per department: what analyses_supported needs (counts.py)
    batches: pd.DataFrame | None
    rejects_by_batch: pd.DataFrame | None
    rejects_summary: pd.DataFrame
    raw_rows: dict[str, int]  # raw table -> rows in the warehouse (missing table: absent)
    raw_rows_by_batch: pd.DataFrame  # table_name, batch_id, n_rows of the raw tables
    build_id: str | None
    conditions: dict[str, bool] = field(default_factory=dict)  # CONDITIONS -> met
    mart_states: dict[str, MartState] = field(default_factory=dict)  # the marts present
    month_scopes: dict[str, MonthScope] = field(default_factory=dict)  # monthly marts read
    baseline: Baseline | None = None  # the last passed gate, unless the gate runs in full
    mart_tables: tuple[str, ...] = ()  # every table or view of the marts schema


def read_warehouse(
    warehouse: Path,
    specs: Mapping[str, tuple[ExpectationSpec, ...]],
    expectations_dir: Path,
    build_id: str | None,
    *,
    incremental: bool,
) -> WarehouseFacts:
    con = connect(warehouse, read_only=True)
    try:
        existing = {
            (schema, name)
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
        batches = (
            con.execute(
                "select batch_id, department_id, table_name, source_file, rows_read, "
                f"rows_loaded, rows_rejected, {_batch_extras(con)} from raw._batches "
                "order by batch_id"
            ).df()
            if ("raw", "_batches") in existing
            else None
        )
        has_rejects = ("raw", "_rejects") in existing
        rejects_by_batch = (
            con.execute(
                "select batch_id, count(*) as n_rejects from raw._rejects group by batch_id"
            ).df()
            if has_rejects
            else None
        )
        rejects_summary = (
            con.execute(
                "select department_id, table_name, source_file, reason, count(*) as rows "
                "from raw._rejects group by all order by department_id, table_name, "
                "source_file, rows desc, reason"
            ).df()
            if has_rejects
            else pd.DataFrame(
                columns=["department_id", "table_name", "source_file", "reason", "rows"]
            )
        )
        raw_tables = sorted(
            name for schema, name in existing if schema == "raw" and not name.startswith("_")
        )
        raw_rows = {
            name: int(con.execute(f'select count(*) from raw."{name}"').fetchone()[0])
            for name in raw_tables
        }
        batched = [
            name
            for name in raw_tables
            if con.execute(
                "select count(*) from information_schema.columns where table_schema = 'raw' "
                "and table_name = ? and column_name = '_batch_id'",
                [name],
            ).fetchone()[0]
        ]
        raw_rows_by_batch = pd.DataFrame(
            [
                (name, batch_id, int(n_rows))
                for name in batched
                for batch_id, n_rows in con.execute(
                    f'select _batch_id, count(*) from raw."{name}" group by 1'
                ).fetchall()
            ],
            columns=["table_name", "batch_id", "n_rows"],
        )
        if build_id is None and ("meta", "builds") in existing:
            latest = con.execute(
                "select build_id from meta.builds order by built_at desc nulls last limit 1"
            ).fetchone()
            build_id = latest[0] if latest else None

        conditions = {name: condition(raw_rows) for name, condition in CONDITIONS.items()}
        baseline = last_passed(con) if incremental else None
        states: dict[str, MartState] = {}
        scopes: dict[str, MonthScope] = {}
        for mart, mart_specs in specs.items():
            if ("marts", mart) not in existing:
                continue
            met = {spec.only_if: conditions[spec.only_if] for spec in mart_specs if spec.only_if}
            version = checks_version(expectations_dir / f"{mart}.yaml", met)
            states[mart], scope = fingerprint_mart(con, mart, version, baseline)
            if scope is not None:
                scopes[mart] = scope

        def rows_to_validate(mart: str) -> str | None:
            if ("marts", mart) not in existing:
                return None
            scope = scopes.get(mart)
            where = scope.where() if scope is not None else "true"
            return f'select * from marts."{mart}" where {where}'

        counts = department_counts(con)
        queries = {mart: rows_to_validate(mart) for mart in specs}
    finally:
        con.close()
    return WarehouseFacts(
        warehouse=warehouse,
        marts=queries,
        department_counts=counts,
        batches=batches,
        rejects_by_batch=rejects_by_batch,
        rejects_summary=rejects_summary,
        raw_rows=raw_rows,
        raw_rows_by_batch=raw_rows_by_batch,
        build_id=build_id,
        conditions=conditions,
        mart_states=states,
        month_scopes=scopes,
        baseline=baseline,
        mart_tables=tuple(sorted(name for schema, name in existing if schema == "marts")),
    )


def _batch_extras(con) -> str:
    """rows_merged and superseded_by of raw._batches; a batches table written before they
    existed (or by hand) has neither: nothing merged, nothing superseded."""
    present = {
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns where table_schema = 'raw' "
            "and table_name = '_batches'"
        ).fetchall()
    }
    merged = "coalesce(rows_merged, 0)" if "rows_merged" in present else "0"
    superseded = "superseded_by" if "superseded_by" in present else "cast(null as integer)"
    return f"{merged} as rows_merged, {superseded} as superseded_by"
