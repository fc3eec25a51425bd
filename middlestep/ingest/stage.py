"""A file's bytes -> its mapped cells as an Arrow table, before anything enters DuckDB.

Ingest reads a file once; these functions parse those bytes (the same bytes that were hashed),
so the recorded sha256 always describes the rows loaded. Whatever makes the whole file unusable
(not Parquet, a corrupt page, binary content under a .csv name, a column named twice) raises
``FileProblem``; what is wrong with one line (a wrong number of fields, undecodable text or an
oversized cell in a mapped column) is a ``LineProblem`` and the other lines go on.

A clean CSV file is parsed by DuckDB's reader (middlestep/ingest/fast_csv.py); any file it
declines is read line by line here, the reference. Both run outside the warehouse's connection.

Civilian identifiers are hashed here, over the Arrow column (vectorised in an in-memory DuckDB of
their own, civilian_key.hash_array): the raw values never reach the warehouse's connection, not
even a temporary table, so no page of the warehouse file can hold one.
"""

from __future__ import annotations

import csv
import difflib
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from middlestep.ingest.fast_csv import duckdb_csv_cells
from middlestep.mapping import TableMapping

# a mapped cell longer than this is a line fault, never a reason to stop (csv's own limit
# stopped the whole night); unmapped cells may be any length
MAX_CELL_CHARS = 131_072
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class FileProblem(ValueError):
    """The file as a whole cannot be read; the message says why."""


@dataclass(frozen=True)
class LineProblem:
    line_number: int
    field: str | None
    reason: str


@dataclass(frozen=True)
class Staged:
    """The mapped columns of a file as text-castable Arrow columns named c0, c1, ... (export
    column names never enter SQL), with each record's line and the lines that failed."""

    cells: pa.Table  # _source_line, then one column per source column
    names: dict[str, str]  # source column -> staged name
    problems: tuple[LineProblem, ...]  # lines rejected before any field is parsed
    nulled: tuple[LineProblem, ...] = ()  # optional cells set to NULL (loaded with a warning)


# (a column's values, the null tokens) -> their keyed hashes (civilian_key.hash_array)
Hasher = Callable[[pa.Array, tuple[str, ...]], pa.Array]


def stage_bytes(
    data: bytes,
    table_mapping: TableMapping,
    civilian_columns: frozenset[str],
    hasher: Hasher | None,
    nullable: frozenset[str] = frozenset(),
    scratch: Path | None = None,
) -> Staged:
    """``nullable``: source columns feeding only optional fields of a table that keeps rows
    with bad optional cells (the roster): a bad cell there is nulled, not a reject.
    ``scratch``: where DuckDB's CSV reader gets its private copy of the bytes (the home)."""
    columns = sorted(set(table_mapping.source_columns))
    names = {column: f"c{index}" for index, column in enumerate(columns)}
    fields_of = _fields_by_column(table_mapping)
    if table_mapping.format == "parquet":
        cells, problems = _parquet_cells(data, columns, names)
        nulled = []
    else:
        # a clean file: DuckDB's reader; anything it declines, line by line (the reference)
        cells = duckdb_csv_cells(data, table_mapping, columns, names, MAX_CELL_CHARS, scratch)
        problems, nulled = [], []
        if cells is None:
            cells, problems, nulled = _csv_cells(
                data, table_mapping, columns, names, fields_of, nullable
            )
    for column in civilian_columns & set(columns):
        cells = _hashed(cells, names[column], table_mapping.null_values, hasher)
    return Staged(cells, names, tuple(problems), tuple(nulled))


def _fields_by_column(table_mapping: TableMapping) -> dict[str, str]:
    fields: dict[str, str] = {}
    for mapped in table_mapping.fields:
        for column in mapped.columns or ((mapped.column,) if mapped.column is not None else ()):
            fields.setdefault(column, mapped.field)
    return fields


