"""A clean CSV file's mapped cells parsed by DuckDB's CSV reader instead of line by line in Python.

The line-by-line reader (middlestep/ingest/stage.py) stays the reference and handles every file
this one declines: another encoding, a NUL byte, text that is not UTF-8, a quoted line break or a
blank line (line numbers would not follow from record numbers), a header with a duplicate or a
missing column, a malformed line (DuckDB's strict mode refuses it) or an oversized cell. A file it
accepts gives the same cells, in the same order, with the same line numbers
(tests/test_fast_csv.py compares the two on files with every quirk).

DuckDB reads the very bytes that were hashed: they are written to a private scratch file first,
read by an in-memory DuckDB (never the warehouse's connection), and the file is removed.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from middlestep.ingest.sqltext import identifier, literal
from middlestep.mapping import TableMapping
from middlestep.warehouse.home import duckdb_settings

NULL_MARK = "\x01middlestep-no-null\x01"  # DuckDB's null string, never in an accepted file


def duckdb_csv_cells(
    data: bytes,
    table_mapping: TableMapping,
    columns: list[str],
    names: dict[str, str],
    max_cell_chars: int,
    scratch: Path | None = None,
) -> pa.Table | None:
    """``_source_line`` and the mapped columns as text, or None: use the line-by-line reader."""
    if table_mapping.encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        return None
    if b"\x00" in data or data.count(b"\r") != data.count(b"\r\n"):  # a NUL, a lone CR
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if not text or NULL_MARK in text or _has_blank_line(text):
        return None
    header = _header(text, table_mapping)
    if header is None or len(set(header)) != len(header) or not set(columns) <= set(header):
        return None
    header_lines = 1 + table_mapping.extra_header_rows
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    records = lines - header_lines
    if records <= 0:
        return None
    cells = _read(data, header, columns, names, table_mapping, header_lines, scratch)
    if cells is None or cells.num_rows != records:
        return None  # a quoted line break: records and lines differ
    for name in cells.column_names:
        longest = pc.max(pc.utf8_length(cells.column(name))).as_py()
        if longest is not None and longest > max_cell_chars:
            return None
    first = header_lines + 1
    line_numbers = pa.array(range(first, first + records), pa.int64())
    return cells.add_column(0, "_source_line", line_numbers)


def _has_blank_line(text: str) -> bool:
    """A blank line is no record to either reader, so records would not follow lines."""
    return text.startswith(("\n", "\r\n")) or "\n\n" in text or "\n\r\n" in text


def _header(text: str, table_mapping: TableMapping) -> list[str] | None:
    """The header's names, stripped; None unless the header and each extra header row are one
    physical line each."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=table_mapping.delimiter)
    try:
        header = next(reader)
        for _ in range(table_mapping.extra_header_rows):
            next(reader)
    except (csv.Error, StopIteration):
        return None
    if reader.line_num != 1 + table_mapping.extra_header_rows:
        return None
    return [name.strip() for name in header]


def _read(data, header, columns, names, table_mapping, header_lines, scratch) -> pa.Table | None:
    fields = "{" + ", ".join(f"'f{i}': 'VARCHAR'" for i in range(len(header))) + "}"
    chosen = ", ".join(
        f"{identifier(f'f{header.index(c)}')} as {identifier(names[c])}" for c in columns
    )
    descriptor, path = tempfile.mkstemp(prefix=".ingest-", suffix=".csv", dir=scratch)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        # the warehouse's memory cap and temp directory (<home>/tmp) hold for this reader too
        settings = duckdb_settings(Path(scratch) / "warehouse.duckdb") if scratch else {}
        with duckdb.connect(config=settings) as connection:
            table = connection.execute(
                f"select {chosen or 'null as _none'} from read_csv({literal(path)}, "
                f"header = false, skip = {header_lines}, columns = {fields}, "
                f"delim = {literal(table_mapping.delimiter)}, quote = '\"', escape = '\"', "
                f"nullstr = {literal(NULL_MARK)}, allow_quoted_nulls = false, "
                "auto_detect = false, strict_mode = true, null_padding = false)"
            ).to_arrow_table()
    except duckdb.Error:
        return None  # a malformed line: the line-by-line reader says which
    finally:
        os.unlink(path)
    return table if columns else table.drop_columns(["_none"])
