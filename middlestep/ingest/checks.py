"""Checking a file's staged cells in one generated SQL statement, over the typed values of
typing_sql.py.

Every canonical field gets an error text (``e__``, NULL when the field is fine) beside its typed
value (``v__``). A row with an error in a required, key or strict field is rejected; on a table
that keeps rows with bad optional cells (the roster: every other table is checked against it) an
optional field's error nulls that cell and is recorded as a warning instead.

Names go through ``sqltext.identifier`` and values through ``sqltext.literal``; export column
names never appear (the staged cells are ``c0``, ``c1``, ...).
"""

from __future__ import annotations

import datetime as dt

import duckdb

from middlestep.contract import BOOLEAN, DATE, DOUBLE, INTEGER, TIMESTAMP, Field, Table
from middlestep.ingest.sqltext import literal
from middlestep.ingest.typing_sql import COUNTS, column, formats_of, typed_chain, utc_range
from middlestep.mapping import DepartmentMapping, FieldMapping, TableMapping

ROSTER, KEY = "officer_roster", "key"


def _error_expression(
    source: str,
    mapped: str,
    typed: str,
    contract_field: Field,
    field_mapping: FieldMapping | None,
    limits: tuple[dt.date, dt.datetime],
) -> str:
    """A reason text when the field breaks the contract, else NULL."""
    earliest, as_of = limits
    checks: list[tuple[str, str]] = []
    required = contract_field.required or (
        field_mapping is not None and contract_field.required_when_mapped
    )
    if field_mapping is not None and field_mapping.allow_unknown:
        required = False  # NULL means what the contract's unknown_means says
    if required:
        checks.append((f"{source} is null", "'required field is empty'"))
    if field_mapping is not None and field_mapping.values:
        checks.append(
            (f"{source} is not null and {mapped} is null", f"'unknown code ' || {_quoted(source)}")
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
        detail = f" in format {' or '.join(formats_of(fmt))}" if fmt else ""
        hint = ""
        if contract_field.type in (DATE, TIMESTAMP):
            hint = f" || {format_hint_sql(mapped, fmt)}"
        checks.append(
            (
                f"{mapped} is not null and {typed} is null",
                f"{literal(f'not {expected}{detail}: ')} || {_quoted(source)}{hint}",
            )
        )
    if contract_field.codes is not None:
        codes = ", ".join(literal(c) for c in contract_field.codes)
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
        checks.append((f"{typed} > timestamp {literal(limit)}", "'date in the future'"))
        floor = earliest.isoformat()
        checks.append(
            (
                f"{typed} < timestamp {literal(floor)}",
                literal(f"date before {floor} (the mapping's earliest_date): ")
                + f" || {_quoted(source)}",
            )
        )
    if not checks:
        return "cast(null as varchar)"
    cases = " ".join(f"when {condition} then {reason}" for condition, reason in checks)
    return f"(case {cases} end)"


# the date and time layouts a hint may suggest, most common first: the first that parses the
# value is the one named (a day above 12 tells day-first from month-first)
HINT_DATES = (
    "%m/%d/%Y", "%m/%d/%y", "%d/%m/%Y", "%d/%m/%y", "%Y/%m/%d", "%m-%d-%Y", "%d-%m-%Y",
    "%d.%m.%Y", "%Y%m%d", "%d-%b-%Y", "%d-%b-%y", "%b %d, %Y", "%Y-%m-%d",
)  # fmt: skip
HINT_TIMES = (
    "", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", "T%H:%M:%S", " %H:%M:%S.%f",
)  # fmt: skip


def format_hint_sql(text_sql: str, given_format: str | tuple[str, ...] | None) -> str:
    """SQL text: ' (add format: "...")' with the first layout that parses the value, else ''.
    With a format given that does not fit, the hint names the layout that does."""
    candidates = [date + time for time in HINT_TIMES for date in HINT_DATES]
    cases = " ".join(
        f"when try_strptime({text_sql}, {literal(candidate)}) is not null then {literal(candidate)}"
        for candidate in candidates
        if candidate not in formats_of(given_format)
    )
    lead = "the value fits format" if given_format else "add format"
    return (
        f"coalesce({literal(f' ({lead}: ' + chr(34))} || (case {cases} end) || "
        f"{literal(chr(34) + ')')}, '')"
    )


def _quoted(text_sql: str) -> str:
    return f"'''' || coalesce({text_sql}, '') || ''''"


def checked_rows_sql(
    table: Table,
    table_mapping: TableMapping,
    mapping: DepartmentMapping,
    names: dict[str, str],
    connection: duckdb.DuckDBPyConnection,
    as_of: dt.datetime,
) -> str:
    """SELECT over ``staged_rows``: per canonical field its typed value (v__) and error (e__),
    and its source text (s__) on the lines with an error or warning (the text a reject names;
    NULL on the others, so a clean file's texts are never stored twice)."""
    by_field = {f.field: f for f in table_mapping.fields}
    limits = (mapping.earliest_date, as_of)
    utc_times = utc_range(mapping.earliest_date, as_of)
    error_columns = []
    for contract_field in table.fields:
        name = contract_field.name
        field_mapping = by_field.get(name)
        source, mapped, typed = column("s", name), column("m", name), column("v", name)
        error = "cast(null as varchar)"
        if field_mapping is None or field_mapping.aggregate not in COUNTS:
            error = _error_expression(source, mapped, typed, contract_field, field_mapping, limits)
        error_columns.append(f"{error} as {column('e', name)}")
    chain = typed_chain(table.fields, by_field, table_mapping, mapping, names, utc_times)

    key = ", ".join(column("v", k) for k in table.key)
    # an optional key field may be NULL: rows equal in every key field (NULL = NULL) duplicate
    key_present = " and ".join(
        f"{column('v', k)} is not null" for k in table.key if table.field(k).required
    )
    roster_check = "cast(null as varchar)"
    if checks_roster(table) and _roster_expected(connection, mapping):
        officer = column("v", "officer_id")
        roster_check = (
            f"(case when {officer} is not null and {officer} not in "
            "(select officer_id from raw.officers where department_id = "
            f"{literal(mapping.department_id)}) "
            f"then 'officer ' || {officer} || ' is not on the roster' end)"
        )
    # a repeated key: the lines after its first (a group-by joined back, not a window over every
    # column of the file: the window sorted the whole wide row). The keys are typed by a chain of
    # their own, so the wide one is read once, streamed, never materialized as a shared CTE.
    duplicate = "cast(null as varchar)"
    repeated = ""
    join = ""
    # a per-key policy other than reject takes repeated keys in (first, last or aggregated)
    if table_mapping.repeated_keys == "reject":
        key_fields = [table.field(k) for k in table.key]
        key_chain = typed_chain(
            key_fields, by_field, table_mapping, mapping, names, utc_times, prefix="key_"
        )
        first = column("r", "first_line")
        aliases = ", ".join(f"{column('v', k)} as {column('r', k)}" for k in table.key)
        repeated = (
            f"{key_chain}, repeated as (select {aliases}, min(_source_line) as {first} "
            f"from key_parsed where {key_present} group by {key} having count(*) > 1),"
        )
        join = "left join repeated on " + " and ".join(
            f"parsed.{column('v', k)} is not distinct from repeated.{column('r', k)}"
            for k in table.key
        )
        duplicate = (
            f"case when parsed._source_line > repeated.{first} then "
            f"'duplicate key within the file (first at line ' || repeated.{first} || ')' end"
        )
    errors = [column("e", f.name) for f in table.fields] + [column("e", ROSTER), column("e", KEY)]
    problem = " or ".join(f"{error} is not null" for error in errors)
    typed = ", ".join(column("v", f.name) for f in table.fields)
    sources = ", ".join(
        f"case when {problem} then {column('s', f.name)} end as {column('s', f.name)}"
        for f in table.fields
    )
    return f"""
        with {chain},
        {repeated}
        checked as (
            select parsed.*, {", ".join(error_columns)},
                {roster_check} as {column("e", ROSTER)},
                {duplicate} as {column("e", KEY)}
            from parsed {join}
        )
        select _source_line, {typed}, {", ".join(errors)}, {sources} from checked
    """


def _roster_expected(connection: duckdb.DuckDBPyConnection, mapping: DepartmentMapping) -> bool:
    """Officers are checked against the roster whenever the department delivers one: an empty
    or header-only roster must not switch the check off."""
    if any(t.table == "officers" for t in mapping.tables):
        return True
    return connection.execute(
        "select count(*) > 0 from raw.officers where department_id = ?", [mapping.department_id]
    ).fetchone()[0]


def checks_roster(table: Table) -> bool:
    return "officer_id" in table.field_names and table.name != "officers"


def rejecting_names(table: Table, table_mapping: TableMapping) -> list[str]:
    """The error columns that reject a row (the rest only null their cell, with a warning)."""
    mapped = {f.field for f in table_mapping.fields}
    extra = ([ROSTER] if checks_roster(table) else []) + [KEY]
    return [f.name for f in table.fields if not _nulls_cell(table, f, mapped)] + extra


def warning_names(table: Table, table_mapping: TableMapping) -> list[str]:
    mapped = {f.field for f in table_mapping.fields}
    return [f.name for f in table.fields if _nulls_cell(table, f, mapped)]


def _nulls_cell(table: Table, contract_field: Field, mapped: set[str]) -> bool:
    if not table.keeps_rows_with_bad_optional:
        return False
    strict = contract_field.required_when_mapped and contract_field.name in mapped
    return not (contract_field.required or contract_field.name in table.key or strict)


def field_label(name: str) -> str:
    return {ROSTER: "officer_id", KEY: "key"}.get(name, name)


def value_of(name: str, table: Table) -> str:
    """The source text an error is about (a key: its fields joined by '|')."""
    if name == ROSTER:
        return column("s", "officer_id")
    if name == KEY:
        return "concat_ws('|', " + ", ".join(column("s", k) for k in table.key) + ")"
    return column("s", name)
