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
