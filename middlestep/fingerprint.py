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

SCHEMAS = ("raw", "staging", "intermediate", "marts")
LOAD_TIME_COLUMNS = frozenset({"loaded_at"})
FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")


def table_fingerprints(
    warehouse: Path | str | duckdb.DuckDBPyConnection, schemas: tuple[str, ...] = SCHEMAS
) -> dict[str, str]:
    """``schema.table`` -> ``"<rows>:<hash>"`` for every table and view of ``schemas``."""
    if isinstance(warehouse, duckdb.DuckDBPyConnection):
        return _fingerprints(warehouse, schemas)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return _fingerprints(connection, schemas)


def _fingerprints(connection: duckdb.DuckDBPyConnection, schemas: tuple[str, ...]) -> dict:
    marks = ", ".join("?" for _ in schemas)
    columns = connection.execute(
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        f"where table_catalog = current_database() and table_schema in ({marks}) "
        "order by table_schema, table_name, ordinal_position",
        list(schemas),
    ).fetchall()
    by_table: dict[str, list[str]] = {}
    for schema, table, column, data_type in columns:
        if column in LOAD_TIME_COLUMNS:
            continue
        expression = f'"{column}"'
        if data_type.upper() in FLOAT_TYPES:
            expression = f"round({expression}, 9)"
        by_table.setdefault(f'"{schema}"."{table}"', []).append(expression)
    fingerprints = {}
    for name, expressions in sorted(by_table.items()):
        row = connection.execute(
            f"select count(*), coalesce(sum(hash({', '.join(expressions)})::hugeint), 0) "
            f"from {name}"
        ).fetchone()
        fingerprints[name.replace('"', "")] = f"{row[0]}:{row[1]}"
    return fingerprints


def differences(left: dict[str, str], right: dict[str, str]) -> list[str]:
    """The tables whose content differs (or that only one side has), for a test's message."""
    return sorted(name for name in set(left) | set(right) if left.get(name) != right.get(name))
