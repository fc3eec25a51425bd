"""A department's local wall-clock times to UTC in SQL, without asking ICU once per cell.

``timezone('UTC', timezone(zone, t))`` costs an ICU calendar computation for every cell: half
the typing time of a calls file. A zone's UTC offset only changes at its transitions (twice a
year where clocks change), so the offsets are looked up once per zone and range, by the same
DuckDB ``timezone`` function, and the conversion becomes ``t`` minus the offset of its stretch,
the stretch found by a balanced CASE over the stretch boundaries (a few comparisons per cell).

Every value equals the per-cell result: times outside the range, and any hour in which the
offset is not the same at its first and last microsecond (a transition inside it, e.g. a zone
that changed at 12:03:58 local), still go through ICU cell by cell. The offsets are sampled
every ``SAMPLE_HOURS`` and refined hour by hour where two samples differ, so the one assumption
is that a zone never changes its offset and changes it back within ``SAMPLE_HOURS`` (no zone of
the tz database does; tests/test_local_time.py compares both ways over many zones).
"""

from __future__ import annotations

import datetime as dt
import functools

import duckdb

from middlestep.ingest.sqltext import literal

SAMPLE_HOURS = 6
HOUR = dt.timedelta(hours=1)
LAST_MICROSECOND = dt.timedelta(hours=1, microseconds=-1)


def per_cell_sql(local_sql: str, zone: str) -> str:
    """ICU's conversion of one cell: the reference."""
    return f"timezone('UTC', timezone({literal(zone)}, {local_sql}))"


def utc_sql(local_sql: str, zone: str, start: dt.datetime, end: dt.datetime) -> str:
    """SQL of the UTC time of ``local_sql`` (a TIMESTAMP of the zone's wall clock; a column,
    since the CASE reads it several times), by stretch offsets inside [start, end)."""
    stretches = offset_stretches(zone, start, end)
    if not stretches:
        return per_cell_sql(local_sql, zone)
    inside = _tree(local_sql, zone, stretches)
    first, last = literal(_text(stretches[0][0])), literal(_text(stretches[-1][1]))
    return (
        f"(case when {local_sql} < timestamp {first} or {local_sql} >= timestamp {last} "
        f"then {per_cell_sql(local_sql, zone)} else {inside} end)"
    )


def _tree(local_sql: str, zone: str, stretches: tuple) -> str:
    if len(stretches) == 1:
        offset = stretches[0][2]
        if offset is None:  # the offset changes inside this hour: ICU decides, cell by cell
            return per_cell_sql(local_sql, zone)
        return f"({local_sql} - to_microseconds({offset}))"
    middle = len(stretches) // 2
    boundary = literal(_text(stretches[middle][0]))
    return (
        f"(case when {local_sql} < timestamp {boundary} "
        f"then {_tree(local_sql, zone, stretches[:middle])} "
        f"else {_tree(local_sql, zone, stretches[middle:])} end)"
    )


def _text(moment: dt.datetime) -> str:
    return moment.isoformat(sep=" ")


@functools.lru_cache(maxsize=16)
def offset_stretches(
    zone: str, start: dt.datetime, end: dt.datetime
) -> tuple[tuple[dt.datetime, dt.datetime, int | None], ...]:
    """(from, to, offset in microseconds or None) covering [start, end) in local time, whole
    hours: local minus UTC is ``offset`` for every local time in [from, to); None for an hour
    ICU must convert cell by cell."""
    step = dt.timedelta(hours=SAMPLE_HOURS)
    end = start + -(-(end - start) // step) * step  # a whole number of steps

    # local minus UTC of a local time, as ICU resolves it
    def offset(name: str) -> str:
        return f"epoch_us({name}) - epoch_us(timezone({literal(zone)}, {name}))"

    with duckdb.connect() as connection:
        # the windows between two samples whose offsets differ (and the first sample)
        changes = connection.execute(
            f"select t, o, previous from (select t, o, lag(o) over (order by t) as previous "
            f"from (select t, {offset('t')} as o from generate_series(?::timestamp, "
            f"?::timestamp, interval {SAMPLE_HOURS} hour) g(t))) "
            "where previous is distinct from o order by t",
            [start, end],
        ).fetchall()
        windows = [t - step for t, _, _ in changes[1:]]
        # each hour of those windows: its offset at its first and last microsecond
        refined = connection.execute(
            f"select h, {offset('h')}, {offset('l')} from (select h, "
            "h + interval 1 hour - interval 1 microsecond as l from (select unnest("
            f"generate_series(w, w + interval {SAMPLE_HOURS - 1} hour, interval 1 hour)) as h "
            "from unnest(?::timestamp[]) u(w)))",
            [windows],
        ).fetchall()
    by_hour = {hour: (a if a == b else None) for hour, a, b in refined}
    stretches: list[list] = []

    def add(begin: dt.datetime, finish: dt.datetime, offset: int | None) -> None:
        if begin >= finish:
            return
        if stretches and offset is not None and stretches[-1][2] == offset:
            stretches[-1][1] = finish
            return
        stretches.append([begin, finish, offset])

    after = {t: o for t, o, _ in changes}  # a window's end -> the offset from there on
    moment, current = start, changes[0][1]
    for window in windows:
        add(moment, window, current)  # the samples agree up to the window
        for k in range(SAMPLE_HOURS):
            hour = window + k * HOUR
            add(hour, hour + HOUR, by_hour[hour])
        moment = window + step
        current = after[moment]
    add(moment, end, current)
    return tuple((begin, finish, offset) for begin, finish, offset in stretches)
