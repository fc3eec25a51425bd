"""Month by month validation of the large event marts: a gate re-validates only changed months.

A nightly build of a large department rewrites a month or two of ``marts.fct_calls`` (millions
of rows in all); validating every row again would cost most of the night's run. So the gate
fingerprints each month of a monthly mart (rows and a sum of row hashes, one DuckDB query),
compares them with the months of the last gate that *passed* with the same checks, and runs the
mart's expectations on the months whose fingerprint differs (or that are new). A month whose
content is unchanged keeps the verdict it had; a change of the expectations or of the gate's
code re-validates every month. ``middlestep check --full`` validates all months regardless.

Every expectation of a monthly mart must be decidable per month: row-level checks are, and the
grain's uniqueness is too because a record's latest version places it in exactly one month
(staging resolves versions across months; SQLMesh audits the grain). A ``mostly`` threshold
applies to the validated months, which is stricter than over the whole table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from middlestep.fingerprint import fingerprints_by

# mart -> its month column
MONTHLY_MARTS: dict[str, str] = {"fct_calls": "month_start"}

MONTHS_DDL = """
create table if not exists meta.gate_months (
    checked_at timestamp,
    build_id text,
    mart text,
    month_start date,
    fingerprint text,
    checks_version text
)
"""


@dataclass(frozen=True)
class MonthScope:
    """Which months of a monthly mart a gate validated, and the fingerprints of all of them."""

    mart: str
    column: str
    checks_version: str
    fingerprints: dict[dt.date, str]  # every month of the mart now
    validated: tuple[dt.date, ...]  # the months whose expectations ran
    carried_from: str | None = None  # the build whose passed gate vouches for the rest

    @property
    def is_full(self) -> bool:
        return self.carried_from is None

    def where(self) -> str:
        """SQL condition selecting the validated months ('true' for a full validation)."""
        if self.is_full:
            return "true"
        months = ", ".join(f"date '{month.isoformat()}'" for month in self.validated)
        changed = f'"{self.column}" in ({months})' if months else "false"
        return f'({changed} or "{self.column}" is null)'  # a row of no month is never vouched for

    def describe(self) -> str:
        if self.is_full:
            return f"all {len(self.fingerprints)} months"
        unchanged = len(self.fingerprints) - len(self.validated)
        changed = ", ".join(f"{month:%Y-%m}" for month in self.validated) or "none"
        return (
            f"{len(self.validated)} changed months ({changed}); {unchanged} months unchanged "
            f"since the passed gate of build {self.carried_from}"
        )

    def to_dict(self) -> dict:
        return {
            "mart": self.mart,
            "months": len(self.fingerprints),
            "validated": [month.isoformat() for month in self.validated],
            "carried_from_build": self.carried_from,
            "text": self.describe(),
        }


def checks_version(expectations_file: Path) -> str:
    """Changes with the mart's expectations or the gate's code: either re-validates all months."""
    digest = hashlib.sha256(Path(expectations_file).read_bytes())
    for module in ("gate.py", "gate_months.py"):
        digest.update((Path(__file__).parent / module).read_bytes())
    return digest.hexdigest()[:16]


def month_scope(
    con: duckdb.DuckDBPyConnection, mart: str, version: str, *, incremental: bool
) -> MonthScope:
    """The months of ``marts.<mart>`` to validate: those changed since the last passed gate."""
    column = MONTHLY_MARTS[mart]
    now = fingerprints_by(con, "marts", mart, column)
    previous = _last_passed(con, mart, version) if incremental else None
    if previous is None:
        return MonthScope(mart, column, version, now, tuple(sorted(now)))
    build_id, before = previous
    changed = tuple(sorted(month for month, print_ in now.items() if before.get(month) != print_))
    return MonthScope(mart, column, version, now, changed, carried_from=build_id)


def record_months(
    con: duckdb.DuckDBPyConnection, checked_at: dt.datetime, build_id: str | None, scope
) -> None:
    """Store the scope's month fingerprints (``meta.gate_months``: gate.ensure_meta_tables)."""
    if not scope.fingerprints:  # an empty mart (a department without calls): nothing to vouch for
        return
    con.executemany(
        "insert into meta.gate_months values (?, ?, ?, ?, ?, ?)",
        [
            [checked_at, build_id, scope.mart, month, fingerprint, scope.checks_version]
            for month, fingerprint in sorted(scope.fingerprints.items())
        ],
    )


def _last_passed(
    con: duckdb.DuckDBPyConnection, mart: str, version: str
) -> tuple[str, dict[dt.date, str]] | None:
    """(build id, month fingerprints) of the latest passed gate that recorded this mart's months
    with the same checks; None if there is none."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'meta' "
        "and table_name in ('gate_months', 'gate_results')"
    ).fetchone()[0]
    if exists < 2:
        return None
    latest = con.execute(
        "select checked_at, build_id from meta.gate_results where passed "
        "order by checked_at desc limit 1"
    ).fetchone()
    if latest is None:
        return None
    rows = con.execute(
        "select month_start, fingerprint from meta.gate_months "
        "where checked_at = ? and mart = ? and checks_version = ?",
        [latest[0], mart, version],
    ).fetchall()
    if not rows:
        return None
    return latest[1], dict(rows)
