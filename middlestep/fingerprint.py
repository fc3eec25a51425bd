"""A content hash per table of a warehouse, to tell whether two warehouses hold the same data.

Covers the raw tables (without the load-time column ``loaded_at``) and the staging, intermediate
and marts views SQLMesh builds. A table's hash does not depend on row order: it is the count of
rows and the sum of a hash of every row (a sum, not an XOR, so that two equal rows do not cancel
out). Doubles are rounded to 9 decimals first, since a parallel aggregation may add the same
numbers in another order. SQLMesh's state, ``meta`` (build and gate records) and the times rows
were loaded are left out: a warehouse rebuilt after a crash equals one built cleanly in content,
not in when it was built.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from middlestep.warehouse import connect

SCHEMAS = ("raw", "staging", "intermediate", "marts")
LOAD_TIME_COLUMNS = frozenset({"loaded_at"})
FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")


def table_fingerprints(
    warehouse: Path | str | duckdb.DuckDBPyConnection, schemas: tuple[str, ...] = SCHEMAS
) -> dict[str, str]:
    """``schema.table`` -> ``"<rows>:<hash>"`` for every table and view of ``schemas``."""
    if isinstance(warehouse, duckdb.DuckDBPyConnection):
        return _fingerprints(warehouse, schemas)
    with connect(Path(warehouse), read_only=True) as connection:
        return _fingerprints(connection, schemas)


def fingerprints_by(
    connection: duckdb.DuckDBPyConnection, schema: str, table: str, column: str
) -> dict:
    """Value of ``column`` -> ``"<rows>:<hash>"`` of the rows of ``schema.table`` holding it
    (rows where it is NULL are left out): which parts of a table changed."""
    expressions = _hashed_columns(connection, (schema,), table).get(f'"{schema}"."{table}"', [])
    rows = connection.execute(
        f'select "{column}", count(*), {_sum_of_row_hashes(expressions)} '
        f'from "{schema}"."{table}" where "{column}" is not null group by 1'
    ).fetchall()
    return {value: f"{n_rows}:{total}" for value, n_rows, total in rows}


def _fingerprints(connection: duckdb.DuckDBPyConnection, schemas: tuple[str, ...]) -> dict:
    fingerprints = {}
    for name, expressions in sorted(_hashed_columns(connection, schemas).items()):
        row = connection.execute(
            f"select count(*), {_sum_of_row_hashes(expressions)} from {name}"
        ).fetchone()
        fingerprints[name.replace('"', "")] = f"{row[0]}:{row[1]}"
    return fingerprints


def _hashed_columns(
    connection: duckdb.DuckDBPyConnection, schemas: tuple[str, ...], table: str | None = None
) -> dict[str, list[str]]:
    """``"schema"."table"`` -> the expressions of its columns that a row's hash covers."""
    marks = ", ".join("?" for _ in schemas)
    only_table = " and table_name = ?" if table else ""
    columns = connection.execute(
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        f"where table_catalog = current_database() and table_schema in ({marks}){only_table} "
        "order by table_schema, table_name, ordinal_position",
        [*schemas, *([table] if table else [])],
    ).fetchall()
    by_table: dict[str, list[str]] = {}
    for schema, name, column, data_type in columns:
        if column in LOAD_TIME_COLUMNS:
            continue
        expression = f'"{column}"'
        if data_type.upper() in FLOAT_TYPES:
            expression = f"round({expression}, 9)"
        by_table.setdefault(f'"{schema}"."{name}"', []).append(expression)
    return by_table


def _sum_of_row_hashes(expressions: list[str]) -> str:
    return f"coalesce(sum(hash({', '.join(expressions)})::hugeint), 0)"


def differences(left: dict[str, str], right: dict[str, str]) -> list[str]:
    """The tables whose content differs (or that only one side has), for a test's message."""
    return sorted(name for name in set(left) | set(right) if left.get(name) != right.get(name))
