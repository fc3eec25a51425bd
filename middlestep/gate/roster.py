"""Gate checks that a trial's officers all reached the warehouse: no cascade goes silently.

A rejected roster row rejects every other row of that officer ("not on the roster"), and a
rejected or arm-less randomization row takes an officer out of the intent-to-treat arms. Each is
a few rows in raw._rejects, well under the reject share that fails the gate, yet it breaks the
randomization the estimates rest on. So the gate FAILS when, per department:

* an officer of a trial is not on the roster (raw.officers);
* an officer of a trial that has arms has none (the latest version of their assignment);
* the latest trial-assignment file of a department has rejected rows (a randomized officer
  whose assignment did not load; a corrected file in a later drop clears it);
* rows of a trial officer were rejected as "not on the roster".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from middlestep.gate.results import CRITICAL, CheckResult
from middlestep.warehouse import connect

MART = "raw.trial_assignments"
WHY = (
    "the trial's comparison is of every randomized officer: one lost officer (or one lost arm) "
    "breaks the randomization silently"
)
LATEST_ASSIGNMENTS = """
    select department_id, trial_id, officer_id, arm
    from raw.trial_assignments
    qualify row_number() over (
        partition by department_id, trial_id, officer_id order by _batch_id desc, _source_line desc
    ) = 1
"""
CHECKS = {
    "trial_officers_on_roster": f"""
        with assignments as ({LATEST_ASSIGNMENTS})
        select distinct a.department_id || '/' || a.officer_id from assignments as a
        where not exists (
            select 1 from raw.officers as o
            where o.department_id = a.department_id and o.officer_id = a.officer_id
        )
    """,
    "trial_officers_have_an_arm": f"""
        with assignments as ({LATEST_ASSIGNMENTS})
        select a.department_id || '/' || a.officer_id from assignments as a
        where a.arm is null and exists (
            select 1 from assignments as b
            where b.department_id = a.department_id and b.trial_id = a.trial_id
                and b.arm is not null
        )
    """,
    "trial_assignments_without_rejects": """
        with latest as (
            select department_id, max(batch_id) as batch_id from raw._batches
            where table_name = 'trial_assignments' group by department_id
        )
        select r.source_file || ':' || r.line_number || ' ' || r.reason
        from raw._rejects as r
        inner join latest on latest.batch_id = r.batch_id
    """,
    "trial_officer_rows_not_rejected_for_roster": f"""
        with assignments as ({LATEST_ASSIGNMENTS})
        select r.source_file || ':' || r.line_number || ' ' || r.reason
        from raw._rejects as r
        where r.field = 'officer_id' and r.reason like '%is not on the roster%'
            and exists (
                select 1 from assignments as a
                where a.department_id = r.department_id and a.officer_id = r.value
            )
    """,
}


def roster_checks(warehouse: Path) -> list[Any]:
    """One CheckResult per check (critical); none when the warehouse has no trial tables."""

    with connect(warehouse, read_only=True) as connection:
        tables = {
            name
            for (name,) in connection.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
        }
        if not {"trial_assignments", "officers", "_rejects", "_batches"} <= tables:
            return []
        found = {name: connection.execute(sql).fetchall() for name, sql in CHECKS.items()}
    results = []
    for name, rows in found.items():
        examples = tuple(row[0] for row in rows[:5])
        results.append(
            CheckResult(
                mart=MART,
                expectation=name,
                success=not rows,
                severity=CRITICAL,
                observed=(f"{len(rows)} found, e.g. " + "; ".join(examples)) if rows else "none",
                unexpected_count=len(rows),
                unexpected_sample=examples,
                why=WHY,
            )
        )
    return results
