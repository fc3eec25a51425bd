"""The warehouse's own tables: schema raw (every contract table, the batches, the rejects), and
schema meta's build ledger and gate results."""

from __future__ import annotations

import duckdb

from middlestep.contract import RAW_TABLES, columns_with_types

RAW_DEPARTMENTS_COLUMNS = {
    "department_id": "TEXT",
    "description": "TEXT",
    "timezone": "TEXT",
    "study_start_on": "DATE",
    "study_end_on": "DATE",
}
BATCHES_COLUMNS = {
    "batch_id": "INTEGER",
    "department_id": "TEXT",
    "table_name": "TEXT",
    "source_file": "TEXT",
    "file_sha256": "TEXT",
    "rows_read": "BIGINT",
    "rows_loaded": "BIGINT",
    "rows_rejected": "BIGINT",
    "loaded_at": "TIMESTAMP",
    # sha256 of the table's mapping section the file was loaded with (NULL: loaded before
    # mappings were recorded); a changed mapping loads the same file again
    "mapping_sha256": "TEXT",
    "status": "TEXT",  # loaded | failed (unreadable) | rejected (every row rejected)
    # lines folded into another line's row by the table's per-key policy (first/last/aggregate):
    # the raw table holds rows_loaded - rows_merged rows of the batch
    "rows_merged": "BIGINT",
    # the batch that loaded the same file again (a changed mapping, or after every row was
    # rejected): its rows stay in raw, staging leaves them out (macros/common.py)
    "superseded_by": "INTEGER",
}
REJECTS_COLUMNS = {
    "batch_id": "INTEGER",
    "department_id": "TEXT",
    "table_name": "TEXT",
    "source_file": "TEXT",
    "line_number": "BIGINT",
    "field": "TEXT",
    "value": "TEXT",
    "reason": "TEXT",
}


def _create_table_sql(name: str, columns: dict[str, str]) -> str:
    body = ", ".join(f'"{column}" {column_type}' for column, column_type in columns.items())
    return f"create table if not exists {name} ({body})"


def init_warehouse(connection: duckdb.DuckDBPyConnection) -> None:
    """Create schema raw with every contract table (empty), so every model builds."""
    connection.execute("create schema if not exists raw")
    for table in RAW_TABLES.values():
        columns = columns_with_types(table)
        connection.execute(_create_table_sql(f"raw.{table.name}", columns))
        # a field added to the contract after this warehouse was created: add it (NULL so far)
        for column, column_type in columns.items():
            connection.execute(
                f'alter table raw.{table.name} add column if not exists "{column}" {column_type}'
            )
    connection.execute(_create_table_sql("raw.departments", RAW_DEPARTMENTS_COLUMNS))
    connection.execute(_create_table_sql("raw._batches", BATCHES_COLUMNS))
    for column, column_type in BATCHES_COLUMNS.items():  # a warehouse of an earlier version
        connection.execute(
            f'alter table raw._batches add column if not exists "{column}" {column_type}'
        )
    connection.execute(_create_table_sql("raw._rejects", REJECTS_COLUMNS))
    # optional cells with a bad value that ingest nulled (the row itself was loaded)
    connection.execute(_create_table_sql("raw._warnings", REJECTS_COLUMNS))


META_BUILDS_DDL = """
create table if not exists meta.builds (
    build_id text,
    plan_id text,
    built_at timestamp,
    model_versions_json text,
    batches_json text
)
"""

META_GATE_RESULTS_DDL = """
create table if not exists meta.gate_results (
    build_id text,
    checked_at timestamp,
    passed boolean,
    n_expectations integer,
    n_failed integer,
    result_json text
)
"""
