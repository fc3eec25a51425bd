"""Small pieces the synthetic department's steps share: categorical draws, and the column types
of its tables (Arrow-backed text, timestamps and dates from seconds and day numbers, codes as
categoricals)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa


def categorical(rng: np.random.Generator, shares, n: int) -> np.ndarray:
    cumulative = np.cumsum(np.asarray(shares, dtype=float))
    cumulative /= cumulative[-1]
    return np.minimum(np.searchsorted(cumulative, rng.random(n), side="right"), len(cumulative) - 1)


def categorical_by_row(rng: np.random.Generator, share_rows: np.ndarray, row: np.ndarray):
    """One categorical draw per element, from the share row ``share_rows[row]``."""
    cumulative = np.cumsum(share_rows, axis=1)
    cumulative = cumulative / cumulative[:, -1:]
    u = rng.random(len(row))
    drawn = np.zeros(len(row), dtype=np.int64)
    for which, bounds in enumerate(cumulative):
        at = row == which
        drawn[at] = np.searchsorted(bounds[:-1], u[at], side="right")
    return drawn


def text_column(values) -> pd.Series:
    """A text column (Arrow-backed, so millions of ids cost little)."""
    if not isinstance(values, pa.Array | pa.ChunkedArray):
        values = pa.array(values, type=pa.string())
    return pd.Series(pd.arrays.ArrowExtensionArray(values))


def timestamp_column(utc_s: np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(utc_s, dtype="int64").astype("datetime64[s]"))


def date_column(days: np.ndarray) -> pd.Series:
    """Dates (day numbers; negative = missing) as datetime64 at midnight, NaT if missing."""
    days = np.asarray(days, dtype="int64")
    values = days.astype("datetime64[D]").astype("datetime64[s]")
    values[days < 0] = np.datetime64("NaT")
    return pd.Series(values)


def code_column(codes: np.ndarray, categories) -> pd.Categorical:
    return pd.Categorical.from_codes(np.asarray(codes, dtype=np.int64), categories=list(categories))
