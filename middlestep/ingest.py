"""Ingest: a department's export files into the typed ``raw.*`` tables.

Each file is one batch, loaded atomically (its rows, its rejects and its batch record commit
together or not at all). A file already loaded (same sha256 for the same table) is skipped.
Every data line of a file ends up either in ``raw.<table>`` or in ``raw._rejects`` with the
file, line, field and reason: rows_read = rows_loaded + rows_rejected, always.

Parsing happens in DuckDB: the file's cells are staged as text with their line numbers, and
one generated SQL statement parses, maps and checks every canonical field.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from middlestep.contract import (
    BOOLEAN,
    DATE,
    DOUBLE,
    INTEGER,
    RAW_TABLES,
    TEXT,
    TIMESTAMP,
    Field,
    Table,
    columns_with_types,
)
from middlestep.mapping import DepartmentMapping, FieldMapping, TableMapping
from middlestep.warehouse import Home, init_warehouse

log = logging.getLogger(__name__)

STAGE_CHUNK_ROWS = 200_000
TRUE_TOKENS = ("true", "t", "1", "yes", "y")
FALSE_TOKENS = ("false", "f", "0", "no", "n")


@dataclass(frozen=True)
class FileResult:
    table: str
    source_file: str
    file_sha256: str
    status: str  # loaded | already_loaded
    batch_id: int | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    top_reasons: tuple[tuple[str, int], ...] = ()


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

    def lines(self) -> list[str]:
        out = []
        for result in self.files:
            if result.status == "already_loaded":
                out.append(f"{result.source_file}: already loaded (same sha256), skipped")
                continue
            out.append(
                f"{result.source_file} -> raw.{result.table}: read {result.rows_read}, "
                f"loaded {result.rows_loaded}, rejected {result.rows_rejected}"
            )
            out += [f"    {count} x {reason}" for reason, count in result.top_reasons]
        out += [f"warning: {warning}" for warning in self.warnings]
        return out


@dataclass
class _PreReject:
    line_number: int
    field: str | None
    value: str | None
    reason: str


# --------------------------------------------------------------------------------------------
# public entry point


def ingest_export(
    home: Home,
    export_dir: Path,
    mapping: DepartmentMapping,
    *,
    as_of: dt.datetime | None = None,
) -> IngestSummary:
    """Load every file the mapping names from ``export_dir``; returns what happened per file."""
    export_dir = Path(export_dir)
    if not export_dir.is_dir():
        raise FileNotFoundError(f"export directory {export_dir} does not exist")
    as_of = as_of or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    summary = IngestSummary(department_id=mapping.department_id)
    home.ensure()
    connection = duckdb.connect(str(home.warehouse))
    try:
        init_warehouse(connection)
        _register_civilian_hash(connection, home)
        _record_department(connection, mapping)
        by_table = {t.table: t for t in mapping.tables}
        # contract order: the roster first, so later tables are checked against it
        for table_name in RAW_TABLES:
            if table_name not in by_table:
                continue
            table_mapping = by_table[table_name]
            files = sorted(p for p in export_dir.glob(table_mapping.file) if p.is_file())
            if not files:
                summary.warnings.append(
                    f"{mapping.path or 'mapping'} says raw.{table_name} comes from "
                    f"'{table_mapping.file}', but {export_dir} has no such file"
                )
            for path in files:
                log.info("ingesting %s -> raw.%s", path.name, table_name)
                result = _ingest_file(connection, path, export_dir, table_mapping, mapping, as_of)
                summary.files.append(result)
                if result.status == "loaded" and result.rows_read == 0:
                    summary.warnings.append(
                        f"{result.source_file} has no data rows (an empty file or only a header)"
                    )
    finally:
        connection.close()
    return summary


# --------------------------------------------------------------------------------------------
# one file, one transaction


def _ingest_file(
    connection: duckdb.DuckDBPyConnection,
    path: Path,
    export_dir: Path,
    table_mapping: TableMapping,
    mapping: DepartmentMapping,
    as_of: dt.datetime,
) -> FileResult:
    table = RAW_TABLES[table_mapping.table]
    sha256 = _file_sha256(path)
    source_file = f"{export_dir.name}/{path.relative_to(export_dir)}"
    already = connection.execute(
        "select batch_id from raw._batches where department_id = ? and table_name = ? "
        "and file_sha256 = ?",
        [mapping.department_id, table.name, sha256],
    ).fetchone()
    if already:
        return FileResult(table.name, source_file, sha256, "already_loaded", already[0])

    connection.execute("begin transaction")
    try:
        batch_id = connection.execute(
            "select coalesce(max(batch_id), 0) + 1 from raw._batches"
        ).fetchone()[0]
        pre_rejects = _stage_file(connection, path, table_mapping)
        rows_staged = connection.execute("select count(*) from staged_rows").fetchone()[0]
        checked_sql = _checked_rows_sql(table, table_mapping, mapping, connection, as_of)
        connection.execute(f"create or replace temp table checked_rows as {checked_sql}")
        loaded = _insert_loaded(connection, table, mapping.department_id, batch_id)
        _insert_rejects(connection, table, mapping.department_id, batch_id, source_file)
        _insert_pre_rejects(
            connection, pre_rejects, table, mapping.department_id, batch_id, source_file
        )
        rows_read = rows_staged + len(pre_rejects)
        rejected = rows_read - loaded
        connection.execute(
            "insert into raw._batches values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                batch_id,
                mapping.department_id,
                table.name,
                source_file,
                sha256,
                rows_read,
                loaded,
                rejected,
                dt.datetime.now(dt.UTC).replace(tzinfo=None),
            ],
        )
        top_reasons = connection.execute(
            "select reason, count(*) from raw._rejects where batch_id = ? "
            "group by reason order by 2 desc, 1 limit 5",
            [batch_id],
        ).fetchall()
        connection.execute("drop table if exists staged_rows")
        connection.execute("drop table if exists checked_rows")
        connection.execute("commit")
    except BaseException:
        connection.execute("rollback")
        raise
    return FileResult(
        table.name,
        source_file,
        sha256,
        "loaded",
        batch_id,
        rows_read,
        loaded,
        rejected,
        tuple((reason, count) for reason, count in top_reasons),
    )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# staging a file's cells as text with line numbers


def _stage_file(
    connection: duckdb.DuckDBPyConnection, path: Path, table_mapping: TableMapping
) -> list[_PreReject]:
    """Create temp table staged_rows(_source_line, <source columns> as text).

    Returns the lines that could not even be split into the mapped columns.
    """
    columns = sorted(set(table_mapping.source_columns))
    if table_mapping.format == "parquet":
        return _stage_parquet(connection, path, columns)
    return _stage_csv(connection, path, table_mapping, columns)


def _create_staged(connection: duckdb.DuckDBPyConnection, columns: list[str]) -> None:
    body = ", ".join(["_source_line BIGINT"] + [f'"{c}" VARCHAR' for c in columns])
    connection.execute(f"create or replace temp table staged_rows ({body})")


def _stage_parquet(
    connection: duckdb.DuckDBPyConnection, path: Path, columns: list[str]
) -> list[_PreReject]:
    _create_staged(connection, columns)
    try:
        described = connection.execute(
            "select name from parquet_schema(?) where num_children is null", [str(path)]
        ).fetchall()
    except duckdb.Error as error:
        return [_PreReject(1, None, None, f"not a readable Parquet file ({_first_line(error)})")]
    present = {name for (name,) in described}
    missing = [c for c in columns if c not in present]
    n_rows = connection.execute("select count(*) from read_parquet(?)", [str(path)]).fetchone()[0]
    if missing:
        reason = f"missing column {', '.join(missing)} (the mapping expects it)"
        return [_PreReject(line, None, None, reason) for line in range(1, n_rows + 1)]
    selected = ", ".join(f'cast("{c}" as varchar)' for c in columns)
    # a Parquet "line" is the row's position in the file, counted from 1
    connection.execute(
        f"insert into staged_rows select row_number() over () as _source_line"
        f"{', ' if columns else ''}{selected} from read_parquet(?)",
        [str(path)],
    )
    return []


def _stage_csv(
    connection: duckdb.DuckDBPyConnection,
    path: Path,
    table_mapping: TableMapping,
    columns: list[str],
) -> list[_PreReject]:
    _create_staged(connection, columns)
    with open(path, "rb") as probe:
        head = probe.read(8192)
    if b"\x00" in head:
        # binary content under a .csv name: nothing can be split into lines, reject it whole
        return [_PreReject(1, None, None, "not a text CSV file (binary content)")]
    encoding = (
        "utf-8-sig"
        if table_mapping.encoding.lower().replace("_", "-")
        in (
            "utf-8",
            "utf8",
        )
        else table_mapping.encoding
    )
    pre_rejects: list[_PreReject] = []
    with open(path, encoding=encoding, errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle, delimiter=table_mapping.delimiter)
        header = next(reader, None)
        if header is None:
            return []
        header = [name.strip() for name in header]
        missing = [c for c in columns if c not in header]
        positions = [header.index(c) if c in header else -1 for c in columns]
        chunk: dict[str, list] = {name: [] for name in ["_source_line", *columns]}
        for row in reader:
            line = reader.line_num  # the last physical line of the record
            if not row:
                continue  # a blank line is not a record
            problem = _row_problem(row, header, missing, table_mapping.encoding)
            if problem:
                pre_rejects.append(_PreReject(line, None, None, problem))
                continue
            chunk["_source_line"].append(line)
            for name, position in zip(columns, positions, strict=True):
                chunk[name].append(row[position])
            if len(chunk["_source_line"]) >= STAGE_CHUNK_ROWS:
                _flush(connection, chunk)
        _flush(connection, chunk)
    return pre_rejects


def _row_problem(row: list[str], header: list[str], missing: list[str], encoding: str) -> str:
    if missing:
        return f"missing column {', '.join(missing)} (the mapping expects it)"
    if len(row) != len(header):
        return f"expected {len(header)} fields, found {len(row)} (truncated or malformed line)"
    for cell in row:
        try:
            cell.encode("utf-8")
        except UnicodeEncodeError:
            return f"not valid {encoding} text (wrong file encoding?)"
    return ""


def _flush(connection: duckdb.DuckDBPyConnection, chunk: dict[str, list]) -> None:
    if not chunk["_source_line"]:
        return
    arrow_chunk = pa.table({name: values for name, values in chunk.items()})
    connection.register("stage_chunk", arrow_chunk)
    connection.execute("insert into staged_rows select * from stage_chunk")
    connection.unregister("stage_chunk")
    for values in chunk.values():
        values.clear()


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0]


# --------------------------------------------------------------------------------------------
# parsing, mapping and checking in SQL


def _sql_literal(value) -> str:
    if value is None:
        return "null"
    return "'" + str(value).replace("'", "''") + "'"


def _source_expression(field_mapping: FieldMapping | None, null_values: tuple[str, ...]) -> str:
    """The raw text of a field, NULL for the department's null tokens."""
    if field_mapping is None:
        return "cast(null as varchar)"
    tokens = ", ".join(_sql_literal(token) for token in null_values)
    if field_mapping.columns:
        # a composite: the cells joined by the separator (a null cell as ''), NULL if all are null
        cells = [f'trim("{column}")' for column in field_mapping.columns]
        is_null = [f"({cell} is null or {cell} in ({tokens}))" for cell in cells]
        parts = ", ".join(
            f"case when {null} then '' else {cell} end"
            for null, cell in zip(is_null, cells, strict=True)
        )
        all_null = " and ".join(is_null)
        return (
            f"case when {all_null} then null "
            f"else concat_ws({_sql_literal(field_mapping.separator)}, {parts}) end"
        )
    if field_mapping.column is None:
        return f"cast({_sql_literal(field_mapping.constant)} as varchar)"
    cell = f'trim("{field_mapping.column}")'
    return f"case when {cell} in ({tokens}) then null else {cell} end"


