"""Time and text helpers of the generator: local wall-clock seconds, DST, fast string columns.

The generator keeps every timestamp as int64 seconds of *local* wall-clock time since
1970-01-01 (America/New_York, as the department's systems record it), and every date as an
int64 day number. US daylight-saving time (since 2007) starts on the second Sunday of March and
ends on the first Sunday of November, at 02:00 local time. Generated times avoid 01:00-02:59
local on those days, so that every local time exists and is unambiguous.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SECONDS_PER_DAY = 86_400
EPOCH = dt.date(1970, 1, 1)
STANDARD_OFFSET_S = 5 * 3600  # UTC = local + 5 h in winter (EST)
DAYLIGHT_OFFSET_S = 4 * 3600  # UTC = local + 4 h in summer (EDT)
FORBIDDEN_FROM_S = 1 * 3600  # on DST change days, no local time in [01:00, 03:00)
FORBIDDEN_TO_S = 3 * 3600


def day_number(date: dt.date) -> int:
    return (date - EPOCH).days


def date_of(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day))


def _nth_sunday(year: int, month: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    first_sunday = first + dt.timedelta(days=(6 - first.weekday()) % 7)
    return first_sunday + dt.timedelta(weeks=n - 1)


def dst_change_days(first_year: int, last_year: int) -> np.ndarray:
    """Day numbers of the DST change days (spring and autumn) of the years, sorted."""
    days = []
    for year in range(first_year, last_year + 1):
        days.append(day_number(_nth_sunday(year, 3, 2)))
        days.append(day_number(_nth_sunday(year, 11, 1)))
    return np.array(sorted(days), dtype=np.int64)


def avoid_dst_changes(local_s: np.ndarray, chain_s: int, years: tuple[int, int]) -> np.ndarray:
    """Move event chains (a start time plus up to ``chain_s`` seconds of follow-up times) that
    would touch 01:00-02:59 local on a DST change day to start at 03:xx that day."""
    starts = dst_change_days(*years) * SECONDS_PER_DAY
    local_s = np.asarray(local_s, dtype=np.int64).copy()
    # a margin after 03:00 leaves room for times recorded a few minutes before the start
    # (a camera switched on before arrival)
    resume = starts + FORBIDDEN_TO_S + 600
    index = np.searchsorted(resume, local_s, side="right")
    valid = index < len(starts)
    clipped = np.minimum(index, len(starts) - 1)
    collides = valid & (local_s >= starts[clipped] + FORBIDDEN_FROM_S - chain_s)
    local_s[collides] = resume[clipped[collides]] + local_s[collides] % 3000
    return local_s


def _dst_bounds_local(years: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    first, last = years
    begin = [
        day_number(_nth_sunday(y, 3, 2)) * SECONDS_PER_DAY + 2 * 3600
        for y in range(first, last + 1)
    ]
    # the autumn change: 02:00 EDT is 01:00 EST; times in the repeated hour are never generated
    end = [
        day_number(_nth_sunday(y, 11, 1)) * SECONDS_PER_DAY + 1 * 3600
        for y in range(first, last + 1)
    ]
    return np.array(begin, dtype=np.int64), np.array(end, dtype=np.int64)


def local_to_utc(local_s: np.ndarray, years: tuple[int, int]) -> np.ndarray:
    """UTC seconds of local America/New_York wall-clock seconds."""
    local_s = np.asarray(local_s, dtype=np.int64)
    begin, end = _dst_bounds_local(years)
    index = np.searchsorted(begin, local_s, side="right") - 1
    in_dst = (index >= 0) & (local_s < end[np.maximum(index, 0)])
    return local_s + np.where(in_dst, DAYLIGHT_OFFSET_S, STANDARD_OFFSET_S)


def utc_to_local(utc_s: np.ndarray, years: tuple[int, int]) -> np.ndarray:
    """Local America/New_York wall-clock seconds of UTC seconds."""
    utc_s = np.asarray(utc_s, dtype=np.int64)
    begin, end = _dst_bounds_local(years)
    begin_utc = begin + STANDARD_OFFSET_S
    end_utc = end + STANDARD_OFFSET_S  # 01:00 EST = 06:00 UTC
    index = np.searchsorted(begin_utc, utc_s, side="right") - 1
    in_dst = (index >= 0) & (utc_s < end_utc[np.maximum(index, 0)])
    return utc_s - np.where(in_dst, DAYLIGHT_OFFSET_S, STANDARD_OFFSET_S)


# --- fast fixed-width string columns -------------------------------------------------------


def _strings_from_bytes(matrix: np.ndarray) -> pa.StringArray:
    """An Arrow string array of the rows of a (n, width) uint8 matrix of ASCII bytes."""
    n, width = matrix.shape
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int64)
    data = np.ascontiguousarray(matrix).tobytes()
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data)).cast(
        pa.string()
    )


def fixed_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.StringArray:
    """``prefix`` + zero-padded ``numbers`` (e.g. fixed_ids("UOF-", [7], 6) -> "UOF-000007")."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if len(numbers) and (numbers.min() < 0 or numbers.max() >= 10**width):
        raise ValueError(f"numbers do not fit in {width} digits")
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    matrix = np.empty((len(numbers), len(head) + width), dtype=np.uint8)
    matrix[:, : len(head)] = head
    for position in range(width):
        power = 10 ** (width - 1 - position)
        matrix[:, len(head) + position] = 48 + (numbers // power) % 10
    return _strings_from_bytes(matrix)


_DATE_STYLES = {"mdy": "%m/%d/%Y", "ymd": "%Y-%m-%d"}


def _day_table(first_day: int, last_day: int, style: str) -> np.ndarray:
    fmt = _DATE_STYLES[style]
    text = "".join(date_of(d).strftime(fmt) for d in range(first_day, last_day + 1))
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8).reshape(-1, 10)


