"""The same models on Spark, for a department (or a consortium) that outgrows one machine.

The warehouse's raw tables are copied to Parquet (one directory per table) and registered as
tables of Spark's ``raw`` database, so the models read ``raw.<table>`` on Spark as on DuckDB; then
SQLMesh plans ``prod`` through the ``spark`` gateway of ``sqlmesh.yaml``, with its state in a
DuckDB file beside the Spark tables. Everything lives under one directory (default
``<home>/spark``): ``raw/`` (Parquet), ``tables/`` (the models' tables), ``metastore_db/`` (Spark's
catalog) and ``sqlmesh_state.duckdb``.

A build after the first recomputes every model from the whole history (raw tables are external
to SQLMesh: it cannot see which batches are new); the nightly, month-by-month restatement of
``middlestep.build`` is DuckDB's. pyspark comes with the ``spark`` extra (``pip install -e
'.[spark]'``) and needs Java 17.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import numbers
import os
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from middlestep.build import ENVIRONMENT, BuildError, latest_execution_time
from middlestep.contract import RAW_TABLES
from middlestep.gate.counts import COUNTS, counts_of
from middlestep.sqlmesh_errors import quiet_console, summarize
from middlestep.warehouse import PROJECT_ROOT, Home, connect, reader_lock

logger = logging.getLogger(__name__)

GATEWAY = "spark"
LOCAL_MASTER = "local[2]"
MASTER_ENV = "MIDDLESTEP_SPARK_MASTER"
DIR_ENV = "MIDDLESTEP_SPARK_DIR"
WAREHOUSE_ENV = "MIDDLESTEP_WAREHOUSE"
# the raw tables the models and audits read (the reject tables stay in DuckDB; the batches go
# too: staging leaves out the rows of superseded batches)
RAW_TABLE_NAMES = (*RAW_TABLES, "departments", "_batches")
FLOAT_DIGITS = 9  # significant digits a double keeps in a checksum (sums add in any order)


@dataclass(frozen=True)
class SparkBuild:
    spark_dir: Path
    raw_rows: dict[str, int]  # raw table -> rows copied to Spark
    execution_time: str
    restated: bool  # a build after the first: every model recomputed from the raw tables


def spark_dir_of(home: Home) -> Path:
    return home.root / "spark"


def build_on_spark(
    home: Home, *, spark_dir: Path | None = None, master: str = LOCAL_MASTER
) -> SparkBuild:
    """Copy the warehouse's raw tables to Spark and build every model there (SQLMesh, ``prod``)."""
    spark_dir = Path(spark_dir or spark_dir_of(home)).resolve()
    raw_rows = export_raw_tables(home, spark_dir / "raw")
    with spark_context(spark_dir, master=master) as context:
        register_raw_tables(context, spark_dir / "raw")
        execution_time = latest_execution_time(context)
        built_before = context.state_reader.get_environment(ENVIRONMENT) is not None
        context.plan(ENVIRONMENT, auto_apply=True, no_prompts=True, execution_time=execution_time)
        if built_before:
            context.plan(
                ENVIRONMENT,
                restate_models=[f"raw.{name}" for name in RAW_TABLE_NAMES],
                auto_apply=True,
                no_prompts=True,
                execution_time=execution_time,
                skip_tests=True,
            )
    return SparkBuild(spark_dir, raw_rows, execution_time.isoformat(), restated=built_before)


