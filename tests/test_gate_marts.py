"""Every mart of the warehouse is gated: a mart an analyst adds is validated by the expectations
file added beside its model, a mart without one is a warning naming it, and the run's Great
Expectations Data Docs are written where the caller asks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from test_gate import text, tiny_department, write_warehouse

from middlestep.gate import EXPECTATIONS_DIR, MARTS, GateResult, run_gate
from middlestep.warehouse import PROJECT_ROOT

SHIFTS_YAML = """
- expectation: expect_column_values_to_be_between
  kwargs: {column: hours, min_value: 0, max_value: 16}
  meta:
    why: a shift longer than 16 hours is a data-entry error
"""


def with_analyst_marts(tables: dict[str, pd.DataFrame], longest_shift: float):
    """Two marts an analyst added: fct_shifts (with expectations), rpt_unit_load (without)."""
    tables["marts.fct_shifts"] = pd.DataFrame(
        {"officer_id": text(["o1", "o2", "o3"]), "hours": [8.0, 10.0, longest_shift]}
    )
    tables["marts.rpt_unit_load"] = pd.DataFrame({"unit": text(["patrol"]), "calls": [12]})
    return tables


def gate(directory: Path, longest_shift: float) -> GateResult:
    expectations = directory / "expectations"
    shutil.copytree(EXPECTATIONS_DIR, expectations)
    (expectations / "fct_shifts.yaml").write_text(SHIFTS_YAML)
    tables = with_analyst_marts(tiny_department(), longest_shift)
    warehouse = write_warehouse(directory / "warehouse.duckdb", tables)
    return run_gate(warehouse, expectations_dir=expectations, data_docs_dir=directory / "data_docs")


@pytest.fixture(scope="module")
def failing(tmp_path_factory) -> tuple[Path, GateResult]:
    directory = tmp_path_factory.mktemp("analyst-marts")
    return directory, gate(directory, longest_shift=30.0)


def test_the_expectations_live_beside_the_models(tmp_path):
    assert EXPECTATIONS_DIR == PROJECT_ROOT / "expectations"
    assert (PROJECT_ROOT / "models" / "marts").is_dir()
    assert {path.stem for path in EXPECTATIONS_DIR.glob("*.yaml")} == set(MARTS)
    # the installed package finds them from anywhere, not from the working directory
    found = subprocess.run(
        [sys.executable, "-c", "from middlestep.gate import EXPECTATIONS_DIR as d; print(d)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(found) == EXPECTATIONS_DIR


def test_a_failing_expectation_of_an_added_mart_fails_the_gate(failing):
    _, result = failing
    assert not result.passed
    assert [check.mart for check in result.failed_checks] == ["fct_shifts"]
    assert (
        "fct_shifts, column hours: expect_column_values_to_be_between(column=hours, min_value=0, "
        "max_value=16) failed: 1 of 3 rows unexpected, e.g. 30"
    ) in result.failures()


def test_the_added_mart_passes_when_its_rows_meet_its_expectations(tmp_path):
    result = gate(tmp_path, longest_shift=12.0)
    assert result.passed, result.failures()
    shifts = [check for check in result.checks if check.mart == "fct_shifts"]
    assert [(check.expectation, check.success) for check in shifts] == [
        ("expect_column_values_to_be_between", True)
    ]


def test_a_mart_without_expectations_is_a_warning_naming_it(failing):
    _, result = failing
    named = [check for check in result.warning_checks if check.mart == "rpt_unit_load"]
    assert len(named) == 1 and not named[0].is_failure
    assert (
        "rpt_unit_load: mart_has_expectations() gave a warning (the gate does not fail on it): "
        "marts.rpt_unit_load has no expectations: it is not gated until "
        "expectations/rpt_unit_load.yaml lists them"
    ) in result.warnings()
    # the marts that have expectations are not named
    assert "fct_shifts has no expectations" not in result.warnings()


def test_warnings_are_not_worded_as_failures(failing):
    _, result = failing
    warnings = result.warnings().splitlines()
    assert warnings and not any(" failed" in line for line in warnings)
    rejects = next(line for line in warnings if "reject_share_at_most" in line)
    assert rejects.endswith(
        "gave a warning (the gate does not fail on it): 1 of 40 rows of force_reports rejected "
        "(2.5%), within the limit of 5% (why it matters: rejected rows are missing from every "
        "estimate; see the rejects table)"
    )
    assert "warnings (warnings do not fail the gate)" in result.summary()


def test_data_docs_are_written_and_named_in_the_summary(failing):
    directory, result = failing
    index = directory / "data_docs" / "index.html"
    assert result.data_docs == index and index.is_file()
    assert "fct_shifts" in index.read_text()
    assert f"Data Docs (Great Expectations): {index}" in result.summary()
    assert result.to_dict()["data_docs"] == str(index)
