"""The SSO codebook: ``seeds/sso_codebook.csv`` is the one list of the items coders record.

The raw contract (``middlestep/contract.py``), the quality gate's expectations and the analysis
read the items from here; the SQL models read the same CSV through ``macros/codebook.py``. Adding
an item to the CSV (and to a department's mapping) adds it everywhere.

In an expectations file, ``{codebook: ...}`` stands for what the codebook says:

* ``columns: {codebook: KIND}`` (``binary``, ``count``, ``rating`` or ``all``): the expectation
  once per item of that kind, in codebook order;
* a kwarg ``{codebook: min_value}`` / ``{codebook: max_value}`` / ``{codebook: values}``: that
  item's range (``values``: the integers from its minimum to its maximum);
* a kwarg ``{codebook: items}``: the names of all items (in a list: spliced into it).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CODEBOOK_CSV = Path(__file__).resolve().parent.parent / "seeds" / "sso_codebook.csv"
KINDS = ("binary", "count", "rating")


@dataclass(frozen=True)
class Item:
    name: str
    kind: str  # binary (0/1), count (non-negative integer) or rating (1..5)
    domain: str  # officer, civilian or outcome
    label: str
    min_value: int
    max_value: int
    is_confirmatory: bool


def read_codebook(path: Path = CODEBOOK_CSV) -> tuple[Item, ...]:
    """The items of a codebook CSV, in its order; a bad row names the file, line and field."""
    items = []
    with open(path, newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            where = f"{path}, line {line}"
            if row.get("item_kind") not in KINDS:
                raise ValueError(f"{where}: item_kind must be one of {', '.join(KINDS)}")
            try:
                low, high = int(row["min_value"]), int(row["max_value"])
            except (TypeError, ValueError) as error:
                raise ValueError(f"{where}: min_value and max_value must be integers") from error
            items.append(
                Item(
                    name=row["item"],
                    kind=row["item_kind"],
                    domain=row["domain"],
                    label=row["label"],
                    min_value=low,
                    max_value=high,
                    is_confirmatory=row["is_confirmatory"].strip().lower() == "true",
                )
            )
    return tuple(items)


ITEMS: tuple[Item, ...] = read_codebook()


def item_kinds(items: tuple[Item, ...] = ITEMS) -> dict[str, str]:
    """item -> kind, in codebook order (the form the analysis takes its items in)."""
    return {item.name: item.kind for item in items}


def expand_columns(
    columns: Any, kwargs: Mapping[str, Any], items: tuple[Item, ...] = ITEMS
) -> list[dict[str, Any]]:
    """The kwargs of each expectation an expectations-file entry stands for: one per column of
    ``columns`` (a list, or ``{codebook: KIND}``), with ``{codebook: ...}`` values filled in."""
    if isinstance(columns, Mapping):
        selected = _selected_items(columns, items)
        return [{"column": item.name, **_filled(kwargs, item, items)} for item in selected]
    if columns:
        return [{"column": column, **_filled(kwargs, None, items)} for column in columns]
    return [_filled(kwargs, None, items)]


def _selected_items(columns: Mapping[str, Any], items: tuple[Item, ...]) -> list[Item]:
    kind = columns.get("codebook")
    if set(columns) != {"codebook"} or kind not in (*KINDS, "all"):
        raise ValueError(f"columns: {dict(columns)} is not {{codebook: one of {KINDS} or all}}")
    return [item for item in items if kind in ("all", item.kind)]


def _filled(kwargs: Mapping[str, Any], item: Item | None, items: tuple[Item, ...]) -> dict:
    out = {}
    for key, value in kwargs.items():
        if _is_placeholder(value):
            value = _codebook_value(str(value["codebook"]), item, items, key)
        elif isinstance(value, list):
            value = [
                name
                for element in value
                for name in (
                    _codebook_value(str(element["codebook"]), item, items, key)
                    if _is_placeholder(element)
                    else [element]
                )
            ]
        out[key] = value
    return out


def _is_placeholder(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"codebook"}


def _codebook_value(what: str, item: Item | None, items: tuple[Item, ...], key: str) -> Any:
    if what == "items":
        return [each.name for each in items]
    if item is None:
        raise ValueError(f"{key}: {{codebook: {what}}} needs columns: {{codebook: KIND}}")
    if what == "min_value":
        return item.min_value
    if what == "max_value":
        return item.max_value
    if what == "values":
        return list(range(item.min_value, item.max_value + 1))
    raise ValueError(f"{key}: unknown {{codebook: {what}}}")
