"""Parsing, mapping and checking a file's staged cells in one generated SQL statement.

Every canonical field gets a source text (``s__``), a mapped code (``m__``), a typed value
(``v__``) and an error text (``e__``, NULL when the field is fine). A row with an error in a
required, key or strict field is rejected; on a table that keeps rows with bad optional cells
(the roster: every other table is checked against it) an optional field's error nulls that cell
and is recorded as a warning instead.

Names go through ``sqltext.identifier`` and values through ``sqltext.literal``; export column
names never appear (the staged cells are ``c0``, ``c1``, ...).
"""

from __future__ import annotations

import datetime as dt

import duckdb

from middlestep.contract import BOOLEAN, DATE, DOUBLE, INTEGER, TEXT, TIMESTAMP, Field, Table
from middlestep.ingest.sqltext import identifier, literal
from middlestep.mapping import DepartmentMapping, FieldMapping, TableMapping

TRUE_TOKENS = ("true", "t", "1", "yes", "y")
FALSE_TOKENS = ("false", "f", "0", "no", "n")
# plain decimal or scientific notation: no NaN, inf, hex, '1_000' or thousands separators
NUMBER_PATTERN = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
# a time of day followed by a UTC offset (or Z): the text names its instant
OFFSET_PATTERN = r".*[0-9]:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)? ?([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)"
INTEGER_RANGE = (-(2**31), 2**31 - 1)  # the contract's INTEGER is 32 bits
ROSTER, KEY = "officer_roster", "key"
COUNTS = ("count", "count_distinct", "count_lines")  # aggregates whose lines are not typed


def column(prefix: str, name: str) -> str:
    return identifier(f"{prefix}__{name}")


def _source_expression(
    field_mapping: FieldMapping | None, names: dict[str, str], null_values: tuple[str, ...]
) -> str:
    """The raw text of a field, NULL for the department's null tokens."""
    if field_mapping is None:
        return "cast(null as varchar)"
    tokens = ", ".join(literal(token) for token in null_values)
    if field_mapping.columns:
        # a composite: the cells joined by the separator (a null cell as ''), NULL if all are null
        cells = [f"trim(cast({identifier(names[c])} as varchar))" for c in field_mapping.columns]
        is_null = [f"({cell} is null or {cell} in ({tokens}))" for cell in cells]
        parts = ", ".join(
            f"case when {null} then '' else {cell} end"
            for null, cell in zip(is_null, cells, strict=True)
        )
        all_null = " and ".join(is_null)
        joined = f"concat_ws({literal(field_mapping.separator)}, {parts})"
        if field_mapping.format:  # a date and a time in two columns: a missing part is no space
            joined = f"trim({joined})"
        return f"case when {all_null} then null else {joined} end"
    if field_mapping.column is None:
        return f"cast({literal(field_mapping.constant)} as varchar)"
    cell = f"trim(cast({identifier(names[field_mapping.column])} as varchar))"
    return f"case when {cell} in ({tokens}) then null else {cell} end"


def _mapped_expression(source: str, field_mapping: FieldMapping | None) -> str:
    """Apply the mapping's value map (department code -> canonical code)."""
    if field_mapping is None or not field_mapping.values:
        return source
    cases = " ".join(
        f"when {literal(code)} then {literal(canonical)}"
        for code, canonical in field_mapping.values.items()
    )
    return f"(case {source} {cases} end)"


