"""The same models on Spark: the default synthetic department (at a quarter of its officers) built
on DuckDB and on Spark local through SQLMesh gives every mart the same rows: the same count and
the same checksum of every column (order-independent, doubles to 9 significant digits). The
columns' order may differ: Spark stores a table's partition column last.

A month of the calls restated on Spark (the nightly case) leaves every mart equal to DuckDB's, and
the gate's per-department counts computed on Spark equal DuckDB's.

The Spark build takes several minutes: marked ``spark``, left out of `make test`, run by
`make test-spark` (CI runs both). The check that every incremental model is partitioned by a DATE
column is plain SQLMesh and runs in the default suite.
"""

from __future__ import annotations

import pandas as pd
import pytest
from sqlglot import exp

from middlestep import commands
from middlestep.build import ENVIRONMENT, latest_execution_time
from middlestep.gate.counts import department_counts
from middlestep.spark import (
    RAW_TABLE_NAMES,
    build_on_spark,
    column_checksums,
    read_mart,
    spark_context,
    spark_department_counts,
)
from middlestep.warehouse import PROJECT_ROOT, Home, connect

SCALE = 0.25  # 80 officers, about 110,000 calls: every mart has rows, the build fits in minutes


def test_every_incremental_model_is_partitioned_by_a_date_column(tmp_path, monkeypatch):
    """On Spark an interval overwrites the partitions it writes: a table partitioned by nothing
    would be overwritten whole by each month, one partitioned by a timestamp would have a
    partition per call."""
    from sqlmesh import Context

    monkeypatch.setenv("MIDDLESTEP_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    context = Context(paths=str(PROJECT_ROOT))
    incremental = [model for model in context.models.values() if model.kind.is_incremental]
    assert len(incremental) >= 5
    for model in incremental:
        partitions = [column.name for column in model.partitioned_by]
        assert len(partitions) == 1, (model.name, partitions)
        column_type = model.columns_to_types[partitions[0]]
        assert column_type.is_type(exp.DataType.Type.DATE), (model.name, partitions, column_type)


@pytest.fixture(scope="module")
def both_builds(tmp_path_factory):
    """Marts' checksums of the DuckDB build and of the Spark build of the same raw tables."""
    pytest.importorskip("pyspark", reason="the spark extra (requirements-spark.lock)")
    root = tmp_path_factory.mktemp("spark-parity")
    commands.synthesize(root / "export", None, seed=1, scale=SCALE)
    home = Home.resolve(root / "home")
    commands.ingest(home, root / "export", "synthetic")
    commands.build(home)
    spark_build = build_on_spark(home)
    with connect(home.warehouse, read_only=True) as connection:
        marts = [
            name
            for (name,) in connection.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'marts' order by table_name"
            ).fetchall()
        ]
        raw_rows = {
            name: connection.execute(f"select count(*) from raw.{name}").fetchone()[0]
            for name in RAW_TABLE_NAMES
        }
        duckdb_marts = {
            name: (frame := connection.execute(f"select * from marts.{name}").df(), len(frame))
            for name in marts
        }
        duckdb_counts = department_counts(connection)
    with spark_context(spark_build.spark_dir) as context:
        spark_marts = {name: (frame := read_mart(context, name), len(frame)) for name in marts}
        spark_counts = spark_department_counts(context)
        # one month of the incremental models restated on Spark: on a table not partitioned by
        # its month, the interval would overwrite every other month
        month = duckdb_marts["fct_calls"][0]["month_start"].min() + pd.DateOffset(months=6)
        context.plan(
            ENVIRONMENT,
            restate_models=["staging.stg_calls"],
            start=month.date(),
            end=(month + pd.DateOffset(months=1) - pd.DateOffset(days=1)).date(),
            auto_apply=True,
            no_prompts=True,
            skip_tests=True,
            execution_time=latest_execution_time(context),
        )
        restated = {name: (frame := read_mart(context, name), len(frame)) for name in marts}
    return {
        "raw_rows": raw_rows,
        "spark_build": spark_build,
        "duckdb": {name: (rows, column_checksums(f)) for name, (f, rows) in duckdb_marts.items()},
        "spark": {name: (rows, column_checksums(f)) for name, (f, rows) in spark_marts.items()},
        "spark_restated": {
            name: (rows, column_checksums(f)) for name, (f, rows) in restated.items()
        },
        "duckdb_counts": duckdb_counts,
        "spark_counts": spark_counts,
    }


@pytest.mark.spark
def test_the_gate_counts_the_spark_marts_as_the_duckdb_ones(both_builds):
    """What the gate's analysis support reads (gate/counts.py), computed on each engine."""
    duckdb_counts, spark_counts = both_builds["duckdb_counts"], both_builds["spark_counts"]
    assert len(duckdb_counts) == 1 and duckdb_counts.loc[0, "n_officer_months"] > 0
    pd.testing.assert_frame_equal(spark_counts, duckdb_counts)


@pytest.mark.spark
def test_spark_reads_every_raw_table_of_the_warehouse(both_builds):
    assert both_builds["spark_build"].raw_rows == both_builds["raw_rows"]
    assert both_builds["raw_rows"]["calls"] > 10_000


@pytest.mark.spark
@pytest.mark.parametrize("spark_build", ["spark", "spark_restated"])
def test_every_mart_has_the_same_rows_and_column_checksums_on_spark(both_builds, spark_build):
    """The first build on Spark, and the same after a month of the calls was restated."""
    duckdb_marts, spark_marts = both_builds["duckdb"], both_builds[spark_build]
    assert set(duckdb_marts) >= {
        "dim_officers",
        "fct_calls",
        "fct_call_officers",
        "fct_encounters",
        "fct_force_reports",
        "fct_officer_months",
        "rpt_sso_reliability",
    }
    assert set(spark_marts) == set(duckdb_marts)
    for name, (rows, checksums) in duckdb_marts.items():
        assert rows > 0, name
        spark_rows, spark_checksums = spark_marts[name]
        assert spark_rows == rows, name
        # the same columns; Spark puts a partition column (month_start) last
        assert sorted(spark_checksums) == sorted(checksums), name
        differing = {
            c: (v, spark_checksums[c]) for c, v in checksums.items() if spark_checksums[c] != v
        }
        assert not differing, (name, differing)
