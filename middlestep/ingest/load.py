"""One file, one transaction: a staged file's rows checked in DuckDB and written with its rejects,
warnings and batch record, or the file recorded as one unreadable record.

A table's per-key policy (`repeated_keys` of the mapping) decides how lines repeating a key are
stored: line for line (repeats were rejected), the first or last line, or one row per key folded
field by field. Every line counts once: rows_read = rows_loaded + rows_rejected.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from middlestep.contract import Table, columns_with_types
from middlestep.ingest import checks
from middlestep.ingest.sqltext import identifier, literal
from middlestep.ingest.stage import LineProblem
from middlestep.mapping import TableMapping

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileResult:
    table: str
    source_file: str
    file_sha256: str
    # loaded | already_loaded | failed (unreadable: one reject names the reason) | failed_before
    # (the same bytes and mapping failed in an earlier ingest: not parsed again) | rejected
    # (every row rejected: recorded with its rejects, but not as loaded, so a fix loads it)
    status: str
    batch_id: int | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    top_reasons: tuple[tuple[str, int], ...] = ()
    cells_nulled: int = 0  # optional cells with a bad value, nulled (raw._warnings)
    rows_merged: int = 0  # lines folded into another line's row (repeated_keys policy)
    superseded: tuple[int, ...] = ()  # earlier batches of the same bytes this load replaces


@dataclass
class FileUnit:
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
    ) -> tuple[int, ...]:
        """Record the batch; returns the earlier batches of the same content it supersedes."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self.connection.execute(
            "insert into raw._batches (batch_id, department_id, table_name, source_file, "
            "file_sha256, rows_read, rows_loaded, rows_rejected, loaded_at, mapping_sha256, "
            "status, rows_merged) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [batch_id, self.department_id, self.table.name, self.source_file, sha256]
            + [read, loaded, rejected, now, self.mapping_sha256, status, merged],
        )
        if sha256 is None:
            return ()
        # earlier loads of the same content: superseded, kept in raw
        earlier = self.connection.execute(
            "update raw._batches set superseded_by = ? where department_id = ? and "
            "table_name = ? and file_sha256 = ? and batch_id < ? and superseded_by is null "
            "returning batch_id",
            [batch_id, self.department_id, self.table.name, sha256, batch_id],
        ).fetchall()
        return tuple(sorted(batch for (batch,) in earlier))

    def failed(self, sha256: str | None, reason: str) -> FileResult:
        """The file as one unreadable record: one reject (line 1, the reason), nothing loaded.
        Its sha256 is recorded, so the same broken bytes are not retried every night; a
        corrected file has another hash and loads."""

        def work() -> tuple[int, tuple[int, ...]]:
            batch_id = self._next_batch_id()
            problem = LineProblem(1, None, f"file: {reason}")
            _insert_line_problems(self, batch_id, [problem])
            return batch_id, self._record_batch(batch_id, sha256, 1, 0, 1, status="failed")

        batch_id, superseded = self._transaction(work)
        log.warning("%s: %s", self.source_file, reason)
        return FileResult(
            self.table.name, self.source_file, sha256 or "", "failed", batch_id, 1, 0, 1,
            ((f"file: {reason}", 1),), superseded=superseded,
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
            superseded = self._record_batch(
                batch_id, sha256, rows_read, loaded, rejected, status, merged
            )
            top_reasons = connection.execute(
                "select reason, count(*) from raw._rejects where batch_id = ? "
                "group by reason order by 2 desc, 1 limit 5",
                [batch_id],
            ).fetchall()
            return FileResult(
                table.name, self.source_file, sha256, status, batch_id, rows_read, loaded,
                rejected, tuple((reason, count) for reason, count in top_reasons), nulled,
                merged, superseded,
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


def _problem_rows_sql(unit: FileUnit, batch_id: int, names: list[str], where: str) -> str:
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


def _insert_rejects(unit: FileUnit, table_mapping: TableMapping, batch_id: int) -> None:
    names = checks.rejecting_names(unit.table, table_mapping)
    any_error = " or ".join(f"{checks.column('e', name)} is not null" for name in names)
    unit.connection.execute(
        "insert into raw._rejects " + _problem_rows_sql(unit, batch_id, names, any_error)
    )


def _insert_warnings(unit: FileUnit, table_mapping: TableMapping, batch_id: int) -> int:
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
    unit: FileUnit, table_mapping: TableMapping, batch_id: int, nulled: tuple[LineProblem, ...]
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


def _insert_line_problems(unit: FileUnit, batch_id: int, problems: list[LineProblem]) -> None:
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