def _mapped_expression(source: str, field_mapping: FieldMapping | None) -> str:
    """Apply the mapping's value map (department code -> canonical code)."""
    if field_mapping is None or not field_mapping.values:
        return source
    cases = " ".join(
        f"when {_sql_literal(code)} then {_sql_literal(canonical)}"
        for code, canonical in field_mapping.values.items()
    )
    return f"(case {source} {cases} end)"


def _typed_expression(text: str, contract_field: Field, fmt: str | None, timezone: str) -> str:
    kind = contract_field.type
    if kind == TEXT:
        return text
    if kind == INTEGER:
        # integers may come as 3.0 from spreadsheets; anything fractional is rejected below
        as_double = f"try_cast({text} as double)"
        return f"(case when {as_double} = round({as_double}) then cast({as_double} as bigint) end)"
    if kind == DOUBLE:
        return f"try_cast({text} as double)"
    if kind == BOOLEAN:
        truthy = ", ".join(_sql_literal(t) for t in TRUE_TOKENS)
        falsy = ", ".join(_sql_literal(t) for t in FALSE_TOKENS)
        return (
            f"(case when lower({text}) in ({truthy}) then true "
            f"when lower({text}) in ({falsy}) then false end)"
        )
    parsed = f"try_cast({text} as timestamp)"
    if fmt:
        parsed = f"coalesce(try_strptime({text}, {_sql_literal(fmt)}), {parsed})"
    if kind == DATE:
        return f"cast({parsed} as date)"
    if kind == TIMESTAMP:
        if timezone.upper() == "UTC":
            return parsed
        # local wall-clock time of the department -> UTC
        return f"timezone('UTC', timezone({_sql_literal(timezone)}, {parsed}))"
    raise ValueError(f"unknown contract type {kind}")


