"""The gate validates only what changed since the last passed gate: an unchanged mart keeps its
verdicts, a monthly mart is validated in its changed months (middlestep/gate/months.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from middlestep.gate import (
    EXPECTATIONS_DIR,
    MARTS,
    GateResult,
    load_expectations,
    record_gate,
    run_gate,
)
from middlestep.gate.months import MONTHLY_MARTS, WHOLE_TABLE
from middlestep.warehouse import PROJECT_ROOT
from tests.test_gate import tiny_department, write_warehouse


def calls_in_two_months(tables):
    """The tiny department's calls, c3 moved to February."""
    calls = tables["marts.fct_calls"]
    calls.loc[2, "received_at"] = datetime(2024, 2, 5, 9, 0)
    calls.loc[2, "received_on"] = date(2024, 2, 5)
    calls.loc[2, "month_start"] = date(2024, 2, 1)
    return tables


def gate_and_record(warehouse: Path, **kwargs):
    result = run_gate(warehouse, **kwargs)
    record_gate(warehouse, result)
    return result


def execute(warehouse: Path, sql: str) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(sql)


def checks_of(result, mart: str):
    """The checks of a mart and of the frames derived from it."""
    return [check for check in result.checks if check.mart.split(".")[0] == mart]


def scope_of(result, mart: str):
    (scope,) = [scope for scope in result.month_scopes if scope.mart == mart]
    return scope


def carried_marts(result) -> set[str]:
    return {state.mart for state in result.mart_states if state.carried_from}


@pytest.fixture(scope="module")
def first_gate(tmp_path_factory) -> tuple[Path, GateResult]:
    """The tiny department (calls in two months) and its first gate, build b1, recorded."""
    tables = calls_in_two_months(tiny_department())
    warehouse = write_warehouse(tmp_path_factory.mktemp("first") / "w.duckdb", tables)
    return warehouse, gate_and_record(warehouse, build_id="b1")


@pytest.fixture()
def warehouse(first_gate, tmp_path) -> Path:
    """A copy of the first gate's warehouse: the last passed gate is b1's."""
    return Path(shutil.copy(first_gate[0], tmp_path / "w.duckdb"))


def test_first_gate_validates_all_months_then_only_a_changed_one(first_gate, warehouse):
    first = first_gate[1]
    scope = scope_of(first, "fct_calls")
    assert first.passed and scope.is_full and len(scope.fingerprints) == 2
    assert all(check.scope is None for check in checks_of(first, "fct_calls"))

    unchanged = gate_and_record(warehouse, build_id="b2")
    assert unchanged.passed and scope_of(unchanged, "fct_calls").validated == ()
    assert scope_of(unchanged, "fct_calls").carried_from == "b1"
    assert carried_marts(unchanged) == set(MARTS)  # no expectation ran

    execute(warehouse, "update marts.fct_calls set priority = 4 where call_id = 'c3'")
    changed = gate_and_record(warehouse, build_id="b3")
    scope = scope_of(changed, "fct_calls")
    assert changed.passed and scope.validated == (date(2024, 2, 1),)
    assert scope.carried_from == "b2" and carried_marts(changed) == set(MARTS) - {"fct_calls"}
    assert "1 changed months (2024-02); 1 months unchanged" in changed.summary()
    assert {check.scope for check in checks_of(changed, "fct_calls")} == {"1 changed months"}
    assert max(check.element_count or 0 for check in checks_of(changed, "fct_calls")) == 1


def test_a_break_in_a_changed_month_fails_and_later_gates_compare_with_the_last_pass(warehouse):
    execute(warehouse, "update marts.fct_calls set priority = 12 where call_id = 'c3'")
    failed = gate_and_record(warehouse, build_id="b2")
    assert not failed.passed
    assert any(
        "fct_calls, column priority (1 changed months)" in line
        for line in failed.failures().splitlines()
    )

    # still failing the next night: compared with b1, February is still changed
    again = gate_and_record(warehouse, build_id="b3")
    assert not again.passed and scope_of(again, "fct_calls").carried_from == "b1"

    execute(warehouse, "update marts.fct_calls set priority = 3 where call_id = 'c3'")
    fixed = gate_and_record(warehouse, build_id="b4")
    assert fixed.passed and scope_of(fixed, "fct_calls").carried_from == "b1"
    assert "fct_calls" in carried_marts(fixed)  # the same rows as b1's: b1's verdicts


