"""Incremental validation: a gate validates only what changed since the last gate that passed.

A nightly build of a large department leaves most marts byte for byte unchanged and rewrites a
month or two of the large ones (``marts.fct_calls`` holds millions of rows); running every
expectation again would cost most of the night's run. So the gate fingerprints every mart by
part (``middlestep/fingerprint.py``: rows and a sum of row hashes, one DuckDB query): by month for
the monthly marts, by department for the others. It compares them with the fingerprints of the
last gate that *passed* with the same checks version (``checks_version``):

* a mart whose whole fingerprint (its parts, its columns and their types) is unchanged keeps the
  verdicts that gate recorded; none of its expectations runs;
* a changed monthly mart (``MONTHLY_MARTS``) is validated in the months whose fingerprint differs
  (or that are new); a table-level check (``WHOLE_TABLE``) counts the whole mart's rows;
* any other changed mart is validated in full.

Rows of no part (a NULL month or department) are never vouched for: they are always validated
and their mart is never carried over. A change of a mart's expectations, of the gate's code or
Great Expectations, or of the outcome of an ``only_if`` condition its expectations name changes
its checks version and re-validates it. ``middlestep check --full`` validates everything.

Every expectation of a monthly mart must be decidable per month: row-level checks and the columns
are; the grain's uniqueness is when the grain holds the month (fct_officer_months) or, for
fct_calls, because a call's latest version places it in exactly one month (staging resolves
versions across months; SQLMesh audits the grain). A ``mostly`` threshold applies to the validated
months, which is stricter than over the whole table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from middlestep.codebook import CODEBOOK_CSV
from middlestep.fingerprint import fingerprints_by

# mart -> its month column. fct_force_reports stays whole: its grain (report x officer) does not
# hold the month, so its uniqueness would be decidable per month only by leaning on staging and
# the SQLMesh audit, as fct_calls does; and at a few thousand rows a month costs Great
# Expectations as much as the whole mart (its cost is per expectation, not per row).
# fct_call_officers takes its month from fct_calls, so every row of a call is in the call's month
# and its grain's uniqueness is decidable per month, as fct_calls's is.
MONTHLY_MARTS: dict[str, str] = {
    "fct_calls": "month_start",
    "fct_officer_months": "month_start",
    "fct_call_officers": "month_start",
}

# The column the other marts are fingerprinted by.
PART_COLUMN = "department_id"

# Table-level expectations a month-scoped mart evaluates on the whole mart (its row count).
WHOLE_TABLE = frozenset({"expect_table_row_count_to_be_between"})

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

MARTS_DDL = """
create table if not exists meta.gate_marts (
    checked_at timestamp,
    build_id text,
    mart text,
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
    n_rows: int = 0  # rows of the whole mart, for the WHOLE_TABLE checks

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


@dataclass(frozen=True)
class MartState:
    """A mart's whole fingerprint at a gate, and whether its verdicts were carried over."""

    mart: str
    fingerprint: str | None  # "<rows>:<hash>"; None if some rows belong to no part
    checks_version: str
    carried_from: str | None = None  # the build whose passed gate vouches for it unchanged

    def describe(self) -> str:
        if self.carried_from is None:
            return "all rows validated"
        return f"unchanged since the passed gate of build {self.carried_from}: verdicts kept"


@dataclass(frozen=True)
class Baseline:
    """The last gate that passed: the build it checked, its fingerprints and its verdicts."""

    build_id: str | None
    marts: dict[str, tuple[str, str]]  # mart -> (fingerprint, checks version)
    months: dict[tuple[str, str], dict[dt.date, str]]  # (mart, checks version) -> months
    checks: tuple[dict, ...]  # its checks as recorded (CheckResult.to_dict)


def checks_version(expectations_file: Path, conditions: Mapping[str, bool] | None = None) -> str:
    """What a mart's verdicts depend on besides its rows: its expectations, the gate's code, Great
    Expectations, and the outcome of the ``only_if`` conditions its expectations name (they
    decide which expectations run). A change of any of them re-validates the whole mart."""
    digest = hashlib.sha256(Path(expectations_file).read_bytes())
    digest.update(CODEBOOK_CSV.read_bytes())  # the expectations of the SSO items come from it
    for module in sorted(Path(__file__).parent.glob("*.py")):  # the gate's code
        digest.update(module.read_bytes())
    digest.update(importlib.metadata.version("great_expectations").encode())
    digest.update(repr(sorted((conditions or {}).items())).encode())
    return digest.hexdigest()[:16]


def fingerprint_mart(
    con: duckdb.DuckDBPyConnection, mart: str, version: str, baseline: Baseline | None
) -> tuple[MartState, MonthScope | None]:
    """``marts.<mart>``'s fingerprint now and, for a monthly mart, the months to validate: those
    changed since ``baseline`` (all of them if there is none)."""
    column = MONTHLY_MARTS.get(mart, PART_COLUMN)
    columns = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = current_database() and table_schema = 'marts' and table_name = ? "
        "order by ordinal_position",
        [mart],
    ).fetchall()
    if column not in {name for name, _ in columns}:  # its expectations say what is missing
        scope = MonthScope(mart, column, version, {}, ()) if mart in MONTHLY_MARTS else None
        return MartState(mart, None, version), scope
    parts = fingerprints_by(con, "marts", mart, column)
    n_rows, n_orphans = con.execute(
        f'select count(*), count(*) filter ("{column}" is null) from marts."{mart}"'
    ).fetchone()
    digest = hashlib.sha256(repr((columns, sorted(parts.items()))).encode()).hexdigest()[:16]
    state = MartState(mart, None if n_orphans else f"{n_rows}:{digest}", version)
    if mart not in MONTHLY_MARTS:
        return state, None
    before = baseline.months.get((mart, version)) if baseline else None
    if before is None:
        return state, MonthScope(mart, column, version, parts, tuple(sorted(parts)), n_rows=n_rows)
    changed = tuple(sorted(month for month, print_ in parts.items() if before.get(month) != print_))
    return state, MonthScope(
        mart, column, version, parts, changed, carried_from=baseline.build_id, n_rows=n_rows
    )


