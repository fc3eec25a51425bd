"""The run log (``<home>/runs.jsonl``): one JSON line per step, which `middlestep status` reads."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from middlestep.warehouse.home import Home


def log_run(home: Home, step: str, **details: Any) -> None:
    entry = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "step": step}
    entry.update(details)
    with open(home.ensure().run_log, "a") as handle:
        handle.write(json.dumps(entry, default=str) + "\n")


def read_run_log(home: Home) -> list[dict[str, Any]]:
    if not home.run_log.exists():
        return []
    entries = []
    for line in home.run_log.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a killed process
    return entries


def local_time(value: Any) -> str:
    """A time of the run log or the warehouse (UTC; naive values are UTC) as local time with
    its zone, to the minute: `2026-01-05 00:24 EST`. A date (no time of day) stays a date."""
    if value is None:
        return "-"
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, dt.datetime):
        return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    local = value.astimezone()
    return local.strftime("%Y-%m-%d %H:%M ") + (local.strftime("%Z") or local.strftime("%z"))


def local_timestamp(value: str | dt.datetime | None = None) -> str | None:
    """`value` (UTC; naive is UTC; default now) as local ISO 8601 with its offset: readable by
    machines, the zone shown."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    value = value or dt.datetime.now(dt.UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone().isoformat(timespec="seconds")