def _typed_expression(
    text: str, contract_field: Field, fmt: str | tuple[str, ...] | None, timezone: str
) -> str:
    kind = contract_field.type
    if kind == TEXT:
        return text
    if kind in (INTEGER, DOUBLE):
        number = (
            f"(case when regexp_full_match({text}, {literal(NUMBER_PATTERN)}) "
            f"then try_cast({text} as double) end)"
        )
        if kind == DOUBLE:
            return f"(case when isfinite({number}) then {number} end)"
        # integers may come as 3.0 from spreadsheets; fractional, NaN, inf or huge: rejected
        low, high = INTEGER_RANGE
        return (
            f"(case when isfinite({number}) and {number} = round({number}) "
            f"and {number} between {low} and {high} then cast({number} as bigint) end)"
        )
    if kind == BOOLEAN:
        truthy = ", ".join(literal(t) for t in TRUE_TOKENS)
        falsy = ", ".join(literal(t) for t in FALSE_TOKENS)
        return (
            f"(case when lower({text}) in ({truthy}) then true "
            f"when lower({text}) in ({falsy}) then false end)"
        )
    local = f"try_cast({text} as timestamp)"
    if fmt:
        parsed = ", ".join(f"try_strptime({text}, {literal(f)})" for f in formats_of(fmt))
        local = f"coalesce({parsed}, {local})"
    instant = f"try_cast({text} as timestamptz)"  # text with a UTC offset names its instant
    has_offset = f"regexp_full_match({text}, {literal(OFFSET_PATTERN)})"
    if kind == DATE:
        in_department = f"timezone({literal(timezone)}, {instant})"
        return f"cast(case when {has_offset} then {in_department} else {local} end as date)"
    if kind == TIMESTAMP:
        if timezone.upper() != "UTC":  # local wall-clock time of the department -> UTC
            local = f"timezone('UTC', timezone({literal(timezone)}, {local}))"
        return f"(case when {has_offset} then timezone('UTC', {instant}) else {local} end)"
    raise ValueError(f"unknown contract type {kind}")


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


def formats_of(fmt: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if not fmt:
        return ()
    return (fmt,) if isinstance(fmt, str) else tuple(fmt)


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
    """SELECT over ``staged_rows``: the s__/m__/v__/e__ columns of every canonical field."""
    by_field = {f.field: f for f in table_mapping.fields}
    limits = (mapping.earliest_date, as_of)
    source_columns, mapped_columns, typed_columns, error_columns = [], [], [], []
    for contract_field in table.fields:
        name = contract_field.name
        field_mapping = by_field.get(name)
        fmt = field_mapping.format if field_mapping else None
        source, mapped, typed = column("s", name), column("m", name), column("v", name)
        expression = _source_expression(field_mapping, names, table_mapping.null_values)
        source_columns.append(f"{expression} as {source}")
        mapped_columns.append(f"{_mapped_expression(source, field_mapping)} as {mapped}")
        if field_mapping is not None and field_mapping.aggregate in COUNTS:
            # a count of a key's lines or values: each line's text is counted, not typed
            typed_columns.append(f"{mapped} as {typed}")
            error = "cast(null as varchar)"
        else:
            typed_columns.append(
                f"{_typed_expression(mapped, contract_field, fmt, mapping.timezone)} as {typed}"
            )
            error = _error_expression(source, mapped, typed, contract_field, field_mapping, limits)
        error_columns.append(f"{error} as {column('e', name)}")

    key = ", ".join(column("v", k) for k in table.key)
    # a per-key policy other than reject takes repeated keys in (first, last or aggregated)
    rejects_repeats = table_mapping.repeated_keys == "reject"
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
    # column of the file: the window sorted the whole wide row)
    duplicate = "cast(null as varchar)"
    repeated = ""
    join = ""
    if rejects_repeats:
        first = column("r", "first_line")
        aliases = ", ".join(f"{column('v', k)} as {column('r', k)}" for k in table.key)
        repeated = (
            f"repeated as (select {aliases}, min(_source_line) as {first} from parsed "
            f"where {key_present} group by {key} having count(*) > 1),"
        )
        join = "left join repeated on " + " and ".join(
            f"parsed.{column('v', k)} is not distinct from repeated.{column('r', k)}"
            for k in table.key
        )
        duplicate = (
            f"case when parsed._source_line > repeated.{first} then "
            f"'duplicate key within the file (first at line ' || repeated.{first} || ')' end"
        )
    return f"""
        with sourced as (
            select _source_line, {", ".join(source_columns)} from staged_rows
        ),
        mapped as (select *, {", ".join(mapped_columns)} from sourced),
        parsed as (select *, {", ".join(typed_columns)} from mapped),
        {repeated}
        checked as (
            select parsed.*, {", ".join(error_columns)},
                {roster_check} as {column("e", ROSTER)},
                {duplicate} as {column("e", KEY)}
            from parsed {join}
        )
        select * from checked
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