def _error_expression(
    source: str,
    mapped: str,
    typed: str,
    contract_field: Field,
    field_mapping: FieldMapping | None,
    as_of: dt.datetime,
) -> str:
    """A reason text when the field breaks the contract, else NULL."""
    checks: list[tuple[str, str]] = []
    if contract_field.required:
        checks.append((f"{source} is null", "'required field is empty'"))
    if field_mapping is not None and field_mapping.values:
        checks.append(
            (
                f"{source} is not null and {mapped} is null",
                f"'unknown code ' || {_quoted(source)}",
            )
        )
    expected = {
        INTEGER: "an integer",
        DOUBLE: "a number",
        BOOLEAN: "a yes/no value",
        DATE: "a date",
        TIMESTAMP: "a timestamp",
    }.get(contract_field.type)
    if expected:
        fmt = field_mapping.format if field_mapping else None
        detail = f" in format {fmt}" if fmt else ""
        checks.append(
            (
                f"{mapped} is not null and {typed} is null",
                f"'not {expected}{detail}: ' || {_quoted(source)}",
            )
        )
    if contract_field.codes is not None:
        codes = ", ".join(_sql_literal(c) for c in contract_field.codes)
        checks.append(
            (
                f"{typed} is not null and cast({typed} as varchar) not in ({codes})",
                f"'unknown code ' || {_quoted(source)}",
            )
        )
    if contract_field.minimum is not None:
        checks.append((f"{typed} < {contract_field.minimum}", f"'below {contract_field.minimum}'"))
    if contract_field.maximum is not None:
        checks.append((f"{typed} > {contract_field.maximum}", f"'above {contract_field.maximum}'"))
    if contract_field.type in (DATE, TIMESTAMP):
        limit = (as_of + dt.timedelta(days=1)).isoformat(sep=" ", timespec="seconds")
        checks.append((f"{typed} > timestamp '{limit}'", "'date in the future'"))
    if not checks:
        return "cast(null as varchar)"
    cases = " ".join(f"when {condition} then {reason}" for condition, reason in checks)
    return f"(case {cases} end)"


