"""The typing half of ingest's generated SQL: a staged cell to its source text, mapped code and
typed value (checks.py adds the errors and builds the statement).

Every canonical field gets a source text (``s__``, trimmed, NULL for the department's null
tokens), a mapped code (``m__``), for a timestamp its wall-clock time (``l__``) and a typed value
(``v__``). Names go through ``sqltext.identifier`` and values through ``sqltext.literal``; export
column names never appear (the staged cells are ``c0``, ``c1``, ...).
"""

from __future__ import annotations

import datetime as dt

from middlestep.contract import BOOLEAN, DATE, DOUBLE, INTEGER, TEXT, TIMESTAMP, Field
from middlestep.ingest import local_time
from middlestep.ingest.sqltext import identifier, literal
from middlestep.mapping import DepartmentMapping, FieldMapping, TableMapping

TRUE_TOKENS = ("true", "t", "1", "yes", "y")
FALSE_TOKENS = ("false", "f", "0", "no", "n")
# plain decimal or scientific notation: no NaN, inf, hex, '1_000' or thousands separators
NUMBER_PATTERN = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
# a time of day followed by a UTC offset (or Z): the text names its instant
OFFSET_PATTERN = r".*[0-9]:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)? ?([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)"
INTEGER_RANGE = (-(2**31), 2**31 - 1)  # the contract's INTEGER is 32 bits
COUNTS = ("count", "count_distinct", "count_lines")  # aggregates whose lines are not typed


def column(prefix: str, name: str) -> str:
    return identifier(f"{prefix}__{name}")


def source_expression(
    field_mapping: FieldMapping | None, names: dict[str, str], null_values: tuple[str, ...]
) -> str:
    """The raw text of a field, NULL for the department's null tokens."""
    if field_mapping is None:
        return "cast(null as varchar)"
    tokens = ", ".join(literal(token) for token in null_values)
    if field_mapping.columns:
        # a composite: the cells joined by the separator (a null cell as ''), NULL if all are null
        cells = [trimmed_column(names[c]) for c in field_mapping.columns]
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
    cell = trimmed_column(names[field_mapping.column])
    return f"case when {cell} in ({tokens}) then null else {cell} end"


def trimmed_column(staged: str) -> str:
    return identifier(f"t__{staged}")


def trimmed_expression(staged: str) -> str:
    """A staged cell as text without surrounding spaces: ``trim``, called only where it can
    change the text (a space at either end, or any non-ASCII character: trim also removes
    Unicode spaces), since it copies every text it is given. The comparisons read the text
    once; written into the IN list of null tokens, trim ran once per token."""
    cell = f"cast({identifier(staged)} as varchar)"
    return (
        f"(case when {cell} like ' %' or {cell} like '% ' or length({cell}) != strlen({cell}) "
        f"then trim({cell}) else {cell} end)"
    )


def mapped_expression(source: str, field_mapping: FieldMapping | None) -> str:
    """Apply the mapping's value map (department code -> canonical code)."""
    if field_mapping is None or not field_mapping.values:
        return source
    cases = " ".join(
        f"when {literal(code)} then {literal(canonical)}"
        for code, canonical in field_mapping.values.items()
    )
    return f"(case {source} {cases} end)"


def local_expression(text: str, fmt: str | tuple[str, ...] | None) -> str:
    """The text as a wall-clock TIMESTAMP (no zone): the mapping's formats, then ISO."""
    local = f"try_cast({text} as timestamp)"
    if fmt:
        parsed = ", ".join(f"try_strptime({text}, {literal(f)})" for f in formats_of(fmt))
        local = f"coalesce({parsed}, {local})"
    return local


