"""Ingest: a department's export files into the typed ``raw.*`` tables.

Each file is its own unit: read once (the bytes that are hashed are the bytes that are parsed),
then loaded in one transaction (its rows, its rejects, its warnings and its batch record commit
together or not at all). A file that cannot be read at all (not Parquet, a corrupt page, binary
content, a column named twice) becomes one batch with one reject naming the file and why, and the
other files go on. A file already loaded (same sha256 for the same table) is skipped; one that
failed before (same sha256 and mapping) is reported failed again with its earlier reason. Every data
line of a file ends up either in ``raw.<table>`` or in ``raw._rejects`` with the file, line,
field and reason: rows_read = rows_loaded + rows_rejected, always.

Parsing the cells happens in DuckDB (middlestep/ingest/checks.py) over the file's cells staged in
Arrow (middlestep/ingest/stage.py), where civilian identifiers are already hashed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import duckdb

from middlestep.contract import RAW_TABLES
from middlestep.ingest import checks, civilian_key
from middlestep.ingest.civilian_key import HashKeyError
from middlestep.ingest.load import FileResult, FileUnit
from middlestep.ingest.sqltext import identifier
from middlestep.ingest.stage import FileProblem, stage_bytes
from middlestep.mapping import DepartmentMapping, TableMapping
from middlestep.warehouse import Home, connect, init_warehouse

__all__ = ["FileResult", "HashKeyError", "IngestSummary", "ingest_export", "iter_reject_lines"]

log = logging.getLogger(__name__)

# DuckDB errors a file's content can cause: the file fails, the night goes on. Anything else
# (a full disk, out of memory, an interrupt) stops the ingest, as before.
DATA_ERRORS = (
    duckdb.ConversionException,
    duckdb.InvalidInputException,
    duckdb.OutOfRangeException,
    duckdb.TypeMismatchException,
    duckdb.NotImplementedException,
)


@dataclass
class IngestSummary:
    department_id: str
    files: list[FileResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def files_failed(self) -> int:
        """Unreadable files (now or, the same bytes, before) and files whose every row was
        rejected."""
        return sum(1 for f in self.files if f.status in ("failed", "failed_before", "rejected"))

    def lines(self) -> list[str]:
        out = []
        for result in self.files:
            if result.status == "already_loaded":
                out.append(
                    f"{result.table}: {result.source_file} already loaded with this mapping "
                    "(same sha256), skipped"
                )
                continue
            if result.status == "failed_before":
                reason = result.top_reasons[0][0] if result.top_reasons else "unreadable"
                out.append(
                    f"{result.source_file} -> raw.{result.table}: FAILED before with this "
                    f"mapping (same sha256, batch {result.batch_id}): {reason}; not loaded, "
                    "not parsed again: fix the file or the mapping and ingest again"
                )
                continue
            if result.status == "failed":
                reason = result.top_reasons[0][0] if result.top_reasons else "unreadable"
                out.append(
                    f"{result.source_file} -> raw.{result.table}: FAILED: {reason}"
                    f"{_supersedes(result)}"
                )
                continue
            nulled = (
                f", {counted(result.cells_nulled, 'cell')} nulled" if result.cells_nulled else ""
            )
            merged = (
                f" into {result.rows_loaded - result.rows_merged} rows"
                if result.rows_merged
                else ""
            )
            every = (
                " (FAILED: every row rejected; not recorded as loaded: fix the mapping or the "
                "file and ingest again)"
                if result.status == "rejected"
                else ""
            )
            out.append(
                f"{result.source_file} -> raw.{result.table}: read {result.rows_read}, "
                f"loaded {result.rows_loaded}{merged}, rejected {result.rows_rejected}"
                f"{nulled}{every}{_supersedes(result)}"
            )
            out += [f"    {count} x {reason}" for reason, count in result.top_reasons]
        out += [f"warning: {warning}" for warning in self.warnings]
        return out

    def total_line(self, department: str) -> str:
        """The closing line of `middlestep ingest` (``department``: the name it was given)."""
        failed = f"; {counted(self.files_failed, 'file')} FAILED" if self.files_failed else ""
        return (
            f"ingest {department}: read {self.rows_read}, loaded {self.rows_loaded}, "
            f"rejected {self.rows_rejected} rows from {counted(len(self.files), 'file')}{failed}"
        )


def _supersedes(result: FileResult) -> str:
    """A load of bytes loaded before (under another mapping, or all rejected) replaces that
    load: the earlier rows stay in raw but are no longer current."""
    if not result.superseded:
        return ""
    batches = ", ".join(str(batch) for batch in result.superseded)
    return (
        f"; supersedes the earlier load of the same file "
        f"({'batch' if len(result.superseded) == 1 else 'batches'} {batches})"
    )


def counted(n: int, noun: str) -> str:
    """`1 file`, `2 files`: a count with its noun in the right number."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# --------------------------------------------------------------------------------------------