def _hashed(
    cells: pa.Table, name: str, null_values: tuple[str, ...], hasher: Hasher | None
) -> pa.Table:
    """The column's values as the canonical text (trimmed, null tokens NULL), hashed."""
    if hasher is None:
        raise FileProblem("a civilian identifier column needs the civilian hash key")
    index = cells.schema.get_field_index(name)
    text = cells.column(index).combine_chunks().cast(pa.string())
    return cells.set_column(index, name, hasher(text, null_values))


def _duplicates(header: list[str]) -> list[str]:
    seen: set[str] = set()
    return sorted({name for name in header if name in seen or seen.add(name)})


# --------------------------------------------------------------------------------------------
# Parquet


def _parquet_cells(
    data: bytes, columns: list[str], names: dict[str, str]
) -> tuple[pa.Table, list[LineProblem]]:
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        present = parquet.schema_arrow.names
        n_rows = parquet.metadata.num_rows
    except Exception as error:  # pyarrow raises several kinds for a damaged footer
        raise FileProblem(f"not a readable Parquet file ({_first_line(error)})") from None
    duplicated = _duplicates(present)
    if duplicated:
        raise FileProblem(f"column {', '.join(duplicated)} appears more than once in the file")
    missing = [c for c in columns if c not in present]
    if missing:
        reason = missing_columns_reason(missing, present)
        lines = [LineProblem(line, None, reason) for line in range(1, n_rows + 1)]
        return _empty(columns, names), lines
    try:
        table = parquet.read(columns=columns) if columns else None
        if table is not None and table.num_rows != n_rows:
            raise ValueError(f"{table.num_rows} rows read, the footer says {n_rows}")
    except Exception as error:  # a corrupt page: pyarrow's errors are many and untyped
        raise FileProblem(f"not a readable Parquet file ({_first_line(error)})") from None
    arrays = {"_source_line": pa.array(range(1, n_rows + 1), pa.int64())}
    for column in columns:
        arrays[names[column]] = _keep_instant(table.column(column).combine_chunks())
    return pa.table(arrays), []


def _keep_instant(array: pa.Array) -> pa.Array:
    """A time-zone-aware timestamp as text with its UTC offset, so that ingest keeps its
    instant instead of reading the wall-clock time as the department's local time."""
    kind = array.type
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        utc = array.cast(pa.timestamp(kind.unit, "UTC"))
        return pc.strftime(utc, format="%Y-%m-%d %H:%M:%S%z")
    if pa.types.is_dictionary(kind):
        return array.cast(kind.value_type)
    return array


# --------------------------------------------------------------------------------------------
# CSV


def _csv_cells(
    data: bytes,
    table_mapping: TableMapping,
    columns: list[str],
    names: dict[str, str],
    fields_of: dict[str, str],
    nullable: frozenset[str],
) -> tuple[pa.Table, list[LineProblem], list[LineProblem]]:
    encoding = table_mapping.encoding
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"  # a byte order mark is tolerated
    try:
        text = data.decode(encoding, errors="surrogateescape")
    except LookupError:
        raise FileProblem(f"unknown encoding {table_mapping.encoding!r}") from None
    except UnicodeError as error:  # e.g. UTF-16 cut in the middle of a character
        raise FileProblem(f"not {table_mapping.encoding} text ({error})") from None
    if "\x00" in text[:8192]:
        # binary content under a .csv name: nothing can be split into lines
        raise FileProblem("not a text CSV file (binary content)")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=table_mapping.delimiter)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise FileProblem(f"the header line cannot be read ({error})") from None
    if header is None:
        return _empty(columns, names), [], []
    header = [name.strip() for name in header]
    duplicated = _duplicates(header)
    if duplicated:
        raise FileProblem(f"column {', '.join(duplicated)} appears more than once in the header")
    for _ in range(table_mapping.extra_header_rows):  # e.g. a second header of other names
        try:
            if next(reader, None) is None:
                break
        except csv.Error as error:
            raise FileProblem(f"the header lines cannot be read ({error})") from None
    missing = [c for c in columns if c not in header]
    missing_reason = (
        missing_columns_reason(missing, header, table_mapping.delimiter) if missing else None
    )
    positions = [header.index(c) if c in header else -1 for c in columns]
    lines: list[int] = []
    values: list[list[str]] = [[] for _ in columns]
    problems: list[LineProblem] = []
    nulled: list[LineProblem] = []
    while True:
        # a record is named by its first physical line (a quoted line break spans several), as
        # a spreadsheet or `head -n` shows it; csv's line_num is the record's last line
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:  # e.g. a NUL inside a quoted field
            problems.append(LineProblem(line, None, f"malformed line ({error})"))
            continue
        if not row:
            continue  # a blank line is not a record
        problem = _line_problem(row, header, missing_reason)
        if problem is not None:
            problems.append(LineProblem(line, None, problem))
            continue
        cells = [row[position] for position in positions]
        # only the columns the mapping loads: a bad byte in an ignored column rejects nothing
        bad = {
            column: reason
            for column, cell in zip(columns, cells, strict=True)
            if (reason := _cell_problem(cell, column, fields_of, encoding)) is not None
        }
        rejecting = [column for column in bad if column not in nullable]
        if rejecting:
            problems.append(LineProblem(line, fields_of.get(rejecting[0]), bad[rejecting[0]]))
            continue
        for column, reason in bad.items():  # optional roster cells: nulled, with a warning
            cells[columns.index(column)] = None
            nulled.append(LineProblem(line, fields_of.get(column), reason))
        lines.append(line)
        for column_values, cell in zip(values, cells, strict=True):
            column_values.append(cell)
    arrays = {"_source_line": pa.array(lines, pa.int64())}
    for column, column_values in zip(columns, values, strict=True):
        arrays[names[column]] = pa.array(column_values, pa.string())
    return pa.table(arrays), problems, nulled