def test_a_new_month_and_a_row_without_month_are_validated(warehouse):
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
    assert scope_of(result, "fct_calls").validated == (date(2024, 3, 1),)
    assert not result.passed  # the null month of c5 is caught although no month holds it
    assert any("month_start" in line for line in result.failures().splitlines())


def gate_in_a_new_process(warehouse: Path, build_id: str) -> tuple[bool, dict]:
    """(whether Great Expectations was imported, the recorded result) of a gate run and recorded
    by a Python process of its own."""
    code = (
        "import json, sys\n"
        "from middlestep.gate import record_gate, run_gate\n"
        f"warehouse = {str(warehouse)!r}\n"
        f"result = run_gate(warehouse, build_id={build_id!r})\n"
        "record_gate(warehouse, result)\n"
        "print(json.dumps(['great_expectations' in sys.modules, result.to_dict()]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    imported, result = json.loads(done.stdout.splitlines()[-1])
    return imported, result


def test_unchanged_marts_keep_their_verdicts_without_great_expectations(first_gate, warehouse):
    first = first_gate[1]
    assert first.passed and first.n_carried == 0 and not carried_marts(first)

    imported, second = gate_in_a_new_process(warehouse, "b2")
    assert not imported
    assert second["passed"] and second["n_expectations"] == first.n_expectations
    assert {row["mart"] for row in second["marts"] if row["carried_from_build"]} == set(MARTS)
    expectations = [check for check in second["checks"] if not check["mart"].startswith("raw.")]
    assert second["n_carried"] == len(expectations) > 80
    assert {check["carried_from_build"] for check in expectations} == {"b1"}
    # a warning is a verdict too: it is kept, saying where it comes from
    assert any(
        "rpt_sso_reliability, column krippendorff_alpha (unchanged since the passed gate of "
        "build b1)" in line
        for line in second["warnings"]
    )

    third = gate_and_record(warehouse, build_id="b3")
    assert third.passed and carried_marts(third) == set(MARTS)
    assert {check.carried_from for check in third.checks if check.carried_from} == {"b2"}
    assert "dim_officers: unchanged since the passed gate of build b2" in third.summary()
    assert f"{third.n_expectations} checks ({third.n_carried} carried over)" in third.summary()


def test_a_changed_mart_is_validated_and_a_break_fails_until_fixed(warehouse):
    execute(warehouse, "update marts.dim_officers set unit = 'traffic' where officer_id = 'o1'")
    changed = gate_and_record(warehouse, build_id="b2")
    assert changed.passed and carried_marts(changed) == set(MARTS) - {"dim_officers"}
    assert all(check.carried_from is None for check in checks_of(changed, "dim_officers"))
    assert "dim_officers: all rows validated" in changed.summary()

    execute(warehouse, "update marts.rpt_sso_reliability set percent_agreement = 150")
    broken = gate_and_record(warehouse, build_id="b3")
    assert not broken.passed
    assert [check.mart for check in broken.failed_checks] == ["rpt_sso_reliability"]

    # the failed gate is no baseline: compared with b2, the mart is still changed
    again = gate_and_record(warehouse, build_id="b4")
    assert not again.passed and "rpt_sso_reliability" not in carried_marts(again)
    assert carried_marts(again) == set(MARTS) - {"rpt_sso_reliability"}
    assert {state.carried_from for state in again.mart_states} == {"b2", None}

    execute(warehouse, "update marts.rpt_sso_reliability set percent_agreement = 100")
    fixed = gate_and_record(warehouse, build_id="b5")
    assert fixed.passed and carried_marts(fixed) == set(MARTS)


def test_changed_expectations_or_condition_revalidate_their_mart(warehouse, tmp_path):
    expectations = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS_DIR, expectations)
    officers = expectations / "dim_officers.yaml"
    officers.write_text(officers.read_text() + "\n# a comment changes the checks' version\n")
    result = run_gate(warehouse, expectations_dir=expectations)
    assert carried_marts(result) == set(MARTS) - {"dim_officers"}

    # no SSO codings delivered any more: the encounters' row count is no longer checked, so the
    # verdicts of b1 (which checked it) are not the verdicts of today's expectations
    execute(warehouse, "delete from raw.sso_codings")
    execute(
        warehouse,
        "update raw._batches set rows_read = 0, rows_loaded = 0 where table_name = 'sso_codings'",
    )
    without_sso = gate_and_record(warehouse, build_id="b2")
    assert without_sso.passed, without_sso.failures()
    assert carried_marts(without_sso) == set(MARTS) - {"fct_encounters"}
    encounters = checks_of(without_sso, "fct_encounters")
    assert [check.expectation for check in encounters if check.skipped] == [
        "expect_table_row_count_to_be_between"
    ]
    assert all(check.carried_from is None for check in encounters)

    again = gate_and_record(warehouse, build_id="b3")
    assert carried_marts(again) == set(MARTS)
    assert [check.expectation for check in checks_of(again, "fct_encounters") if check.skipped] == [
        "expect_table_row_count_to_be_between"
    ]