# public entry point


def ingest_export(
    home: Home,
    export_dir: Path,
    mapping: DepartmentMapping,
    *,
    as_of: dt.datetime | None = None,
) -> IngestSummary:
    """Load every file the mapping names from ``export_dir``; returns what happened per file.

    Raises HashKeyError (nothing loaded) when the mapping loads a civilian identifier and no
    usable key is configured, or the key is not the one this warehouse was loaded with."""
    export_dir = Path(export_dir)
    if not export_dir.is_dir():
        raise FileNotFoundError(f"export directory {export_dir} does not exist")
    as_of = as_of or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    summary = IngestSummary(department_id=mapping.department_id)
    home.ensure()
    key = _civilian_key(home, mapping, summary)  # before the warehouse is opened for writing
    # the warehouse layer's connection: the memory cap and spilling to <home>/tmp apply here too
    connection = connect(home.warehouse)
    try:
        log.info(
            "ingest: DuckDB memory_limit %s, temp_directory %s",
            *connection.execute(
                "select current_setting('memory_limit'), current_setting('temp_directory')"
            ).fetchone(),
        )
        init_warehouse(connection)
        if key is not None:
            civilian_key.record_fingerprint(connection, key)
        _record_department(connection, mapping)
        by_table = {t.table: t for t in mapping.tables}
        # contract order: the roster first, so later tables are checked against it
        for table_name in RAW_TABLES:
            if table_name not in by_table:
                continue
            table_mapping = by_table[table_name]
            for path in matching_files(export_dir, table_mapping, mapping, summary.warnings):
                log.info("ingesting %s -> raw.%s", path.name, table_name)
                result = _ingest_file(
                    connection, path, export_dir, table_mapping, mapping, as_of, key, home.root
                )
                summary.files.append(result)
                if result.status == "loaded" and result.rows_read == 0:
                    summary.warnings.append(
                        f"{result.source_file} has no data rows (an empty file or only a header)"
                    )
    finally:
        connection.close()
    return summary


def _civilian_key(home: Home, mapping: DepartmentMapping, summary: IngestSummary) -> bytes | None:
    """The hash key, checked against the warehouse's fingerprint before anything is written;
    None when the mapping loads no civilian identifier."""
    if not _civilian_columns_of(mapping):
        return None
    recorded, hashed = None, False
    if home.warehouse.exists():
        with connect(home.warehouse, read_only=True) as connection:
            recorded = civilian_key.recorded_fingerprint(connection)
            hashed = _has_civilian_hashes(connection)
    fresh = recorded is None and not hashed
    key, made = civilian_key.load_key(home.root, fresh_warehouse=fresh)
    civilian_key.check_fingerprint(recorded, key)
    if made:
        summary.warnings.append(made)
    return key


def _has_civilian_hashes(connection: duckdb.DuckDBPyConnection) -> bool:
    for table in RAW_TABLES.values():
        for contract_field in table.fields:
            if not contract_field.is_civilian_identifier:
                continue
            exists = connection.execute(
                "select count(*) from information_schema.columns where table_catalog = "
                "current_database() and table_schema = 'raw' and table_name = ? "
                "and column_name = ?",
                [table.name, contract_field.name],
            ).fetchone()[0]
            if (
                exists
                and connection.execute(
                    f"select count({identifier(contract_field.name)}) from raw.{table.name}"
                ).fetchone()[0]
            ):
                return True
    return False


def civilian_columns(table_mapping: TableMapping) -> frozenset[str]:
    table = RAW_TABLES[table_mapping.table]
    return frozenset(
        f.column
        for f in table_mapping.fields
        if f.column is not None and table.field(f.field).is_civilian_identifier
    )


def _nullable(table_mapping: TableMapping) -> frozenset[str]:
    """Source columns that feed only fields whose bad cells are nulled (roster optionals)."""
    soft = set(checks.warning_names(RAW_TABLES[table_mapping.table], table_mapping))
    feeds: dict[str, set[str]] = {}
    for mapped in table_mapping.fields:
        for column in mapped.columns or ((mapped.column,) if mapped.column is not None else ()):
            feeds.setdefault(column, set()).add(mapped.field)
    return frozenset(column for column, fields in feeds.items() if fields <= soft)


def _civilian_columns_of(mapping: DepartmentMapping) -> bool:
    return any(civilian_columns(t) for t in mapping.tables)


