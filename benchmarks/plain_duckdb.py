"""The same marts built by plain DuckDB SQL: the yardstick for the SQLMesh build.

Every model's query is rendered by SQLMesh once (macros expanded, references left as model
names) and then executed in dependency order as plain `create table ... as` statements on a copy
of the ingested warehouse. The ratio of the two build times is SQLMesh's overhead (state, plans,
audits, virtual layer); the SQL that computes the data is the same.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from pathlib import Path

import duckdb

from middlestep.warehouse import PROJECT_ROOT
from middlestep.warehouse.home import duckdb_settings


def render_models(warehouse: Path, end: dt.datetime) -> list[tuple[str, str, str]]:
    """(model name, kind, SQL or seed path) in dependency order."""
    from sqlmesh import Context

    os.environ["MIDDLESTEP_WAREHOUSE"] = str(warehouse)
    context = Context(paths=str(PROJECT_ROOT))
    try:
        rendered = []
        for name in context.dag:
            model = context.models.get(name)
            if model is None or model.kind.is_external:  # a raw table: read, never built
                continue
            if model.kind.is_seed:
                seed_file = (Path(model._path).parent / model.kind.path).resolve()
                rendered.append((model.name, "seed", str(seed_file)))
                continue
            query = model.render_query(start="2000-01-01", end=end, execution_time=end)
            kind = "view" if model.kind.is_view else "table"
            rendered.append((model.name, kind, query.sql(dialect="duckdb")))
        return rendered
    finally:
        context.close()


def build_plain(ingested_warehouse: Path, work_dir: Path, end: dt.datetime) -> float:
    """Seconds to build every model with plain DuckDB SQL on a copy of the ingested warehouse."""
    copy = work_dir / "plain.duckdb"
    shutil.copy(ingested_warehouse, copy)
    statements = render_models(copy, end)
    raw_before = _raw_row_counts(copy)
    started = time.perf_counter()
    with duckdb.connect(str(copy), config=duckdb_settings(copy)) as connection:
        for name, kind, body in statements:
            schema = name.split(".")[0].strip('"')
            connection.execute(f"create schema if not exists {schema}")
            if kind == "seed":
                connection.execute(
                    f"create or replace table {name} as select * from read_csv(?)", [body]
                )
            else:
                connection.execute(f"create or replace {kind} {name} as {body}")
    seconds = time.perf_counter() - started
    if _raw_row_counts(copy) != raw_before:  # a yardstick that rebuilt its own input is void
        raise RuntimeError("the plain DuckDB build changed the raw tables it reads")
    return seconds


def _raw_row_counts(warehouse: Path) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        tables = connection.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
        ).fetchall()
        return {
            name: connection.execute(f'select count(*) from raw."{name}"').fetchone()[0]
            for (name,) in tables
        }