def test_full_gate_validates_every_mart_and_month(warehouse):
    result = run_gate(warehouse, full=True)
    assert result.passed and result.n_carried == 0 and not carried_marts(result)
    assert all(scope.is_full for scope in result.month_scopes)


def test_officer_months_are_validated_by_month_and_counted_whole(warehouse):
    execute(
        warehouse,
        "update marts.fct_officer_months set hours_on_scene = 7.5 "
        "where officer_id = 'o1' and month_start = date '2024-02-01'",
    )
    changed = gate_and_record(warehouse, build_id="b2")
    months = scope_of(changed, "fct_officer_months")
    assert changed.passed and months.validated == (date(2024, 2, 1),)
    assert carried_marts(changed) == set(MARTS) - {"fct_officer_months"}
    assert "fct_officer_months: 1 changed months (2024-02); 2 months unchanged" in (
        changed.summary()
    )
    checks = checks_of(changed, "fct_officer_months")
    (row_count,) = [c for c in checks if c.expectation == "expect_table_row_count_to_be_between"]
    assert (row_count.success, row_count.observed, row_count.scope) == (True, 12, "whole mart")
    assert max(check.element_count or 0 for check in checks) == 4  # the 4 officers of February

    # a duplicate officer-month in the changed month breaks the grain
    execute(
        warehouse,
        "insert into marts.fct_officer_months select * from marts.fct_officer_months "
        "where officer_id = 'o2' and month_start = date '2024-02-01'",
    )
    duplicated = gate_and_record(warehouse, build_id="b3")
    assert [(c.mart, c.expectation, c.scope) for c in duplicated.failed_checks] == [
        ("fct_officer_months", "expect_compound_columns_to_be_unique", "1 changed months")
    ]

    # no month changed, but the mart lost every row: the row count is of the whole mart
    execute(warehouse, "delete from marts.fct_officer_months")
    emptied = gate_and_record(warehouse, build_id="b4")
    assert scope_of(emptied, "fct_officer_months").validated == ()
    assert [(c.expectation, c.observed) for c in emptied.failed_checks] == [
        ("expect_table_row_count_to_be_between", 0)
    ]


def test_force_reports_are_validated_whole(warehouse):
    execute(warehouse, "update marts.fct_force_reports set force_level = 1")
    result = gate_and_record(warehouse, build_id="b2")
    assert result.passed and carried_marts(result) == set(MARTS) - {"fct_force_reports"}
    assert "fct_force_reports" not in {scope.mart for scope in result.month_scopes}
    assert all(c.scope is None for c in checks_of(result, "fct_force_reports"))


# Expectations decided row by row, or on the columns: any subset of the rows decides them.
ROW_LEVEL = {
    "expect_table_columns_to_match_set",
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_pair_values_a_to_be_greater_than_b",
}


def test_every_expectation_of_a_monthly_mart_is_decidable_per_month():
    """Row-level checks are; the grain's uniqueness when the grain holds the month, or (fct_calls)
    because a call's latest version lies in one month, and so (fct_call_officers, which takes
    the call's month from fct_calls) every officer row of a call; the row count is of the whole
    mart. A mart with any other expectation must not be monthly (gate/months.py
    MONTHLY_MARTS)."""
    specs = load_expectations()
    for mart, month in MONTHLY_MARTS.items():
        for spec in specs[mart]:
            assert spec.frame is None and spec.only_if is None, spec
            if spec.expectation == "expect_compound_columns_to_be_unique":
                by_call = mart in ("fct_calls", "fct_call_officers")
                assert month in spec.kwargs["column_list"] or by_call, spec
            elif spec.expectation in WHOLE_TABLE:
                assert set(spec.kwargs) <= {"min_value", "max_value"}, spec
            else:
                assert spec.expectation in ROW_LEVEL, spec