def matching_files(
    export_dir: Path, table_mapping: TableMapping, mapping: DepartmentMapping, warnings: list[str]
) -> list[Path]:
    """The files of the export matching the table's pattern; a symlink (or anything) that
    leads out of the export directory is refused with a warning."""
    root = export_dir.resolve()
    found = []
    for path in sorted(export_dir.glob(table_mapping.file)):
        resolved = path.resolve()
        if not resolved.is_relative_to(root):
            warnings.append(
                f"{path} leads out of the export directory (to {resolved}): refused, not read"
            )
            continue
        if resolved.is_file():
            found.append(path)
    if not found:
        warnings.append(
            f"{mapping.path or 'mapping'} says raw.{table_mapping.table} comes from "
            f"'{table_mapping.file}', but {export_dir} has no such file"
        )
    return found


# --------------------------------------------------------------------------------------------
# one file, one transaction


def _ingest_file(
    connection: duckdb.DuckDBPyConnection,
    path: Path,
    export_dir: Path,
    table_mapping: TableMapping,
    mapping: DepartmentMapping,
    as_of: dt.datetime,
    key: bytes | None,
    scratch: Path,
) -> FileResult:
    table = RAW_TABLES[table_mapping.table]
    source_file = f"{export_dir.name}/{path.relative_to(export_dir)}"
    unit = FileUnit(connection, table, mapping.department_id, source_file)
    try:
        data = path.read_bytes()  # ONE read: the bytes hashed are the bytes loaded
    except OSError as error:
        return unit.failed(None, f"the file cannot be read ({error.strerror or error})")
    sha256 = hashlib.sha256(data).hexdigest()
    # the same content under the same mapping (NULL: recorded before mappings were) is loaded;
    # a file whose every row was rejected, or a changed mapping, loads again
    already = connection.execute(
        "select batch_id, coalesce(status, 'loaded') from raw._batches where department_id = ? "
        "and table_name = ? and file_sha256 = ? and superseded_by is null "
        "and coalesce(status, 'loaded') in ('loaded', 'failed') "
        "and coalesce(mapping_sha256, ?) = ?",
        [mapping.department_id, table.name, sha256]
        + [table_mapping.mapping_sha256, table_mapping.mapping_sha256],
    ).fetchone()
    if already and already[1] == "failed":
        return _failed_before(connection, table.name, source_file, sha256, already[0])
    if already:
        return FileResult(table.name, source_file, sha256, "already_loaded", already[0])
    unit.mapping_sha256 = table_mapping.mapping_sha256
    hasher = partial(civilian_key.hash_array, key) if key is not None else None
    try:
        staged = stage_bytes(
            data,
            table_mapping,
            civilian_columns(table_mapping),
            hasher,
            _nullable(table_mapping),
            scratch=scratch,
        )
    except FileProblem as problem:
        return unit.failed(sha256, str(problem))
    except MemoryError:
        raise
    except Exception as error:  # a parse error is this file's alone: it fails, the night goes on
        log.warning("%s: cannot be parsed", source_file, exc_info=True)
        return unit.failed(sha256, f"the file cannot be parsed ({type(error).__name__}: {error})")
    del data
    try:
        return unit.load(sha256, staged, table_mapping, mapping, as_of)
    except DATA_ERRORS as error:
        log.warning("%s: failed (%s)", source_file, error)
        first = str(error).strip().splitlines()[0]
        return unit.failed(sha256, f"the file's values could not be loaded ({first})")


def _failed_before(
    connection: duckdb.DuckDBPyConnection, table: str, source_file: str, sha256: str, batch: int
) -> FileResult:
    """The same bytes under the same mapping failed before: their content fails the same way
    again, so they are not parsed again, but reported failed again with the earlier reason
    (never as loaded); a corrected file or mapping loads."""
    reason = connection.execute(
        "select reason from raw._rejects where batch_id = ? order by line_number limit 1",
        [batch],
    ).fetchone()
    reason = reason[0] if reason else "file: unreadable"
    return FileResult(
        table, source_file, sha256, "failed_before", batch, top_reasons=((reason, 1),)
    )


# --------------------------------------------------------------------------------------------
# department record


def _record_department(connection: duckdb.DuckDBPyConnection, mapping: DepartmentMapping) -> None:
    connection.execute(
        "delete from raw.departments where department_id = ?", [mapping.department_id]
    )
    connection.execute(
        "insert into raw.departments values (?, ?, ?, ?, ?)",
        [
            mapping.department_id,
            mapping.description,
            mapping.timezone,
            mapping.study_start_on,
            mapping.study_end_on,
        ],
    )


def iter_reject_lines(connection: duckdb.DuckDBPyConnection, limit: int = 20) -> Iterator[str]:
    """Human-readable reject lines: file:line field=value: reason."""
    rows = connection.execute(
        "select source_file, line_number, field, value, reason from raw._rejects "
        "order by batch_id, line_number limit ?",
        [limit],
    ).fetchall()
    for source_file, line, field_name, value, reason in rows:
        where = f"{source_file}:{line}"
        what = f" {field_name}={value!r}" if field_name else ""
        yield f"{where}{what}: {reason}"
