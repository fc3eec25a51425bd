"""The integrity of the input batches: every batch adds up (rows read = loaded + rejected), its
loaded rows are in its raw table, and no table lost more than a set share of its rows.
"""

from __future__ import annotations

import pandas as pd

from middlestep.gate.facts import WarehouseFacts
from middlestep.gate.results import CheckResult
from middlestep.gate.specs import CRITICAL, WARNING

# Pseudo-marts of the checks the gate runs itself, outside Great Expectations.
BATCHES, REJECTS = "raw._batches", "raw._rejects"


def batch_checks(facts: WarehouseFacts, max_reject_share: float) -> list[CheckResult]:
    """Every batch adds up, rejects are recorded, and no table lost too many rows."""
    if facts.batches is None:
        return [
            CheckResult(
                mart=BATCHES,
                expectation="batches_recorded",
                success=False,
                observed="raw._batches is not in the warehouse",
                why="every number must trace back to the input files it came from",
            )
        ]
    batches = facts.batches
    checks: list[CheckResult] = []
    why_add_up = "nothing is dropped silently: every row read is loaded or rejected"
    rule = "rows_read = rows_loaded + rows_rejected"
    broken = batches[batches["rows_read"] != batches["rows_loaded"] + batches["rows_rejected"]]
    for row in broken.itertuples(index=False):
        checks.append(
            CheckResult(
                mart=BATCHES,
                expectation="batch_rows_add_up",
                success=False,
                column="rows_read",
                kwargs={"rule": rule},
                observed=(
                    f"batch {row.batch_id} ({row.table_name}, {row.source_file}): "
                    f"read {row.rows_read} but loaded {row.rows_loaded} + "
                    f"rejected {row.rows_rejected} = {row.rows_loaded + row.rows_rejected}"
                ),
                why=why_add_up,
            )
        )
    if broken.empty:
        checks.append(
            CheckResult(
                mart=BATCHES,
                expectation="batch_rows_add_up",
                success=True,
                column="rows_read",
                kwargs={"rule": rule},
                observed=f"{len(batches)} batches add up",
                why=why_add_up,
            )
        )

    if facts.rejects_by_batch is not None:
        recorded = batches.merge(facts.rejects_by_batch, on="batch_id", how="left")
        recorded["n_rejects"] = recorded["n_rejects"].fillna(0).astype(int)
        mismatched = recorded[recorded["n_rejects"] != recorded["rows_rejected"]]
        why = "raw._rejects holds one row per rejected line, so every reject can be looked up"
        for row in mismatched.itertuples(index=False):
            checks.append(
                CheckResult(
                    mart=REJECTS,
                    expectation="rejects_recorded_per_batch",
                    success=False,
                    column="batch_id",
                    observed=(
                        f"batch {row.batch_id} ({row.table_name}, {row.source_file}) says "
                        f"{row.rows_rejected} rows rejected, raw._rejects holds {row.n_rejects}"
                    ),
                    why=why,
                )
            )
        if mismatched.empty:
            checks.append(
                CheckResult(
                    mart=REJECTS,
                    expectation="rejects_recorded_per_batch",
                    success=True,
                    column="batch_id",
                    observed="every rejected row is in raw._rejects",
                    why=why,
                )
            )

    checks += _loaded_rows_checks(facts)

    # a file loaded again (a changed mapping) counts once: its latest load
    per_table = (
        batches[batches["superseded_by"].isna()]
        .groupby(["department_id", "table_name"], dropna=False)[["rows_read", "rows_rejected"]]
        .sum()
        .reset_index()
    )
    for row in per_table.itertuples(index=False):
        share = row.rows_rejected / row.rows_read if row.rows_read else 0.0
        over = share > max_reject_share
        checks.append(
            CheckResult(
                mart=REJECTS,
                expectation="reject_share_at_most",
                success=row.rows_rejected == 0,
                column=f"{row.department_id}/{row.table_name}",
                kwargs={"max_share": max_reject_share},
                severity=CRITICAL if over else WARNING,
                observed=(
                    f"{row.rows_rejected} of {row.rows_read} rows of {row.table_name} "
                    f"rejected ({share:.1%})"
                    + ("" if over else f", within the limit of {max_reject_share:.0%}")
                ),
                why=(
                    f"more than {max_reject_share:.0%} rejected means the mapping or the export "
                    "is broken, and estimates would rest on a biased subset"
                    if over
                    else "rejected rows are missing from every estimate; see the rejects table"
                ),
            )
        )
    return checks


def _loaded_rows_checks(facts: WarehouseFacts) -> list[CheckResult]:
    """Each batch's rows_loaded are in its raw table, and every raw row belongs to a batch."""
    batches = facts.batches
    held = facts.raw_rows_by_batch
    why = "every number must trace back to the input file (batch) it came from"
    checks: list[CheckResult] = []
    merged = batches.merge(held, on=["table_name", "batch_id"], how="left")
    merged["n_rows"] = pd.to_numeric(merged["n_rows"]).fillna(0).astype(int)
    # lines of one key folded into one row (a mapping's repeated_keys policy) are stored once
    stored = merged["rows_loaded"] - merged["rows_merged"]
    for row in merged[merged["n_rows"] != stored].itertuples(index=False):
        where = (
            f"raw.{row.table_name} holds {row.n_rows}"
            if row.table_name in facts.raw_rows
            else f"raw.{row.table_name} does not exist"
        )
        checks.append(
            CheckResult(
                mart=BATCHES,
                expectation="batch_rows_loaded_are_in_raw",
                success=False,
                column="rows_loaded",
                observed=(
                    f"batch {row.batch_id} ({row.table_name}, {row.source_file}) says "
                    f"{row.rows_loaded} rows loaded{_folded(row.rows_merged)}, {where}"
                ),
                why=why,
            )
        )
    known = set(zip(batches["table_name"], batches["batch_id"], strict=True))
    is_orphan = pd.Series(
        [
            (name, batch_id) not in known
            for name, batch_id in zip(held["table_name"], held["batch_id"], strict=True)
        ],
        index=held.index,
        dtype=bool,
    )
    orphans = held[is_orphan]
    for name, rows in orphans.groupby("table_name"):
        checks.append(
            CheckResult(
                mart=f"raw.{name}",
                expectation="rows_belong_to_a_batch",
                success=False,
                column="_batch_id",
                observed=(
                    f"{int(rows['n_rows'].sum())} rows of batches not in raw._batches "
                    f"(_batch_id {', '.join(str(b) for b in sorted(rows['batch_id'], key=str))})"
                ),
                why=why,
            )
        )
    if not checks:
        checks.append(
            CheckResult(
                mart=BATCHES,
                expectation="batch_rows_loaded_are_in_raw",
                success=True,
                column="rows_loaded",
                observed="every batch's rows are in its raw table, every raw row has its batch",
                why=why,
            )
        )
    return checks


def _folded(rows_merged: int) -> str:
    """Lines the mapping's repeated_keys policy folded into another line's row."""
    return f" ({rows_merged} of them folded into other lines' rows)" if rows_merged else ""
