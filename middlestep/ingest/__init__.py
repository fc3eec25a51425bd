"""Ingest: a department's export files into the typed ``raw.*`` tables.

Each file is its own unit: read once (the bytes that are hashed are the bytes that are parsed),
then loaded in one transaction (its rows, its rejects, its warnings and its batch record commit
together or not at all). A file that cannot be read at all (not Parquet, a corrupt page, binary
content, a column named twice) becomes one batch with one reject naming the file and why, and the
other files go on. A file already loaded (same sha256 for the same table) is skipped. Every data
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
from pathlib import Path

import duckdb
import pyarrow as pa

from middlestep.contract import RAW_TABLES, Table, columns_with_types
from middlestep.ingest import checks, civilian_key
from middlestep.ingest.civilian_key import HashKeyError
from middlestep.ingest.sqltext import identifier, literal
from middlestep.ingest.stage import FileProblem, LineProblem, stage_bytes
from middlestep.mapping import DepartmentMapping, TableMapping
from middlestep.warehouse import Home, init_warehouse

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


@dataclass(frozen=True)
class FileResult:
    table: str
    source_file: str
    file_sha256: str
    # loaded | already_loaded | failed (unreadable: one reject names the reason) | rejected
    # (every row rejected: recorded with its rejects, but not as loaded, so a fix loads it)
    status: str
    batch_id: int | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    top_reasons: tuple[tuple[str, int], ...] = ()
    cells_nulled: int = 0  # optional cells with a bad value, nulled (raw._warnings)
    rows_merged: int = 0  # lines folded into another line's row (repeated_keys policy)


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
        """Unreadable files and files whose every row was rejected."""
        return sum(1 for f in self.files if f.status in ("failed", "rejected"))

    def lines(self) -> list[str]:
        out = []
        for result in self.files:
            if result.status == "already_loaded":
                out.append(
                    f"{result.table}: {result.source_file} already loaded with this mapping "
                    "(same sha256), skipped"
                )
                continue
            if result.status == "failed":
                reason = result.top_reasons[0][0] if result.top_reasons else "unreadable"
                out.append(f"{result.source_file} -> raw.{result.table}: FAILED: {reason}")
                continue
            nulled = f", {result.cells_nulled} cells nulled" if result.cells_nulled else ""
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
                f"{nulled}{every}"
            )
            out += [f"    {count} x {reason}" for reason, count in result.top_reasons]
        out += [f"warning: {warning}" for warning in self.warnings]
        return out


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
    connection = duckdb.connect(str(home.warehouse))
    try:
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
                    connection, path, export_dir, table_mapping, mapping, as_of, key
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
        with duckdb.connect(str(home.warehouse), read_only=True) as connection:
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
) -> FileResult:
    table = RAW_TABLES[table_mapping.table]
    source_file = f"{export_dir.name}/{path.relative_to(export_dir)}"
    unit = _FileUnit(connection, table, mapping.department_id, source_file)
    try:
        data = path.read_bytes()  # ONE read: the bytes hashed are the bytes loaded
    except OSError as error:
        return unit.failed(None, f"the file cannot be read ({error.strerror or error})")
    sha256 = hashlib.sha256(data).hexdigest()
    # the same content under the same mapping (NULL: recorded before mappings were) is loaded;
    # a file whose every row was rejected, or a changed mapping, loads again
    already = connection.execute(
        "select batch_id from raw._batches where department_id = ? and table_name = ? "
        "and file_sha256 = ? and superseded_by is null and coalesce(status, 'loaded') "
        "in ('loaded', 'failed') and coalesce(mapping_sha256, ?) = ?",
        [mapping.department_id, table.name, sha256]
        + [table_mapping.mapping_sha256, table_mapping.mapping_sha256],
    ).fetchone()
    if already:
        return FileResult(table.name, source_file, sha256, "already_loaded", already[0])
    unit.mapping_sha256 = table_mapping.mapping_sha256
    hasher = (lambda values: civilian_key.hash_values(key, values)) if key is not None else None
    try:
        staged = stage_bytes(
            data, table_mapping, civilian_columns(table_mapping), hasher, _nullable(table_mapping)
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


@dataclass
class _FileUnit:
    connection: duckdb.DuckDBPyConnection
    table: Table
    department_id: str
    source_file: str
    mapping_sha256: str = ""

    def _transaction(self, work):
        self.connection.execute("begin transaction")
        try:
            result = work()
            self.connection.execute("drop table if exists checked_rows")
            self.connection.execute("commit")
        except BaseException:
            self.connection.execute("rollback")
            raise
        finally:
            _unregister(self.connection)
        return result

    def _next_batch_id(self) -> int:
        return self.connection.execute(
            "select coalesce(max(batch_id), 0) + 1 from raw._batches"
        ).fetchone()[0]

    def _record_batch(
        self, batch_id, sha256, read, loaded, rejected, status="loaded", merged=0
    ) -> None:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self.connection.execute(
            "insert into raw._batches (batch_id, department_id, table_name, source_file, "
            "file_sha256, rows_read, rows_loaded, rows_rejected, loaded_at, mapping_sha256, "
            "status, rows_merged) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [batch_id, self.department_id, self.table.name, self.source_file, sha256]
            + [read, loaded, rejected, now, self.mapping_sha256, status, merged],
        )
        if sha256 is not None:  # earlier loads of the same content: superseded, kept in raw
            self.connection.execute(
                "update raw._batches set superseded_by = ? where department_id = ? and "
                "table_name = ? and file_sha256 = ? and batch_id < ? and superseded_by is null",
                [batch_id, self.department_id, self.table.name, sha256, batch_id],
            )

    def failed(self, sha256: str | None, reason: str) -> FileResult:
        """The file as one unreadable record: one reject (line 1, the reason), nothing loaded.
        Its sha256 is recorded, so the same broken bytes are not retried every night; a
        corrected file has another hash and loads."""

        def work() -> int:
            batch_id = self._next_batch_id()
            problem = LineProblem(1, None, f"file: {reason}")
            _insert_line_problems(self, batch_id, [problem])
            self._record_batch(batch_id, sha256, 1, 0, 1, status="failed")
            return batch_id

        batch_id = self._transaction(work)
        log.warning("%s: %s", self.source_file, reason)
        return FileResult(
            self.table.name, self.source_file, sha256 or "", "failed", batch_id, 1, 0, 1,
            ((f"file: {reason}", 1),),
        )  # fmt: skip

    def load(self, sha256, staged, table_mapping, mapping, as_of) -> FileResult:
        connection, table = self.connection, self.table

        def work() -> FileResult:
            batch_id = self._next_batch_id()
            connection.register("staged_rows", staged.cells)
            sql = checks.checked_rows_sql(
                table, table_mapping, mapping, staged.names, connection, as_of
            )
            connection.execute(f"create or replace temp table checked_rows as {sql}")
            loaded, stored = _insert_loaded(
                connection, table, table_mapping, self.department_id, batch_id
            )
            _insert_rejects(self, table_mapping, batch_id)
            _insert_line_problems(self, batch_id, list(staged.problems))
            nulled = _insert_warnings(self, table_mapping, batch_id)
            nulled += _insert_nulled_cells(self, table_mapping, batch_id, staged.nulled)
            rows_read = staged.cells.num_rows + len(staged.problems)
            rejected = rows_read - loaded
            status = "rejected" if rows_read and not loaded else "loaded"
            merged = loaded - stored
            self._record_batch(batch_id, sha256, rows_read, loaded, rejected, status, merged)
            top_reasons = connection.execute(
                "select reason, count(*) from raw._rejects where batch_id = ? "
                "group by reason order by 2 desc, 1 limit 5",
                [batch_id],
            ).fetchall()
            return FileResult(
                table.name, self.source_file, sha256, status, batch_id, rows_read, loaded,
                rejected, tuple((reason, count) for reason, count in top_reasons), nulled,
                merged,
            )  # fmt: skip

        return self._transaction(work)


def _unregister(connection: duckdb.DuckDBPyConnection) -> None:
    try:
        connection.unregister("staged_rows")
    except duckdb.Error:
        pass


def _insert_loaded(
    connection: duckdb.DuckDBPyConnection,
    table: Table,
    table_mapping: TableMapping,
    department_id: str,
    batch_id: int,
) -> tuple[int, int]:
    """Insert the lines without a rejecting error; returns (lines loaded, rows stored): with a
    per-key policy other than reject, the lines of one key become one row."""
    warned = set(checks.warning_names(table, table_mapping))
    values = {}
    for contract_field in table.fields:
        value = checks.column("v", contract_field.name)
        if contract_field.name in warned:  # a bad optional cell is nulled, the row kept
            value = f"case when {checks.column('e', contract_field.name)} is null then {value} end"
        values[contract_field.name] = value
    no_error = " and ".join(
        f"{checks.column('e', name)} is null"
        for name in checks.rejecting_names(table, table_mapping)
    )
    loaded = connection.execute(f"select count(*) from checked_rows where {no_error}").fetchone()[0]
    before = connection.execute(f"select count(*) from raw.{table.name}").fetchone()[0]
    # columns by name: a warehouse created before a contract field was added has it last
    names = ", ".join(identifier(name) for name in columns_with_types(table))
    connection.execute(
        f"insert into raw.{table.name} ({names}) "
        + _rows_per_key_sql(table, table_mapping, values, no_error, department_id, batch_id)
    )
    stored = connection.execute(f"select count(*) from raw.{table.name}").fetchone()[0] - before
    return loaded, stored


def _rows_per_key_sql(
    table: Table,
    table_mapping: TableMapping,
    values: dict[str, str],
    no_error: str,
    department_id: str,
    batch_id: int,
) -> str:
    """The SELECT of the rows to store: line for line (repeated keys were rejected), the first
    or last line of each key, or each key's lines aggregated field by field."""
    department = literal(department_id)
    policy = table_mapping.repeated_keys
    if policy == "reject":
        return (
            f"select {department}, {', '.join(values.values())}, {batch_id}, _source_line "
            f"from checked_rows where {no_error} order by _source_line"
        )
    key = ", ".join(checks.column("v", name) for name in table.key)
    if policy in ("first", "last"):
        order = "" if policy == "first" else " desc"
        return (
            f"select {department}, {', '.join(values.values())}, {batch_id}, _source_line "
            f"from checked_rows where {no_error} qualify row_number() over "
            f"(partition by {key} order by _source_line{order}) = 1 order by _source_line"
        )
    by_field = {f.field: f for f in table_mapping.fields}
    folded = []
    for name, value in values.items():
        if name in table.key:
            folded.append(checks.column("v", name))
            continue
        how = by_field[name].aggregate if name in by_field else "first"
        folded.append(_aggregate_sql(how, value))
    return (
        f"select {department}, {', '.join(folded)}, {batch_id}, min(_source_line) "
        f"from checked_rows where {no_error} group by {key} order by min(_source_line)"
    )