def _quoted(text_sql: str) -> str:
    return f"'''' || coalesce({text_sql}, '') || ''''"


def _checked_rows_sql(
    table: Table,
    table_mapping: TableMapping,
    mapping: DepartmentMapping,
    connection: duckdb.DuckDBPyConnection,
    as_of: dt.datetime,
) -> str:
    by_field = {f.field: f for f in table_mapping.fields}
    source_columns, mapped_columns, typed_columns, error_columns = [], [], [], []
    for contract_field in table.fields:
        name = contract_field.name
        field_mapping = by_field.get(name)
        fmt = field_mapping.format if field_mapping else None
        source, mapped, typed = f'"s__{name}"', f'"m__{name}"', f'"v__{name}"'
        source_columns.append(
            f"{_source_expression(field_mapping, table_mapping.null_values)} as {source}"
        )
        mapped_columns.append(f"{_mapped_expression(source, field_mapping)} as {mapped}")
        typed_columns.append(
            f"{_typed_expression(mapped, contract_field, fmt, mapping.timezone)} as {typed}"
        )
        error = _error_expression(source, mapped, typed, contract_field, field_mapping, as_of)
        error_columns.append(f'{error} as "e__{name}"')

    key = ", ".join(f'"v__{k}"' for k in table.key)
    # an optional key field may be NULL: rows equal in every key field (NULL = NULL) duplicate
    key_present = " and ".join(
        f'"v__{k}" is not null' for k in table.key if table.field(k).required
    )
    roster_check = "cast(null as varchar)"
    if _checks_roster(table):
        has_roster = connection.execute(
            "select count(*) > 0 from raw.officers where department_id = ?",
            [mapping.department_id],
        ).fetchone()[0]
        if has_roster:
            roster_check = (
                '(case when "v__officer_id" is not null and "v__officer_id" not in '
                "(select officer_id from raw.officers where department_id = "
                f"{_sql_literal(mapping.department_id)}) "
                "then 'officer ' || \"v__officer_id\" || ' is not on the roster' end)"
            )
    return f"""
        with sourced as (
            select _source_line, {", ".join(source_columns)} from staged_rows
        ),
        mapped as (select *, {", ".join(mapped_columns)} from sourced),
        parsed as (select *, {", ".join(typed_columns)} from mapped),
        checked as (
            select *, {", ".join(error_columns)},
                {roster_check} as "e__officer_roster",
                case when {key_present} and row_number() over (
                        partition by {key} order by _source_line) > 1
                    then 'duplicate key within the file (first at line '
                        || min(_source_line) over (partition by {key}) || ')'
                end as "e__key"
            from parsed
        )
        select * from checked
    """


