"""Macros for patterns the models share: the latest version of an append-only raw row, the
study-period number of a month, the contract's code lists for accepted-values audits, and the
local date of a UTC timestamp."""

from __future__ import annotations

from sqlglot import exp
from sqlmesh import macro

from middlestep.contract import RAW_TABLES

# "table.field" -> the field's accepted codes (middlestep/contract.py), as plain values
CONTRACT_CODES = {
    f"{table.name}.{field.name}": field.codes
    for table in RAW_TABLES.values()
    for field in table.fields
    if field.codes
}


@macro()
def latest_version(evaluator, *keys):
    """True for the latest version of a raw row per key: raw tables are append-only, so a
    corrected record arrives in a later batch (or further down the same file). Use as
    ``QUALIFY @latest_version(key, ...)``. Rows of a superseded batch (a file loaded again
    under a changed mapping) are left out. A further condition (say, the interval) that must pick
    among latest versions, not the other way round, goes in a later CTE's WHERE: SQLGlot rewrites
    QUALIFY for Spark as a subquery, and a qualified column next to the window breaks there."""
    rank = exp.Window(
        this=exp.RowNumber(),
        partition_by=[key.copy() for key in keys],
        order=exp.Order(
            expressions=[
                exp.Ordered(this=exp.column("_batch_id"), desc=True),
                exp.Ordered(this=exp.column("_source_line"), desc=True),
            ]
        ),
    )
    latest = exp.EQ(this=rank, expression=exp.Literal.number(1))
    engine = evaluator.dialect  # the engine is known once SQLMesh runs the model (epoch_seconds)
    if evaluator.runtime_stage != "loading":
        engine = evaluator.engine_adapter.dialect
    if engine == "spark":
        # SQLGlot's Spark rewrite of QUALIFY hoists every column of the condition into its
        # subquery, a subquery's too; the raw copy on Spark holds no superseded batch instead
        # (middlestep/spark.py export_raw_tables)
        return latest
    # a file loaded again (a changed mapping) supersedes its earlier load: raw keeps that
    # load's rows, staging reads only the latest load of each file
    superseded = exp.maybe_parse(
        "select batch_id from raw._batches where superseded_by is not null", dialect="duckdb"
    )
    live = exp.Not(this=exp.In(this=exp.column("_batch_id"), query=exp.Subquery(this=superseded)))
    return exp.and_(latest, live)


@macro()
def study_period(evaluator, month, study_start_on):
    """The study period of ``month``: 1 = the month of ``study_start_on``, counted on by calendar
    month (year * 12 + month arithmetic is portable; a month before the window is 0 or less)."""
    month, start = (arg.sql(dialect=evaluator.dialect) for arg in (month, study_start_on))
    return exp.maybe_parse(
        f"(year({month}) - year({start})) * 12 + month({month}) - month({start}) + 1",
        dialect=evaluator.dialect,
    )


@macro()
def contract_codes(evaluator, field):
    """The codes the raw contract accepts for ``table.field``, e.g. ``force_reports.force_type``."""
    key = f"{field.table}.{field.name}"
    if key not in CONTRACT_CODES:
        raise ValueError(f"the raw contract has no code list for {key}")
    return exp.Tuple(
        expressions=[
            exp.Literal.number(code) if isinstance(code, int) else exp.Literal.string(code)
            for code in CONTRACT_CODES[key]
        ]
    )


@macro()
def epoch_seconds(evaluator, timestamp):
    """Seconds since 1970-01-01 of a UTC ``timestamp``, with its fraction: DuckDB's ``epoch()``.
    Spark's ``unix_timestamp()`` (what SQLGlot makes of ``epoch``) drops the fraction, so on any
    other engine (known once SQLMesh runs the model, not while it loads it) the microseconds are
    counted and divided."""
    engine = evaluator.dialect
    if evaluator.runtime_stage != "loading":
        engine = evaluator.engine_adapter.dialect
    if engine == "duckdb":
        return exp.func("epoch", timestamp.copy(), dialect="duckdb")
    micros = exp.Anonymous(
        this="unix_micros",
        expressions=[exp.cast(timestamp.copy(), exp.DataType.Type.TIMESTAMPLTZ)],
    )
    return exp.Div(
        this=exp.cast(micros, exp.DataType.Type.DOUBLE),
        expression=exp.cast(exp.Literal.number(1_000_000), exp.DataType.Type.DOUBLE),
    )


@macro()
def local_date(evaluator, timestamp, timezone):
    """The date in the department's local calendar of a UTC ``timestamp`` (the raw contract's
    `_at` columns: TIMESTAMP without zone, holding UTC), in its IANA zone ``timezone``
    (``stg_departments.timezone``). Months and dates an analyst reads are cut from this, never
    from the UTC value: a report at 23:30 in Dallas on 31 December is a December report.

    The conversion is the engine's own time-zone arithmetic, daylight saving time included:
    ``ts AT TIME ZONE 'UTC' AT TIME ZONE zone`` on DuckDB (ICU), which SQLGlot writes as
    ``from_utc_timestamp(ts, zone)`` for Spark. A NULL zone (an event of a department that has
    no row in raw.departments) is read as UTC, the default of a mapping that names no zone."""
    zone = exp.func("coalesce", timezone.copy(), exp.Literal.string("UTC"))
    instant = timestamp.copy() if isinstance(timestamp, exp.Column) else exp.paren(timestamp.copy())
    utc = exp.AtTimeZone(this=instant, zone=exp.Literal.string("UTC"))
    local = exp.AtTimeZone(this=utc, zone=zone)
    return exp.cast(local, exp.DataType.Type.DATE)
