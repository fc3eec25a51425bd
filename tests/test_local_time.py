"""Ingest's shortcuts in typing SQL give exactly what the per-cell functions give: local times to
UTC by looked-up offsets (middlestep/ingest/local_time.py) against DuckDB's ICU conversion cell by
cell, and the guarded trim of staged cells against ``trim``."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from middlestep.ingest.local_time import offset_stretches, per_cell_sql, utc_sql
from middlestep.ingest.typing_sql import trimmed_expression

START, END = dt.datetime(1899, 12, 30), dt.datetime(2031, 1, 3)

# clock changes on the hour, half-hour zones, 30-minute daylight saving (Lord Howe), a skipped
# day (Apia), a two-hour shift (Troll), local mean time before 1900, southern hemisphere
ZONES = [
    "America/New_York",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Pacific/Apia",
    "Antarctica/Troll",
    "Africa/Casablanca",
    "UTC",
]


@pytest.mark.parametrize("zone", ZONES)
def test_offsets_looked_up_equal_icu_per_cell(zone):
    """Every hour around the range's start (local mean time gave way to zone time there) and
    from 1960 to after its end, at its first and last microsecond: the stretch conversion
    equals ICU's, including the hours clocks skip or repeat and those it leaves to ICU."""
    with duckdb.connect() as connection:
        connection.execute(
            "create table local_times as select unnest([h, h + interval 1 hour - "
            "interval 1 microsecond]) as t from (select * from range(timestamp '1899-12-28', "
            "timestamp '1906-01-01', interval 1 hour) r(h) union all select * from "
            "range(timestamp '1960-01-01', timestamp '2031-01-06', interval 1 hour) s(h))"
        )
        checked, different = connection.execute(
            f"select count(*), count(*) filter (where {utc_sql('t', zone, START, END)} "
            f"is distinct from {per_cell_sql('t', zone)}) from local_times"
        ).fetchone()
    assert checked > 1_300_000
    assert different == 0


def test_stretches_cover_the_range_and_change_with_the_clock():
    stretches = offset_stretches("America/New_York", START, END)
    assert stretches[0][0] == START and stretches[-1][1] >= END
    assert all(a[1] == b[0] for a, b in zip(stretches, stretches[1:], strict=False))
    # 2024: EST (UTC-5) until 2024-03-10 02:00 local, EDT (UTC-4) until 2024-11-03
    hour = 3_600_000_000
    offset_at = {begin: offset for begin, finish, offset in stretches}
    march = max(begin for begin in offset_at if begin <= dt.datetime(2024, 3, 10, 12))
    assert offset_at[march] == -4 * hour
    january = max(begin for begin in offset_at if begin <= dt.datetime(2024, 1, 15))
    assert offset_at[january] == -5 * hour
    # Lord Howe moves its clocks by 30 minutes: no hour it is left to ICU for is lost
    assert any(
        offset is None for _, _, offset in offset_stretches("Australia/Lord_Howe", START, END)
    )


def test_guarded_trim_equals_trim():
    """Every character DuckDB's trim removes (spaces, Unicode space separators) and others it
    keeps (tab, no-break characters of other kinds), at either end or inside a text."""
    characters = [chr(c) for c in range(0x20, 0x7F)] + [
        "\t", "\n", "\r", "\x0b", "\x0c", "\x85", "\xa0", "\u1680", "\u2000", "\u2007",
        "\u200a", "\u200b", "\u202f", "\u205f", "\u3000", "\ufeff", "é", "\U0001f600",
    ]  # fmt: skip
    texts = [None, "", " ", "x"]
    for character in characters:
        texts += [character, f"{character}x", f"x{character}", f"{character}x{character}"]
        texts += [f"a{character}b", f" {character} ", f"{character}{character}"]
    with duckdb.connect() as connection:
        connection.execute("create table cells (c0 varchar)")
        connection.executemany("insert into cells values (?)", [[text] for text in texts])
        rows, different = connection.execute(
            f"select count(*), count(*) filter (where {trimmed_expression('c0')} "
            "is distinct from trim(c0)) from cells"
        ).fetchone()
    assert rows == len(texts)
    assert different == 0