def missing_columns_reason(
    missing: list[str], present: list[str], delimiter: str | None = None
) -> str:
    """`missing column X (the mapping expects it)`, naming the header's spelling of X when only
    the case differs, else a close match (a misspelling); a header read as one column holding
    another delimiter says which delimiter the mapping should give."""
    other = _other_delimiter(present, delimiter)
    if other is not None:
        return (
            f"missing column {', '.join(missing)} (the mapping expects it; the header reads as "
            f"one column {present[0]!r} split by {other!r}: say delimiter: {other!r} in the "
            "mapping)"
        )
    by_case = {name.casefold(): name for name in present}
    close = {}
    for name in missing:
        if name.casefold() in by_case:
            close[name] = by_case[name.casefold()]
        elif match := difflib.get_close_matches(name, present, n=1, cutoff=0.6):
            close[name] = match[0]
    hints = "; ".join(f"did you mean {close[name]!r} for {name!r}?" for name in close)
    hints = f"; {hints}" if hints else ""
    return f"missing column {', '.join(missing)} (the mapping expects it{hints})"


def _other_delimiter(present: list[str], delimiter: str | None) -> str | None:
    """The delimiter a one-column header holds instead of the mapping's, if any."""
    if delimiter is None or len(present) != 1:
        return None
    return next((d for d in (";", "|", "\t") if d != delimiter and d in present[0]), None)


def _line_problem(row: list[str], header: list[str], missing: str | None) -> str | None:
    if missing:
        return missing
    if len(row) != len(header):
        return f"expected {len(header)} fields, found {len(row)} (truncated or malformed line)"
    return None


def _cell_problem(cell: str, column: str, fields_of: dict[str, str], encoding: str) -> str | None:
    label = fields_of.get(column, column)
    if len(cell) > MAX_CELL_CHARS:
        return (
            f"{label}: a cell of {len(cell)} characters in column {column} "
            f"(at most {MAX_CELL_CHARS})"
        )
    if "\x00" in cell:
        return f"{label}: a NUL character in column {column}"
    try:
        cell.encode("utf-8")
    except UnicodeEncodeError:
        name = encoding.removesuffix("-sig")
        return f"{label}: not valid {name} text (wrong file encoding?) in column {column}"
    return None


def _empty(columns: list[str], names: dict[str, str]) -> pa.Table:
    arrays = {"_source_line": pa.array([], pa.int64())}
    arrays.update({names[c]: pa.array([], pa.string()) for c in columns})
    return pa.table(arrays)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
