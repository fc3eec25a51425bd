"""The yardstick for ingest: DuckDB reading the same export files plainly.

Every CSV and Parquet file of an export goes into a table of a fresh DuckDB file by
``read_csv`` (DuckDB's own sniffing, all columns as text: ingest also reads text first and then
types it) or ``read_parquet``: no mapping, no checks, no rejects. Ingest does all of that on top,
so the ratio of the two times is the price of its guarantees (rows read = loaded + rejected, a
reason per reject, one transaction per file, the hash of the bytes loaded).
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from middlestep.warehouse.home import duckdb_settings


def export_files(export_dir: Path) -> list[Path]:
    """The data files of an export (its truth and metadata files are not read by ingest)."""
    return sorted(
        path
        for path in Path(export_dir).rglob("*")
        if path.suffix in {".csv", ".parquet"} and "truth" not in path.parts
    )


def read_plain(export_dir: Path, work_dir: Path) -> tuple[float, int]:
    """(seconds, rows) to load every data file of `export_dir` into a fresh DuckDB file, with the
    warehouse's memory settings."""
    target = Path(work_dir) / "plain-read.duckdb"
    target.unlink(missing_ok=True)
    rows = 0
    started = time.perf_counter()
    with duckdb.connect(str(target), config=duckdb_settings(target)) as connection:
        for number, path in enumerate(export_files(export_dir)):
            reader = (
                "read_parquet(?)" if path.suffix == ".parquet" else "read_csv(?, all_varchar=true)"
            )
            connection.execute(f"create table file_{number} as select * from {reader}", [str(path)])
            rows += connection.execute(f"select count(*) from file_{number}").fetchone()[0]
    return time.perf_counter() - started, rows
