"""The per-department counts that say which analyses the data supports (``support.py``), as one
small aggregate per mart computed inside DuckDB: the gate never holds a whole mart in memory.

A column a mart lacks (a broken build: its expectations say what is missing) counts as empty.
The queries are plain SQL, transpiled by SQLGlot for another engine: on the Spark gateway the same
counts come from the marts there (middlestep/spark.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import duckdb
import pandas as pd
import sqlglot

# mart -> count name -> (the columns it needs, its aggregate); empty when a column is missing
COUNTS: dict[str, dict[str, tuple[tuple[str, ...], str]]] = {
    "dim_officers": {
        "n_officers": ((), "count(*)"),
        "n_assigned": (("arm",), "count(arm)"),
        "n_arms": (("arm",), "count(distinct arm)"),
        "n_cohorts": (("cohort_month",), "count(distinct cohort_month)"),
    },
    "fct_officer_months": {
        "n_officer_months": ((), "count(*)"),
        "n_assigned_months": (("arm",), "count(arm)"),
        "n_rollout_months": (("cohort_period",), "count(cohort_period)"),
        "n_complaints": (("complaints",), "coalesce(sum(complaints), 0)"),
    },
    "fct_encounters": {
        "n_encounters": ((), "count(*)"),
        "n_assigned_encounters": (("arm",), "count(arm)"),
        "n_post_encounters": (
            ("arm", "study_period"),
            "count(*) filter (where arm is not null and study_period = 'post')",
        ),
    },
    "fct_force_reports": {"n_force_reports": ((), "count(*)")},
    # call x officer rows of the control arm after the treatment arm's training: the spillover
    # exposure's denominator (middlestep/spillover.py)
    "fct_call_officers": {
        "n_control_post_attendances": (
            ("arm", "study_period"),
            "count(*) filter (where arm = 'control' and study_period = 'post')",
        ),
    },
    "rpt_sso_reliability": {
        "n_double_coded_items": (("n_double_coded",), "count(*) filter (where n_double_coded > 0)")
    },
}
COUNT_NAMES: tuple[str, ...] = tuple(name for counts in COUNTS.values() for name in counts)
ANALYSED_MARTS: tuple[str, ...] = tuple(COUNTS)


def department_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per department found in any analysed mart: ``department_id`` and
    ``COUNT_NAMES`` (0 where the mart or the column is missing)."""
    columns: dict[str, set[str]] = {}
    for table, column in con.execute(
        "select table_name, column_name from information_schema.columns "
        "where table_catalog = current_database() and table_schema = 'marts'"
    ).fetchall():
        columns.setdefault(table, set()).add(column)
    return counts_of(lambda query: con.execute(query).df(), columns)


def counts_of(
    fetchdf: Callable[[str], pd.DataFrame], columns: Mapping[str, set[str]], dialect: str = "duckdb"
) -> pd.DataFrame:
    """:func:`department_counts` on any engine: `columns` maps each mart present to its
    columns, `fetchdf` runs a query (written for DuckDB, transpiled to `dialect`)."""
    per_mart = []
    for mart, counts in COUNTS.items():
        present = columns.get(mart, set())
        if "department_id" not in present:
            continue
        selected = ", ".join(
            f"{aggregate if set(needs) <= present else '0'} as {name}"
            for name, (needs, aggregate) in counts.items()
        )
        query = (
            f"select cast(department_id as varchar) as department_id, {selected} "
            f"from marts.{mart} where department_id is not null group by department_id"
        )
        if dialect != "duckdb":
            query = sqlglot.transpile(query, read="duckdb", write=dialect)[0]
        per_mart.append(fetchdf(query).set_index("department_id"))
    if not per_mart:
        return pd.DataFrame(columns=["department_id", *COUNT_NAMES])
    combined = pd.concat(per_mart, axis=1).reindex(columns=list(COUNT_NAMES))
    combined = combined.fillna(0).astype("int64").sort_index()
    return combined.rename_axis("department_id").reset_index()