def _aggregate_sql(how: str, value: str) -> str:
    """One field over the lines of a key (mapping.AGGREGATES); first/last keep NULLs."""
    if how in ("first", "last"):
        order = "" if how == "first" else " desc"
        return f"(list({value} order by _source_line{order}))[1]"
    return {
        "min": f"min({value})",
        "max": f"max({value})",
        "sum": f"sum({value})",
        "count": f"count({value})",
        "count_distinct": f"count(distinct {value})",
        "count_lines": "count(*)",
        "any": f"bool_or({value})",
        "all": f"bool_and({value})",
    }[how]


def _problem_rows_sql(unit: _FileUnit, batch_id: int, names: list[str], where: str) -> str:
    """One row per line of checked_rows matching ``where``: the first failing field of
    ``names``, its source value, and every failing field's reason."""
    errors = {name: checks.column("e", name) for name in names}
    first_field = " ".join(
        f"when {e} is not null then {literal(checks.field_label(n))}" for n, e in errors.items()
    )
    first_value = " ".join(
        f"when {e} is not null then {checks.value_of(n, unit.table)}" for n, e in errors.items()
    )
    reasons = ", ".join(
        f"case when {e} is not null then {literal(checks.field_label(n) + ': ')} || {e} end"
        for n, e in errors.items()
    )
    return f"""
        select {batch_id}, {literal(unit.department_id)}, {literal(unit.table.name)},
            {literal(unit.source_file)}, _source_line,
            case {first_field} end, case {first_value} end, concat_ws('; ', {reasons})
        from checked_rows where {where}
        order by _source_line
    """


