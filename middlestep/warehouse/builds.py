"""The build ledger (``meta.builds``): each build named by what it was built from."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from middlestep.warehouse.home import Home, connect
from middlestep.warehouse.schema import META_BUILDS_DDL


@dataclass(frozen=True)
class BuildIdentity:
    build_id: str
    plan_id: str
    built_at: str
    model_versions: dict[str, str]
    batches: list[dict[str, Any]]


def record_build(home: Home, record) -> BuildIdentity:
    """Name the build by what it was built from: the model versions and the input batches."""
    with connect(home.warehouse) as connection:
        batches = [
            dict(zip(("batch_id", "table", "source_file", "file_sha256"), row, strict=True))
            for row in connection.execute(
                "select batch_id, table_name, source_file, file_sha256 from raw._batches "
                "order by batch_id"
            ).fetchall()
        ]
        model_versions = dict(sorted(record.model_versions.items()))
        fingerprint = json.dumps([model_versions, [b["file_sha256"] for b in batches]])
        build_id = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
        built_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        connection.execute("create schema if not exists meta")
        connection.execute(META_BUILDS_DDL)
        connection.execute(
            "insert into meta.builds values (?, ?, ?, ?, ?)",
            [build_id, record.plan_id, built_at, json.dumps(model_versions), json.dumps(batches)],
        )
    return BuildIdentity(build_id, record.plan_id, built_at.isoformat(), model_versions, batches)


def latest_build(home: Home) -> BuildIdentity | None:
    if not home.warehouse.exists():
        return None
    with connect(home.warehouse, read_only=True) as connection:
        exists = connection.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'meta' and table_name = 'builds'"
        ).fetchone()[0]
        if not exists:
            return None
        row = connection.execute(
            "select build_id, plan_id, built_at, model_versions_json, batches_json "
            "from meta.builds order by built_at desc limit 1"
        ).fetchone()
    if row is None:
        return None
    return BuildIdentity(row[0], row[1], row[2].isoformat(), json.loads(row[3]), json.loads(row[4]))
