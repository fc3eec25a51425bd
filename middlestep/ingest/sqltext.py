"""The one way ingest writes names and values into SQL text.

Everything a mapping file or an export supplies (column names, codes, null tokens, formats) is
data: a name goes through ``identifier`` (double quotes, a quote inside doubled), a value through
``literal`` (single quotes, doubled). Export column names never reach SQL at all: staged cells are
named by position (``c0``, ``c1``, ...).
"""

from __future__ import annotations

from typing import Any


def identifier(name: str) -> str:
    """A quoted SQL identifier; safe for any text, including quotes and semicolons."""
    if "\x00" in name:
        raise ValueError("an identifier cannot hold a NUL character")
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """A SQL string literal (NULL for None)."""
    if value is None:
        return "null"
    text = str(value)
    if "\x00" in text:
        raise ValueError("a SQL literal cannot hold a NUL character")
    return "'" + text.replace("'", "''") + "'"
