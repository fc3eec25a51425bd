"""The keys and settings a department mapping may hold, checked before anything is read.

A misspelt key (`timezon:`, `delimeter:`, `fromat:`) was silently ignored: the export was then
read in UTC, with commas, or without the format, and the fault surfaced (if at all) as rejects
or wrong hours far from its cause. Every section of a mapping is checked here against the keys
docs/contracts.md (section 1) documents, and every setting against what ingest can use.
"""

from __future__ import annotations

import codecs
import datetime as dt
import difflib
import zoneinfo
from typing import Any

TOP_KEYS = (
    "department_id", "description", "timezone", "study", "null_values", "earliest_date",
    "tables", "defaults",
)  # fmt: skip
STUDY_KEYS = ("start_on", "end_on")
TABLE_KEYS = (
    "file", "format", "encoding", "delimiter", "null_values", "columns", "extra_header_rows",
    "repeated_keys",
)  # fmt: skip
FIELD_KEYS = (
    "column", "columns", "value", "unknown", "allow_unknown", "format", "values", "separator",
    "aggregate",
)  # fmt: skip
FILE_FORMATS = ("csv", "parquet")


class MappingError(ValueError):
    """A mapping file that does not fit the contract."""


def section(value: Any, known: tuple[str, ...], where: str) -> dict:
    """A mapping section (a YAML mapping) whose keys are all known; names the closest key."""
    if not isinstance(value, dict):
        raise MappingError(f"{where}: expected keys ({', '.join(known)}), got {value!r}")
    for key in value:
        if str(key) not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise MappingError(f"{where}: unknown key '{key}' ({hint}known: {', '.join(known)})")
    return value


def mapping_of(value: Any, where: str, what: str) -> dict:
    """A YAML mapping where the format needs one (`columns:`, `values:`, `tables:`)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MappingError(f"{where}: {what} takes a mapping (key: value lines), got {value!r}")
    return value


def column_name(value: Any, where: str) -> str:
    """A source column's name; YAML reads an unquoted OFF/ON/YES/NO as a yes/no and 2016 as a
    number, so those say to quote the name."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, bool | int | float):
        raise MappingError(
            f'{where}: the column name reads as {value!r} in YAML: quote it (e.g. "OFF", "2016")'
        )
    raise MappingError(f"{where}: expected a column name or a mapping, got {value!r}")


def text_list(value: Any, where: str, what: str) -> tuple[str, ...]:
    """A list of texts (`null_values`); a bare text would be read character by character."""
    if not isinstance(value, list):
        raise MappingError(f'{where}: {what} takes a list, e.g. ["", "NA"], got {value!r}')
    return tuple("" if v is None else str(v) for v in value)


def timezone(value: Any, where: str) -> str:
    name = str(value)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(name, sorted(zoneinfo.available_timezones()), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise MappingError(f"{where}: timezone {name!r} is not an IANA time zone{hint}") from None
    return name


def date_setting(value: Any, where: str) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise MappingError(f"{where}: {value!r} is not a date (write YYYY-MM-DD)") from None


def csv_settings(spec: dict, file_format: str, where: str) -> tuple[str, str]:
    """The encoding and delimiter of a table: ones ingest can read (a one-character
    delimiter, an encoding Python knows)."""
    if file_format not in FILE_FORMATS:
        raise MappingError(f"{where}: format {file_format!r} (one of {', '.join(FILE_FORMATS)})")
    encoding, delimiter = str(spec.get("encoding", "utf-8")), str(spec.get("delimiter", ","))
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise MappingError(
            f"{where}: encoding {encoding!r} is unknown (e.g. utf-8, latin-1, cp1252)"
        ) from None
    if len(delimiter) != 1 or delimiter in '\r\n"':
        raise MappingError(f"{where}: delimiter {delimiter!r} must be one character (e.g. ';')")
    return encoding, delimiter