def _insert_rejects(unit: _FileUnit, table_mapping: TableMapping, batch_id: int) -> None:
    names = checks.rejecting_names(unit.table, table_mapping)
    any_error = " or ".join(f"{checks.column('e', name)} is not null" for name in names)
    unit.connection.execute(
        "insert into raw._rejects " + _problem_rows_sql(unit, batch_id, names, any_error)
    )


def _insert_warnings(unit: _FileUnit, table_mapping: TableMapping, batch_id: int) -> int:
    """Bad optional cells of loaded rows, nulled: one raw._warnings row per line."""
    names = checks.warning_names(unit.table, table_mapping)
    if not names:
        return 0
    rejecting = checks.rejecting_names(unit.table, table_mapping)
    loaded = " and ".join(f"{checks.column('e', n)} is null" for n in rejecting)
    warned = " or ".join(f"{checks.column('e', n)} is not null" for n in names)
    sql = _problem_rows_sql(unit, batch_id, names, f"({loaded}) and ({warned})")
    before = unit.connection.execute("select count(*) from raw._warnings").fetchone()[0]
    unit.connection.execute("insert into raw._warnings " + sql)
    return unit.connection.execute("select count(*) from raw._warnings").fetchone()[0] - before


def _insert_nulled_cells(
    unit: _FileUnit, table_mapping: TableMapping, batch_id: int, nulled: tuple[LineProblem, ...]
) -> int:
    """Cells nulled while staging (undecodable, NUL, oversized) of the lines that loaded."""
    if not nulled:
        return 0
    loaded = " and ".join(
        f"{checks.column('e', n)} is null"
        for n in checks.rejecting_names(unit.table, table_mapping)
    )
    cells = pa.table(
        {
            "line_number": [p.line_number for p in nulled],
            "field": [p.field for p in nulled],
            "reason": [p.reason for p in nulled],
        }
    )
    unit.connection.register("nulled_cells", cells)
    try:
        before = unit.connection.execute("select count(*) from raw._warnings").fetchone()[0]
        unit.connection.execute(
            f"insert into raw._warnings select {batch_id}, {literal(unit.department_id)}, "
            f"{literal(unit.table.name)}, {literal(unit.source_file)}, line_number, field, null, "
            f"reason from nulled_cells where line_number in "
            f"(select _source_line from checked_rows where {loaded}) order by line_number"
        )
        after = unit.connection.execute("select count(*) from raw._warnings").fetchone()[0]
    finally:
        unit.connection.unregister("nulled_cells")
    return after - before


def _insert_line_problems(unit: _FileUnit, batch_id: int, problems: list[LineProblem]) -> None:
    if not problems:
        return
    unit.connection.executemany(
        "insert into raw._rejects values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [batch_id, unit.department_id, unit.table.name, unit.source_file, p.line_number]
            + [p.field, None, p.reason]
            for p in problems
        ],
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