_TIME_TABLE: np.ndarray | None = None


def _time_table() -> np.ndarray:
    global _TIME_TABLE
    if _TIME_TABLE is None:
        seconds = np.arange(SECONDS_PER_DAY)
        text = "".join(
            f"{h:02d}:{m:02d}:{s:02d}"
            for h, m, s in zip(seconds // 3600, seconds // 60 % 60, seconds % 60, strict=True)
        )
        _TIME_TABLE = np.frombuffer(text.encode("ascii"), dtype=np.uint8).reshape(-1, 8)
    return _TIME_TABLE


def format_timestamps(local_s: np.ndarray, style: str = "mdy") -> pa.Array:
    """Local seconds as text: 'mdy' -> %m/%d/%Y %H:%M:%S, 'ymd' -> %Y-%m-%d %H:%M:%S.
    Negative values (missing times) become nulls."""
    local_s = np.asarray(local_s, dtype=np.int64)
    missing = local_s < 0
    safe = np.where(missing, 0 if not len(local_s) else local_s.max(initial=0), local_s)
    days = safe // SECONDS_PER_DAY
    if len(days) == 0:
        return pa.array([], type=pa.string())
    first, last = int(days.min()), int(days.max())
    day_text = _day_table(first, last, style).view("S10").ravel()
    time_text = _time_table().view("S8").ravel()
    record = np.empty(len(safe), dtype=[("day", "S10"), ("space", "S1"), ("time", "S8")])
    record["day"] = day_text[days - first]
    record["space"] = b" "
    record["time"] = time_text[safe % SECONDS_PER_DAY]
    matrix = record.view(np.uint8).reshape(len(safe), 19)
    strings = _strings_from_bytes(matrix)
    if missing.any():
        strings = pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), strings)
    return strings


def format_days(days: np.ndarray, style: str = "mdy") -> pa.Array:
    """Day numbers as text (%m/%d/%Y or %Y-%m-%d); negative values become nulls."""
    days = np.asarray(days, dtype=np.int64)
    missing = days < 0
    if len(days) == 0:
        return pa.array([], type=pa.string())
    safe = np.where(missing, days.max(initial=0), days)
    first, last = int(safe.min()), int(safe.max())
    strings = _strings_from_bytes(_day_table(first, last, style)[safe - first])
    if missing.any():
        strings = pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), strings)
    return strings