def typed_expression(
    text: str,
    contract_field: Field,
    fmt: str | tuple[str, ...] | None,
    timezone: str,
    local: str | None = None,
    utc_range: tuple[dt.datetime, dt.datetime] | None = None,
) -> str:
    """``local``: a column holding ``local_expression`` of the text (TIMESTAMP fields; read
    several times by the conversion to UTC); ``utc_range``: where that conversion uses the
    zone's offsets looked up once (local_time.py) instead of ICU per cell."""
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
    local = local or local_expression(text, fmt)
    instant = f"try_cast({text} as timestamptz)"  # text with a UTC offset names its instant
    has_offset = f"regexp_full_match({text}, {literal(OFFSET_PATTERN)})"
    if kind == DATE:
        in_department = f"timezone({literal(timezone)}, {instant})"
        return f"cast(case when {has_offset} then {in_department} else {local} end as date)"
    if kind == TIMESTAMP:
        if timezone.upper() != "UTC":  # local wall-clock time of the department -> UTC
            local = (
                local_time.utc_sql(local, timezone, *utc_range)
                if utc_range
                else local_time.per_cell_sql(local, timezone)
            )
        return f"(case when {has_offset} then timezone('UTC', {instant}) else {local} end)"
    raise ValueError(f"unknown contract type {kind}")


def formats_of(fmt: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if not fmt:
        return ()
    return (fmt,) if isinstance(fmt, str) else tuple(fmt)


def typed_chain(
    fields: list[Field],
    by_field: dict[str, FieldMapping],
    table_mapping: TableMapping,
    mapping: DepartmentMapping,
    names: dict[str, str],
    utc_range: tuple[dt.datetime, dt.datetime],
    prefix: str = "",
) -> str:
    """The CTEs ``{prefix}trimmed``, ``sourced``, ``mapped``, ``localized`` and ``parsed`` over
    ``staged_rows``: each cell trimmed (t__), each field's source text (s__), mapped code (m__),
    wall-clock time (l__, timestamps) and typed value (v__)."""
    source_columns, mapped_columns, typed_columns = [], [], []
    local_columns = ["null as _no_local"]
    staged = sorted(
        {
            names[c]
            for f in fields
            if (m := by_field.get(f.name)) is not None
            for c in (m.columns or ((m.column,) if m.column is not None else ()))
        }
    )
    trimmed = [f"{trimmed_expression(name)} as {trimmed_column(name)}" for name in staged]
    for contract_field in fields:
        name = contract_field.name
        field_mapping = by_field.get(name)
        fmt = field_mapping.format if field_mapping else None
        source, mapped, typed = column("s", name), column("m", name), column("v", name)
        expression = source_expression(field_mapping, names, table_mapping.null_values)
        source_columns.append(f"{expression} as {source}")
        mapped_columns.append(f"{mapped_expression(source, field_mapping)} as {mapped}")
        if field_mapping is not None and field_mapping.aggregate in COUNTS:
            # a count of a key's lines or values: each line's text is counted, not typed
            typed_columns.append(f"{mapped} as {typed}")
            continue
        local = None
        if contract_field.type == TIMESTAMP:  # parsed once, read by each step to UTC
            local = column("l", name)
            local_columns.append(f"{local_expression(mapped, fmt)} as {local}")
        expression = typed_expression(
            mapped, contract_field, fmt, mapping.timezone, local, utc_range
        )
        typed_columns.append(f"{expression} as {typed}")
    return f"""{prefix}trimmed as (
            select _source_line, {", ".join(trimmed or ["null as _no_cell"])} from staged_rows
        ),
        {prefix}sourced as (
            select _source_line, {", ".join(source_columns)} from {prefix}trimmed
        ),
        {prefix}mapped as (select *, {", ".join(mapped_columns)} from {prefix}sourced),
        {prefix}localized as (select *, {", ".join(local_columns)} from {prefix}mapped),
        {prefix}parsed as (select *, {", ".join(typed_columns)} from {prefix}localized)"""


def utc_range(earliest: dt.date, as_of: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Local times whose conversion to UTC uses looked-up offsets: the mapping's earliest date
    to just past ``as_of``, whole hours (others are converted cell by cell, as exactly)."""
    start = dt.datetime.combine(earliest, dt.time()) - dt.timedelta(days=2)
    end = as_of.replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=2)
    return start, end
