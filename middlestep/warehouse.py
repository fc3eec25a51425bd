"""The warehouse home: where the DuckDB file, the run log and the reports live.

Every command takes ``--home DIR`` (default ``$MIDDLESTEP_HOME``, else ``./.middlestep``), so
several warehouses live side by side and tests never touch a user's.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from middlestep.contract import RAW_TABLES, columns_with_types

DEFAULT_HOME = Path(".middlestep")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class WarehouseBusy(RuntimeError):
    """Another middlestep process holds the warehouse for writing."""


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def resolve(cls, home: str | Path | None = None) -> Home:
        chosen = home or os.environ.get("MIDDLESTEP_HOME") or DEFAULT_HOME
        return cls(Path(chosen).expanduser().resolve())

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    @property
    def lock_file(self) -> Path:
        return self.root / "writer.lock"

    @property
    def run_log(self) -> Path:
        return self.root / "runs.jsonl"

    def ensure(self) -> Home:
        self.root.mkdir(parents=True, exist_ok=True)
        return self


@contextlib.contextmanager
def writer_lock(home: Home, timeout_s: float = 0.0) -> Iterator[None]:
    """Hold the single-writer lock of a warehouse home.

    DuckDB allows one writing process per file; this lock turns DuckDB's raw lock error into a
    clear wait-or-refuse. The lock is an flock, so it is released if the holder is killed.
    """
    home.ensure()
    with open(home.lock_file, "a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(
                        f"another middlestep command is writing to {home.root}; "
                        "wait for it to finish (or pass a longer --wait)"
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
    connection.execute(_create_table_sql("raw._rejects", REJECTS_COLUMNS))


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    if read_only and not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: run `middlestep ingest` first")
    path.parent.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(path), read_only=read_only)