def last_passed(con: duckdb.DuckDBPyConnection) -> Baseline | None:
    """What the latest passed gate recorded; None if no gate passed."""
    tables = {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'meta'"
        ).fetchall()
    }
    if "gate_results" not in tables:
        return None
    latest = con.execute(
        "select checked_at, build_id, result_json from meta.gate_results where passed "
        "order by checked_at desc limit 1"
    ).fetchone()
    if latest is None:
        return None
    checked_at, build_id, result_json = latest

    def rows(table: str, columns: str) -> list[tuple]:
        if table not in tables:  # recorded by an older gate
            return []
        query = f"select {columns} from meta.{table} where checked_at = ?"
        return con.execute(query, [checked_at]).fetchall()

    months: dict[tuple[str, str], dict[dt.date, str]] = {}
    for mart, version, month, fingerprint in rows(
        "gate_months", "mart, checks_version, month_start, fingerprint"
    ):
        months.setdefault((mart, version), {})[month] = fingerprint
    marts = {
        mart: (fingerprint, version)
        for mart, fingerprint, version in rows("gate_marts", "mart, fingerprint, checks_version")
    }
    checks = tuple(json.loads(result_json or "{}").get("checks") or ())
    return Baseline(build_id, marts, months, checks)


def record_months(
    con: duckdb.DuckDBPyConnection, checked_at: dt.datetime, build_id: str | None, scope
) -> None:
    """Store the scope's month fingerprints (``meta.gate_months``: records.ensure_meta_tables)."""
    if not scope.fingerprints:  # an empty mart (a department without calls): nothing to vouch for
        return
    con.executemany(
        "insert into meta.gate_months values (?, ?, ?, ?, ?, ?)",
        [
            [checked_at, build_id, scope.mart, month, fingerprint, scope.checks_version]
            for month, fingerprint in sorted(scope.fingerprints.items())
        ],
    )


def record_mart(
    con: duckdb.DuckDBPyConnection, checked_at: dt.datetime, build_id: str | None, state
) -> None:
    """Store the mart's whole fingerprint (``meta.gate_marts``: records.ensure_meta_tables)."""
    if state.fingerprint is None:  # rows of no part: nothing to vouch for
        return
    con.execute(
        "insert into meta.gate_marts values (?, ?, ?, ?, ?)",
        [checked_at, build_id, state.mart, state.fingerprint, state.checks_version],
    )