def _error_names(table: Table) -> list[str]:
    roster = ["officer_roster"] if _checks_roster(table) else []
    return [f.name for f in table.fields] + roster + ["key"]


def _checks_roster(table: Table) -> bool:
    return "officer_id" in table.field_names and table.name != "officers"


def _insert_loaded(
    connection: duckdb.DuckDBPyConnection, table: Table, department_id: str, batch_id: int
) -> int:
    values = []
    for contract_field in table.fields:
        value = f'"v__{contract_field.name}"'
        if contract_field.is_civilian_identifier:
            value = f"civilian_hash({value})"
        values.append(value)
    no_error = " and ".join(f'"e__{name}" is null' for name in _error_names(table))
    before = connection.execute(f"select count(*) from raw.{table.name}").fetchone()[0]
    # columns by name: a warehouse created before a contract field was added has it last
    names = ", ".join(f'"{name}"' for name in columns_with_types(table))
    connection.execute(
        f"insert into raw.{table.name} ({names}) select {_sql_literal(department_id)}, "
        f"{', '.join(values)}, {batch_id}, _source_line from checked_rows where {no_error} "
        "order by _source_line"
    )
    return connection.execute(f"select count(*) from raw.{table.name}").fetchone()[0] - before


def _insert_rejects(
    connection: duckdb.DuckDBPyConnection,
    table: Table,
    department_id: str,
    batch_id: int,
    source_file: str,
) -> None:
    names = _error_names(table)
    any_error = " or ".join(f'"e__{name}" is not null' for name in names)
    first_field = " ".join(
        f"when \"e__{name}\" is not null then '{_field_label(name)}'" for name in names
    )
    first_value = " ".join(
        f'when "e__{name}" is not null then {_value_of(name, table)}' for name in names
    )
    reasons = ", ".join(
        f'case when "e__{name}" is not null then \'{_field_label(name)}: \' || "e__{name}" end'
        for name in names
    )
    connection.execute(
        f"""
        insert into raw._rejects
        select {batch_id}, {_sql_literal(department_id)}, {_sql_literal(table.name)},
            {_sql_literal(source_file)}, _source_line,
            case {first_field} end, case {first_value} end, concat_ws('; ', {reasons})
        from checked_rows where {any_error}
        order by _source_line
        """
    )


def _field_label(name: str) -> str:
    return {"officer_roster": "officer_id", "key": "key"}.get(name, name)


def _value_of(name: str, table: Table) -> str:
    if name == "officer_roster":
        return '"s__officer_id"'
    if name == "key":
        return "concat_ws('|', " + ", ".join(f'"s__{k}"' for k in table.key) + ")"
    return f'"s__{name}"'


def _insert_pre_rejects(
    connection: duckdb.DuckDBPyConnection,
    pre_rejects: list[_PreReject],
    table: Table,
    department_id: str,
    batch_id: int,
    source_file: str,
) -> None:
    if not pre_rejects:
        return
    connection.executemany(
        "insert into raw._rejects values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [batch_id, department_id, table.name, source_file, r.line_number, r.field]
            + [r.value, r.reason]
            for r in pre_rejects
        ],
    )


# --------------------------------------------------------------------------------------------
# department record and civilian identifiers


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


def civilian_hash_key(home: Home) -> bytes:
    """The key for civilian identifiers: from the environment, else a per-warehouse file.

    Never from the repository: a key in the repo would let anyone re-identify civilians.
    """
    if os.environ.get("MIDDLESTEP_HASH_KEY"):
        return os.environ["MIDDLESTEP_HASH_KEY"].encode()
    key_file = os.environ.get("MIDDLESTEP_HASH_KEY_FILE")
    path = Path(key_file) if key_file else home.root / "civilian_hash.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def _register_civilian_hash(connection: duckdb.DuckDBPyConnection, home: Home) -> None:
    key = civilian_hash_key(home)

    def civilian_hash(value: str | None) -> str | None:
        if value is None:
            return None
        return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()

    connection.create_function(
        "civilian_hash", civilian_hash, ["VARCHAR"], "VARCHAR", null_handling="special"
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
