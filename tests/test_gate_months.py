"""The gate validates fct_calls in the months changed since the last passed gate."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from middlestep.gate import EXPECTATIONS_DIR, record_gate, run_gate
from tests.test_gate import tiny_department, write_warehouse


def calls_in_two_months(tables):
    """The tiny department's calls, c3 moved to February."""
    calls = tables["marts.fct_calls"]
    calls.loc[2, "received_at"] = datetime(2024, 2, 5, 9, 0)
    calls.loc[2, "month_start"] = date(2024, 2, 1)
    return tables


def gate_and_record(warehouse: Path, **kwargs):
    result = run_gate(warehouse, **kwargs)
    record_gate(warehouse, result)
    return result


def execute(warehouse: Path, sql: str) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(sql)


def calls_checks(result):
    return [check for check in result.checks if check.mart == "fct_calls"]


@pytest.fixture()
def warehouse(tmp_path) -> Path:
    return write_warehouse(tmp_path / "w.duckdb", calls_in_two_months(tiny_department()))


def test_first_gate_validates_all_months_then_only_a_changed_one(warehouse):
    first = gate_and_record(warehouse, build_id="b1")
    (scope,) = first.month_scopes
    assert first.passed and scope.is_full and len(scope.fingerprints) == 2
    assert all(check.scope is None for check in calls_checks(first))

    unchanged = gate_and_record(warehouse, build_id="b2")
    assert unchanged.passed and unchanged.month_scopes[0].validated == ()
    assert unchanged.month_scopes[0].carried_from == "b1"

    execute(warehouse, "update marts.fct_calls set priority = 4 where call_id = 'c3'")
    changed = gate_and_record(warehouse, build_id="b3")
    (scope,) = changed.month_scopes
    assert changed.passed and scope.validated == (date(2024, 2, 1),)
    assert scope.carried_from == "b2"
    assert "1 changed months (2024-02); 1 months unchanged" in changed.summary()
    assert {check.scope for check in calls_checks(changed)} == {"1 changed months"}
    assert max(check.element_count or 0 for check in calls_checks(changed)) == 1  # c3 only


def test_a_break_in_a_changed_month_fails_and_later_gates_compare_with_the_last_pass(warehouse):
    gate_and_record(warehouse, build_id="b1")
    execute(warehouse, "update marts.fct_calls set priority = 12 where call_id = 'c3'")
    failed = gate_and_record(warehouse, build_id="b2")
    assert not failed.passed
    assert any(
        "fct_calls, column priority (1 changed months)" in line
        for line in failed.failures().splitlines()
    )

    # still failing the next night: compared with b1, February is still changed
    again = gate_and_record(warehouse, build_id="b3")
    assert not again.passed and again.month_scopes[0].carried_from == "b1"

    execute(warehouse, "update marts.fct_calls set priority = 3 where call_id = 'c3'")
    fixed = gate_and_record(warehouse, build_id="b4")
    assert fixed.passed and fixed.month_scopes[0].carried_from == "b1"


def test_a_new_month_and_a_row_without_month_are_validated(warehouse):
    gate_and_record(warehouse, build_id="b1")
    execute(
        warehouse,
        "insert into marts.fct_calls select * replace ('c4' as call_id, date '2024-03-01' as "
        "month_start) from marts.fct_calls where call_id = 'c1'",
    )
    execute(
        warehouse,
        "insert into marts.fct_calls select * replace ('c5' as call_id, null as month_start) "
        "from marts.fct_calls where call_id = 'c1'",
    )
    result = gate_and_record(warehouse, build_id="b2")
    assert result.month_scopes[0].validated == (date(2024, 3, 1),)
    assert not result.passed  # the null month of c5 is caught although no month holds it
    assert any("month_start" in line for line in result.failures().splitlines())


def test_full_gate_and_changed_expectations_validate_every_month(warehouse, tmp_path):
    gate_and_record(warehouse, build_id="b1")
    assert run_gate(warehouse, full=True).month_scopes[0].is_full

    expectations = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS_DIR, expectations)
    calls = expectations / "fct_calls.yaml"
    calls.write_text(calls.read_text() + "\n# a comment changes the checks' version\n")
    assert run_gate(warehouse, expectations_dir=expectations).month_scopes[0].is_full
