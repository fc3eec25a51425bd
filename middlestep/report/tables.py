"""A data frame as a table both templates render: every number written by one rule
(analysis/numbers.py), p-values as p-values (a Fisher p-value no finer than its draws), a
confidence interval's two bounds as one "low to high" cell, column names in words, and a table
of many columns but few rows turned on its side so that it fits a page and a phone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from middlestep.jsonable import jsonable
from middlestep.report.numbers import interval, p_value_text, significant

# A table with more columns than this and no more rows than SIDEWAYS_ROWS is turned on its side.
SIDEWAYS_COLUMNS, SIDEWAYS_ROWS = 9, 3

HEADERS = {
    "std_error": "SE",
    "std_error_neyman": "SE (Neyman)",
    "p_value": "p-value",
    "fisher_p_value": "Fisher p",
    "n_units": "units (n)",
    "n_obs": "observations (n)",
}

_P_COLUMN = re.compile(r"(^|[\s_(])p($|[\s_(-])|p_value|p-value")


@dataclass(frozen=True)
class Table:
    """A frame formatted for both templates; `numeric[i]`: column i holds numbers only."""

    columns: list[str]
    rows: list[list[str]]
    numeric: list[bool] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.rows

    def cells(self):
        """(column, cell, is_numeric) per row, for the HTML template's labelled cells."""
        numeric = self.numeric or [False] * len(self.columns)
        return [list(zip(self.columns, row, numeric, strict=True)) for row in self.rows]

    def markdown(self) -> str:
        if not self.columns:
            return ""
        escape = lambda text: str(text).replace("|", "\\|").replace("\n", " ")  # noqa: E731
        lines = [
            "| " + " | ".join(escape(c) for c in self.columns) + " |",
            "|" + "|".join("---" for _ in self.columns) + "|",
        ]
        lines += ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in self.rows]
        return "\n".join(lines)


def table(frame: pd.DataFrame | None, *, permutations: int | None = None) -> Table:
    """`frame` as text cells. `permutations` (or ``frame.attrs["permutations"]``): the draws of
    its Fisher p-values."""
    if frame is None or frame.empty:
        return Table(columns=[] if frame is None else [header(c) for c in frame.columns], rows=[])
    draws = frame.attrs.get("permutations") or permutations
    frame = merge_intervals(frame)
    names = [str(column) for column in frame.columns]
    rows = [
        [
            cell(value, is_p=is_p_column(name), draws=draws if "fisher" in name.lower() else None)
            for name, value in zip(names, row, strict=True)
        ]
        for row in frame.itertuples(index=False)
    ]
    numeric = [_numeric(frame[column]) for column in frame.columns]
    formatted = Table([header(name) for name in names], rows, numeric)
    if len(names) > SIDEWAYS_COLUMNS and len(rows) <= SIDEWAYS_ROWS:
        return sideways(formatted)
    return formatted


def sideways(formatted: Table) -> Table:
    """Columns become rows: the first column's cells head the new columns."""
    heads = [formatted.columns[0]] + [row[0] or f"row {n}" for n, row in enumerate(formatted.rows)]
    rows = [
        [name] + [row[index] for row in formatted.rows]
        for index, name in enumerate(formatted.columns)
        if index > 0
    ]
    return Table(heads, rows, [False] * len(heads))


def merge_intervals(frame: pd.DataFrame) -> pd.DataFrame:
    """Each ``<x>ci_low`` / ``<x>ci_high`` pair as one ``<x>95% CI`` column "low to high"."""
    out = frame.copy()
    for low in [str(c) for c in frame.columns if str(c).endswith("ci_low")]:
        high = low[: -len("low")] + "high"
        if high not in out.columns:
            continue
        prefix = low[: -len("ci_low")].replace("_", " ")
        merged = [
            "" if pd.isna(a) and pd.isna(b) else interval(a, b)
            for a, b in zip(out[low], out[high], strict=True)
        ]
        position = list(out.columns).index(low)
        out = out.drop(columns=[low, high])
        out.insert(position, f"{prefix}95% CI", merged)
    return out


def header(name: Any) -> str:
    text = str(name)
    return HEADERS.get(text, text.replace("_", " "))


def is_p_column(name: str) -> bool:
    return bool(_P_COLUMN.search(name.lower()))


def cell(value: Any, *, is_p: bool = False, draws: int | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return cell(value.item(), is_p=is_p, draws=draws)
    if isinstance(value, float | int):
        if value != value:  # NaN
            return ""
        return p_value_text(value, draws) if is_p else significant(value)
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(jsonable(value))
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def _numeric(column: pd.Series) -> bool:
    values = column.dropna()
    return (
        not values.empty
        and pd.api.types.is_numeric_dtype(values.infer_objects())
        and not pd.api.types.is_bool_dtype(values.infer_objects())
    )
