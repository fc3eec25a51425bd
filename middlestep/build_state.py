"""What a build was built from, so that a nightly run with nothing new skips SQLMesh entirely.

Loading SQLMesh and its project costs seconds to tens of seconds before any SQL runs (importing
it, parsing every model, fingerprinting snapshots against its state), which made a night with
nothing new cost as much as a small build. A build is a function of three things: the model
project's files, the raw tables' input versions (the latest batch per table, a hash of
``raw.departments``) and the month of the execution time (the incremental models are monthly:
no interval falls due within a month, and the FULL models recompute the same rows from the same
inputs). The build records them as one key (``meta.build_state``) with its result, in the same
write as its last step; a run whose key is the same returns that result without opening SQLMesh.
A build killed before that write leaves the key of the build before it: the next run differs
and goes through SQLMesh, which completes what was left half-done.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from middlestep.contract import RAW_TABLES
from middlestep.warehouse.home import connect

STATE_TABLE = "meta.build_state"
# what SQLMesh reads of the project: a change of any of these files goes through SQLMesh
PROJECT_PARTS = ("models", "macros", "audits", "seeds")
PROJECT_FILES = ("sqlmesh.yaml", "external_models.yaml")

Fetchall = Callable[[str], Sequence[tuple]]


def input_versions(fetchall: Fetchall) -> dict[str, str]:
    """raw table -> its latest batch id, and ``departments`` -> a hash of its rows (ingest
    rewrites that table: it has no batch ids)."""
    selects = " union all ".join(
        f"select '{name}' as table_name, max(_batch_id) as max_batch_id from raw.{name}"
        for name in RAW_TABLES
    )
    versions = {name: str(int(batch)) for name, batch in fetchall(selects) if batch}
    rows = fetchall(
        "select department_id, description, timezone, study_start_on, study_end_on "
        "from raw.departments"
    )
    digest = hashlib.sha256(repr(sorted(map(repr, rows))).encode())
    versions["departments"] = digest.hexdigest()[:16]
    return versions


def project_fingerprint(project_root: Path) -> str:
    """A hash of the project's files SQLMesh reads, and of SQLMesh's version."""
    root = Path(project_root)
    digest = hashlib.sha256(importlib.metadata.version("sqlmesh").encode())
    paths = [root / name for name in PROJECT_FILES if (root / name).exists()]
    for part in PROJECT_PARTS:
        paths += [path for path in (root / part).rglob("*") if path.is_file()]
    for path in sorted(paths):
        if "__pycache__" in path.parts:
            continue
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def state_key(versions: dict[str, str], project: str, execution_time: dt.datetime) -> str:
    month = f"{execution_time:%Y-%m}"
    return hashlib.sha256(
        json.dumps([sorted(versions.items()), project, month]).encode()
    ).hexdigest()[:16]


def remember(execute: Callable[[str], Any], key: str, record: dict[str, Any]) -> None:
    """Store the build's key and result (through SQLMesh's connection: it holds the file)."""
    execute("create schema if not exists meta")
    execute(f"create table if not exists {STATE_TABLE} (state_key text, record_json text)")
    record_json = json.dumps(record).replace("'", "''")
    execute(f"delete from {STATE_TABLE}")
    execute(f"insert into {STATE_TABLE} values ('{key}', '{record_json}')")


def recalled(warehouse: Path, project_root: Path, execution_time) -> dict[str, Any] | None:
    """The result of the last build if the warehouse and the project are as it left them."""
    with connect(warehouse, read_only=True) as connection:
        exists = connection.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'meta' and table_name = 'build_state'"
        ).fetchone()[0]
        if not exists:
            return None
        stored = connection.execute(f"select state_key, record_json from {STATE_TABLE}").fetchall()

        def fetchall(query: str):
            return connection.execute(query).fetchall()

        versions = input_versions(fetchall)
        when = execution_time(fetchall)
    if len(stored) != 1:
        return None
    key = state_key(versions, project_fingerprint(project_root), when)
    return json.loads(stored[0][1]) if stored[0][0] == key else None