def export_raw_tables(home: Home, out_dir: Path) -> dict[str, int]:
    """Write each raw table of the warehouse as Parquet under ``out_dir/<table>/``; rows per
    table. A table's directory is replaced whole, so a rerun leaves no file of an earlier copy."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = {}
    with reader_lock(home), connect(home.warehouse, read_only=True) as connection:
        for name in RAW_TABLE_NAMES:
            staged = out_dir / f".{name}.partial"
            shutil.rmtree(staged, ignore_errors=True)
            staged.mkdir()
            rows_of = _live_rows(name)
            connection.execute(
                f"copy ({rows_of}) to '{staged / 'part-0.parquet'}' (format parquet)"
            )
            rows[name] = connection.execute(f"select count(*) from ({rows_of})").fetchone()[0]
            shutil.rmtree(out_dir / name, ignore_errors=True)
            staged.rename(out_dir / name)
    return rows


def _live_rows(name: str) -> str:
    """The rows of ``raw.<name>`` that staging reads: none of a superseded batch (a file loaded
    again under a changed mapping; on DuckDB, ``@latest_version`` leaves them out)."""
    if name not in RAW_TABLES:  # departments and _batches themselves
        return f"select * from raw.{name}"
    return (
        f"select * from raw.{name} where _batch_id not in "
        "(select batch_id from raw._batches where superseded_by is not null)"
    )


def register_raw_tables(context, parquet_dir: Path) -> None:
    """Make ``raw.<table>`` on Spark the Parquet copy (an external table: dropping it keeps the
    files)."""
    adapter = context.engine_adapter
    adapter.execute("create database if not exists raw")
    for name in RAW_TABLE_NAMES:
        adapter.execute(f"drop table if exists raw.{name}")
        adapter.execute(f"create table raw.{name} using parquet location '{parquet_dir / name}'")


@contextlib.contextmanager
def spark_context(
    spark_dir: Path, *, master: str = LOCAL_MASTER, project_root: Path = PROJECT_ROOT
) -> Iterator:
    """A SQLMesh context on the ``spark`` gateway, its files under ``spark_dir``."""
    from sqlmesh import Context
    from sqlmesh.core.console import get_console, set_console
    from sqlmesh.utils.errors import SQLMeshError

    spark_dir.mkdir(parents=True, exist_ok=True)
    # SQLMesh opens every gateway: the DuckDB one on no file, so no warehouse is locked or made
    settings = {MASTER_ENV: master, DIR_ENV: str(spark_dir), WAREHOUSE_ENV: ":memory:"}
    previous = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    previous_console = get_console()
    console = quiet_console()
    set_console(console)
    context = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SQLMesh's and pyspark's own deprecations
            context = Context(paths=str(project_root), gateway=GATEWAY)
            context.engine_adapter.spark.sparkContext.setLogLevel("ERROR")
            yield context
    except SQLMeshError as error:
        failure = summarize(error, console, context.engine_adapter if context else None)
        first, *more = failure.summary
        message = "\n".join([f"SQLMesh failed on Spark: {first}", *(f"  {x}" for x in more)])
        raise BuildError(message, failure.details) from error
    finally:
        if context is not None:
            context.close()
        set_console(previous_console)
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def spark_department_counts(context) -> pd.DataFrame:
    """The gate's per-department counts of the marts (gate/counts.py), computed on Spark: the
    same small frame `analyses_supported` reads, from marts that never leave the cluster."""
    adapter = context.engine_adapter
    columns = {
        mart: set(adapter.columns(f"marts.{mart}"))
        for mart in COUNTS
        if adapter.table_exists(f"marts.{mart}")
    }
    return counts_of(adapter.fetchdf, columns, dialect="spark")


def read_mart(context, name: str) -> pd.DataFrame:
    """A mart of the Spark build as a data frame."""
    return context.engine_adapter.fetchdf(f"select * from marts.{name}")


def column_checksums(frame: pd.DataFrame) -> dict[str, str]:
    """Column -> ``"<non-null values>:<checksum>"``, independent of row order and of the engine's
    types: a value is hashed as text (numbers to 9 significant digits, dates and times in ISO
    form), and the checksum is the sum of the hashes (two equal values do not cancel out)."""
    checksums = {}
    for column in frame.columns:
        values = [_canonical(value) for value in frame[column].tolist()]
        total = sum(int(hashlib.sha256(v.encode()).hexdigest()[:16], 16) for v in values if v)
        checksums[column] = f"{sum(1 for v in values if v)}:{total % 2**64:016x}"
    return checksums


def _canonical(value) -> str:
    """The engine-independent text of a value; empty for NULL."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, dt.date | np.datetime64):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, numbers.Number):
        return "" if value != value else format(float(value) + 0.0, f".{FLOAT_DIGITS}g")
    return f"'{value}"
