"""Rotating the civilian hash key: re-hash with both keys present.

A keyed hash cannot be turned into another key's hash without the identifier, so rotation reads
the identifiers again from the retained exports: each is hashed under the old key (to find it in
the warehouse) and under the new one. Every civilian hash of the warehouse must be found, else
nothing changes. The hashes and the key fingerprint are replaced in one transaction; only the
staging view reads ``subject_key`` downstream, so no model needs rebuilding.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from middlestep.contract import RAW_TABLES
from middlestep.ingest import civilian_columns, civilian_key, matching_files
from middlestep.ingest.civilian_key import FINGERPRINT_TABLE, HashKeyError
from middlestep.ingest.sqltext import identifier
from middlestep.ingest.stage import FileProblem, stage_bytes
from middlestep.mapping import DepartmentMapping
from middlestep.warehouse import Home, connect


def rotate_key(
    home: Home, mapping: DepartmentMapping, exports: list[Path], new_key_file: Path
) -> int:
    """Re-hash every civilian identifier of ``mapping``'s department under the key in
    ``new_key_file``; returns how many hashes changed. The old key is the configured one."""
    if not home.warehouse.exists():
        raise HashKeyError(f"no warehouse at {home.warehouse}: nothing to rotate")
    with connect(home.warehouse, read_only=True) as connection:
        recorded = civilian_key.recorded_fingerprint(connection)
    old_key, _ = civilian_key.load_key(home.root, fresh_warehouse=False)
    civilian_key.check_fingerprint(recorded, old_key)
    new_key = civilian_key.read_key_file(new_key_file)
    if civilian_key.fingerprint(new_key) == civilian_key.fingerprint(old_key):
        raise HashKeyError(f"{new_key_file} holds the key in use: nothing to rotate")
    renamed = _old_to_new(mapping, exports, old_key, new_key, home.root)
    connection = connect(home.warehouse)
    try:
        connection.execute("begin transaction")
        changed = 0
        for table, column in _civilian_fields(mapping):
            changed += _rehash(connection, mapping.department_id, table, column, renamed)
        connection.execute(f"delete from {FINGERPRINT_TABLE}")
        civilian_key.record_fingerprint(connection, new_key)
        connection.execute("commit")
    except BaseException:
        connection.execute("rollback")
        raise
    finally:
        connection.close()
    return changed


def _civilian_fields(mapping: DepartmentMapping) -> list[tuple[str, str]]:
    return [
        (t.table, f.field)
        for t in mapping.tables
        for f in t.fields
        if RAW_TABLES[t.table].field(f.field).is_civilian_identifier
    ]


def _old_to_new(
    mapping: DepartmentMapping, exports: list[Path], old_key: bytes, new_key: bytes, scratch: Path
) -> dict[str, str]:
    renamed: dict[str, str] = {}

    def both(values: pa.Array, null_values: tuple[str, ...]) -> pa.Array:
        old = civilian_key.hash_array(old_key, values, null_values)
        new = civilian_key.hash_array(new_key, values, null_values)
        pairs = zip(old.to_pylist(), new.to_pylist(), strict=True)
        renamed.update((o, n) for o, n in pairs if o is not None)
        return old

    for export in exports:
        for table_mapping in mapping.tables:
            civilian = civilian_columns(table_mapping)
            if not civilian:
                continue
            for path in matching_files(Path(export), table_mapping, mapping, []):
                try:
                    stage_bytes(path.read_bytes(), table_mapping, civilian, both, scratch=scratch)
                except (FileProblem, OSError):
                    continue  # it loaded nothing either
    return renamed


def _rehash(
    connection: duckdb.DuckDBPyConnection,
    department_id: str,
    table: str,
    column: str,
    renamed: dict[str, str],
) -> int:
    name = identifier(column)
    stored = connection.execute(
        f"select distinct {name} from raw.{table} where department_id = ? and {name} is not null",
        [department_id],
    ).fetchall()
    unknown = [value for (value,) in stored if value not in renamed]
    if unknown:
        raise HashKeyError(
            f"{len(unknown)} civilian hashes of raw.{table} have no identifier in the exports "
            "given: pass every export ever loaded (nothing was changed)"
        )
    pairs = pa.table(
        {"old": [v for (v,) in stored], "new": [renamed[v] for (v,) in stored]},
        schema=pa.schema([("old", pa.string()), ("new", pa.string())]),
    )
    connection.register("rehashed", pairs)
    try:
        connection.execute(
            f"update raw.{table} as t set {name} = r.new from rehashed as r "
            f"where t.{name} = r.old and t.department_id = ?",
            [department_id],
        )
    finally:
        connection.unregister("rehashed")
    return len(stored)
