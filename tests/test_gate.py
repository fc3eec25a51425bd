"""The quality gate on a hand-made department: a valid one passes, each kind of break fails."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from middlestep.contract import SSO_ITEMS
from middlestep.gate import (
    COMMUNICATION_EFFECTS,
    FORCE_EFFECTS,
    GateResult,
    camel_case,
    latest_gate,
    load_expectations,
    record_gate,
    run_gate,
    snake_case,
)

DEPARTMENT = "tiny"
MONTHS = [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)]
OFFICERS = ["o1", "o2", "o3", "o4"]
ARMS = {"o1": "treatment", "o2": "control", "o3": "treatment", "o4": "control"}


def text(values: list) -> pd.Series:
    return pd.Series(values, dtype="string")


def tiny_department() -> dict[str, pd.DataFrame]:
    """The marts and raw batch tables of a small valid department (4 officers, 3 months)."""
    n = len(OFFICERS)
    dim_officers = pd.DataFrame(
        {
            "department_id": text([DEPARTMENT] * n),
            "officer_id": text(OFFICERS),
            "appointed_on": [date(2015, 5, 1)] * n,
            "separated_on": [None, None, None, date(2024, 3, 15)],
            "birth_year": [1985, 1990, 1978, 1995],
            "sex": text(["male", "female", "male", "unknown"]),
            "race": text(["white", "black", "hispanic", "asian"]),
            "rank": text(["officer"] * n),
            "unit": text(["patrol"] * n),
            "trial_id": text(["t1"] * n),
            "block_id": text(["b1", "b1", "b2", "b2"]),
            "arm": text([ARMS[officer] for officer in OFFICERS]),
            "assigned_on": [date(2023, 12, 1)] * n,
            "cohort_on": [date(2024, 2, 1), date(2024, 6, 1)] * 2,
            "cohort_month": [date(2024, 2, 1), date(2024, 6, 1)] * 2,
            "first_trained_on": [date(2024, 2, 3), None, date(2024, 2, 4), None],
            "has_completed_training": [True, False, True, False],
            "training_hours": [16.0, 0.0, 16.0, 0.0],
            "tenure_years_at_assignment": [8.6, 8.6, 8.6, 8.6],
            "age_at_assignment": [38, 33, 45, 28],
        }
    )
    months = pd.DataFrame(
        [
            {
                "department_id": DEPARTMENT,
                "officer_id": officer,
                "month_start": month,
                "period": period,
                "calls_attended": 10 + period,
                "hours_on_scene": 5.5,
                "force_reports": 1 if (officer, period) == ("o2", 2) else 0,
                "force_reports_level_2_plus": 0,
                "complaints": 1 if (officer, period) == ("o3", 3) else 0,
                "sustained_complaints": 0,
                "coded_encounters": 1 if period == 2 else 0,
                "trial_id": "t1",
                "arm": ARMS[officer],
                "block_id": "b1",
                "cohort_month": date(2024, 2, 1),
                "cohort_period": 2,
                "first_trained_month": date(2024, 2, 1) if ARMS[officer] == "treatment" else None,
                "is_cohort_treated": period >= 2 and ARMS[officer] == "treatment",
                "is_trained": period >= 2 and ARMS[officer] == "treatment",
                "is_active": True,
            }
            for officer in OFFICERS
            for period, month in enumerate(MONTHS, start=1)
        ]
    )
    encounters = pd.DataFrame(
        [
            {
                "department_id": DEPARTMENT,
                "video_id": f"v{number}",
                "officer_id": officer,
                "call_id": f"c{number}",
                "call_type": "disturbance",
                "started_at": datetime(2024, 2, 10, 12, 0),
                "encounter_on": date(2024, 2, 10),
                "trial_id": "t1",
                "arm": ARMS[officer],
                "block_id": "b1",
                "study_period": "post",
                "is_post": True,
                "n_codings": 2 if number == 1 else 1,
                "is_double_coded": number == 1,
                "primary_coder_id": "k1",
                **{
                    item: {"binary": number % 2, "count": 3, "rating": 2.5 + number / 4}[kind]
                    for item, kind in SSO_ITEMS.items()
                },
            }
            for number, officer in enumerate(OFFICERS, start=1)
        ]
    )
    force_reports = pd.DataFrame(
        {
            "department_id": text([DEPARTMENT]),
            "report_id": text(["r1"]),
            "officer_id": text(["o2"]),
            "occurred_at": [datetime(2024, 2, 5, 22, 0)],
            "occurred_on": [date(2024, 2, 5)],
            "month_start": [date(2024, 2, 1)],
            "call_id": text(["c9"]),
            "force_type": text(["hands_on"]),
            "force_level": [2],
            "subject_resistance": text(["active"]),
            "is_subject_injured": [False],
            "is_officer_injured": [False],
            "subject_count": [1],
            "arm": text(["control"]),
            "trial_id": text(["t1"]),
        }
    )
    calls = pd.DataFrame(
        {
            "department_id": text([DEPARTMENT] * 3),
            "call_id": text(["c1", "c2", "c3"]),
            "received_at": [datetime(2024, 1, 3, 10, 0)] * 3,
            "received_on": [date(2024, 1, 3)] * 3,
            "arrived_at": [datetime(2024, 1, 3, 10, 10)] * 3,
            "cleared_at": [datetime(2024, 1, 3, 10, 40)] * 3,
            "month_start": [date(2024, 1, 1)] * 3,
            "call_type": text(["disturbance", "traffic", "theft"]),
            "priority": [1, 2, 3],
            "is_self_initiated": [False, True, False],
            "beat": text(["101", "102", "101"]),
            "disposition": text(["report", "warning", "arrest"]),
            "n_officers": [2, 1, 1],
            "minutes_on_scene": [30.0, 30.0, 30.0],
        }
    )
    # c1 attended by o1 (treatment) and o2 (control); c2 by o3, c3 by o4
    call_officers = pd.DataFrame(
        {
            "department_id": text([DEPARTMENT] * 4),
            "call_id": text(["c1", "c1", "c2", "c3"]),
            "officer_id": text(["o1", "o2", "o3", "o4"]),
            "role": text(["primary", "backup", "primary", "primary"]),
            "received_at": [datetime(2024, 1, 3, 10, 0)] * 4,
            "month_start": [date(2024, 1, 1)] * 4,
            "trial_id": text(["t1"] * 4),
            "block_id": text(["b1"] * 4),
            "arm": text([ARMS[officer] for officer in OFFICERS]),
            "study_period": text(["post"] * 4),
            "is_trained": [True, False, True, False],
            "n_officers_on_call": [2, 2, 1, 1],
            "n_other_treatment_arm": [0, 1, 0, 0],
            "n_other_control_arm": [1, 0, 0, 0],
            "n_other_trained": [0, 1, 0, 0],
            "has_other_treatment_arm": [False, True, False, False],
            "has_other_trained": [False, True, False, False],
        }
    )
    reliability = pd.DataFrame(
        {
            "department_id": text([DEPARTMENT] * 3),
            "item": text(["personal_conversation", "commands_issued", "empathy"]),
            "item_kind": text(["binary", "count", "rating"]),
            "n_double_coded": [1, 1, 1],
            "percent_agreement": [100.0, 100.0, 100.0],
            "krippendorff_alpha": [0.9, 0.8, 0.5],  # empathy below 0.667: a warning only
        }
    )
    batches = pd.DataFrame(
        {
            "batch_id": [1, 2, 3],
            "department_id": text([DEPARTMENT] * 3),
            "table_name": text(["officers", "force_reports", "sso_codings"]),
            "source_file": text(["roster.csv", "uof.csv", "sso.csv"]),
            "file_sha256": text(["a" * 64, "b" * 64, "c" * 64]),
            "rows_read": [4, 40, 5],
            "rows_loaded": [4, 39, 5],
            "rows_rejected": [0, 1, 0],
            "loaded_at": [datetime(2024, 4, 1, 3, 0)] * 3,
        }
    )
    rejects = pd.DataFrame(
        {
            "batch_id": [2],
            "department_id": text([DEPARTMENT]),
            "table_name": text(["force_reports"]),
            "source_file": text(["uof.csv"]),
            "line_number": [17],
            "field": text(["force_type"]),
            "value": text(["LASER"]),
            "reason": text(["unknown code"]),
        }
    )

    def raw_rows(n: int, batch_id: int) -> pd.DataFrame:
        return pd.DataFrame({"department_id": text([DEPARTMENT] * n), "_batch_id": [batch_id] * n})

    return {
        "marts.dim_officers": dim_officers,
        "marts.fct_officer_months": months,
        "marts.fct_encounters": encounters,
        "marts.fct_force_reports": force_reports,
        "marts.fct_calls": calls,
        "marts.fct_call_officers": call_officers,
        "marts.rpt_sso_reliability": reliability,
        "raw._batches": batches,
        "raw._rejects": rejects,
        "raw.officers": raw_rows(4, batch_id=1),
        "raw.force_reports": raw_rows(39, batch_id=2),
        "raw.sso_codings": raw_rows(5, batch_id=3),
    }


def write_warehouse(path: Path, tables: dict[str, pd.DataFrame]) -> Path:
    con = duckdb.connect(str(path))
    try:
        for name, frame in tables.items():
            schema = name.split(".")[0]
            con.execute(f"create schema if not exists {schema}")
            con.register("frame", frame)
            con.execute(f"create table {name} as select * from frame")
            con.unregister("frame")
    finally:
        con.close()
    return path


def gate_of(directory: Path, tables: dict[str, pd.DataFrame], **kwargs) -> GateResult:
    return run_gate(write_warehouse(directory / "warehouse.duckdb", tables), **kwargs)


# Great Expectations takes seconds per checkpoint, so each department is checked once per module
# and the tests below read the same result.


def with_officer_outside_trials(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Add o5, on the roster but in no trial, whose roster says they left before joining."""
    officers = tables["marts.dim_officers"]
    extended = officers.reindex(range(len(officers) + 1))  # a new row, all missing
    o5 = len(officers)
    for column in ("department_id", "birth_year", "sex", "race", "rank", "unit", "training_hours"):
        extended.loc[o5, column] = officers.loc[0, column]
    extended.loc[o5, "officer_id"] = "o5"
    extended.loc[o5, "has_completed_training"] = False
    extended.loc[o5, "appointed_on"] = date(2020, 1, 1)
    extended.loc[o5, "separated_on"] = date(2019, 6, 30)
    tables["marts.dim_officers"] = extended
    return tables


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> tuple[Path, GateResult]:
    tables = with_officer_outside_trials(tiny_department())
    tables["meta.builds"] = pd.DataFrame(
        {
            "build_id": text(["b-old", "b-new"]),
            "plan_id": text(["p1", "p2"]),
            "built_at": [datetime(2024, 4, 1, 3, 0), datetime(2024, 4, 2, 3, 0)],
            "model_versions_json": text(["{}", "{}"]),
            "batches_json": text(["[]", "[]"]),
        }
    )
    warehouse = write_warehouse(tmp_path_factory.mktemp("valid") / "warehouse.duckdb", tables)
    return warehouse, run_gate(warehouse)


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> GateResult:
    """One department with one break per mart (and batch), each independent of the others."""
    tables = tiny_department()
    months = tables["marts.fct_officer_months"]
    tables["marts.fct_officer_months"] = pd.concat([months, months.iloc[[4]]])  # duplicate grain
    tables["marts.fct_calls"].loc[1, "call_id"] = None  # null key
    tables["marts.fct_encounters"].loc[2, "empathy"] = 7.0  # rating out of 1..5
    tables["marts.dim_officers"].loc[1, "arm"] = "foo"  # unknown arm code
    tables["marts.dim_officers"].loc[3, "arm"] = "treatment"  # 3 of 4 treated: unbalanced
    tables["marts.dim_officers"].loc[0, "separated_on"] = date(2010, 1, 1)  # before appointment
    tables["raw._batches"].loc[0, "rows_read"] = 5  # read != loaded + rejected
    orphan = tables["raw.sso_codings"].iloc[[0]].assign(_batch_id=99)  # a row of no batch
    tables["raw.sso_codings"] = pd.concat([tables["raw.sso_codings"], orphan])
    tables["raw.force_reports"] = tables["raw.force_reports"].iloc[:30]  # 39 loaded, 30 held
    return gate_of(tmp_path_factory.mktemp("broken"), tables, max_reject_share=0.01)


def test_expectation_files_cover_every_mart_and_name_known_classes():
    import great_expectations.expectations as gxe

    specs = load_expectations()
    assert set(specs) == {
        "dim_officers",
        "fct_officer_months",
        "fct_encounters",
        "fct_force_reports",
        "fct_calls",
        "fct_call_officers",
        "rpt_sso_reliability",
    }
    for mart_specs in specs.values():
        for spec in mart_specs:
            assert hasattr(gxe, camel_case(spec.expectation)), spec.expectation
            assert spec.why, f"{spec.mart}: {spec.expectation} has no meta.why"
    assert snake_case("ExpectColumnValuesToBeInSet") == "expect_column_values_to_be_in_set"


def test_valid_department_passes_with_warnings_for_rejects_and_low_alpha(valid):
    _, result = valid

    assert result.passed, result.failures()
    assert result.n_failed == 0 and result.failures() == ""
    assert result.n_expectations > 80
    warnings = result.warnings()
    assert "rpt_sso_reliability, column krippendorff_alpha" in warnings
    assert "1 of 40 rows of force_reports rejected (2.5%)" in warnings
    # a roster error of an officer in no trial is reported, and does not stop the analysis
    assert (
        "dim_officers.officers_outside_trials, column separated_on, appointed_on: "
        "expect_column_pair_values_a_to_be_greater_than_b"
    ) in warnings
    assert result.supports(COMMUNICATION_EFFECTS, DEPARTMENT)
    assert result.supports(FORCE_EFFECTS, DEPARTMENT)
    assert result.rejects_frame().to_dict("records") == [
        {
            "department_id": DEPARTMENT,
            "table": "force_reports",
            "file": "uof.csv",
            "reason": "unknown code",
            "rows": 1,
        }
    ]


def test_broken_department_fails_once_per_break(broken):
    assert not broken.passed
    assert sorted((check.mart, check.expectation) for check in broken.failed_checks) == [
        ("dim_officers", "expect_column_values_to_be_in_set"),
        ("dim_officers.arm_balance", "expect_column_values_to_be_between"),
        ("dim_officers.trial_officers", "expect_column_pair_values_a_to_be_greater_than_b"),
        ("fct_calls", "expect_column_values_to_not_be_null"),
        ("fct_encounters", "expect_column_values_to_be_between"),
        ("fct_officer_months", "expect_compound_columns_to_be_unique"),
        ("raw._batches", "batch_rows_add_up"),
        ("raw._batches", "batch_rows_loaded_are_in_raw"),
        ("raw._rejects", "reject_share_at_most"),
        ("raw.sso_codings", "rows_belong_to_a_batch"),
    ]


def test_separation_before_appointment_of_a_trial_officer_fails(broken):
    (failure,) = [c for c in broken.failed_checks if c.mart == "dim_officers.trial_officers"]
    assert (failure.column, failure.unexpected_count) == ("separated_on, appointed_on", 1)


def test_duplicate_grain_row_fails_naming_mart_columns_and_expectation(broken):
    assert (
        "fct_officer_months, column department_id, officer_id, month_start: "
        "expect_compound_columns_to_be_unique(column_list=[department_id, officer_id, "
        "month_start]) failed: 2 of 13 rows unexpected"
    ) in broken.failures()


def test_null_key_fails(broken):
    assert (
        "fct_calls, column call_id: expect_column_values_to_not_be_null(column=call_id) failed: "
        "1 of 3 rows unexpected"
    ) in broken.failures()


def test_out_of_range_rating_fails_with_the_value_observed(broken):
    (failure,) = [check for check in broken.failed_checks if check.mart == "fct_encounters"]
    assert (failure.column, failure.unexpected_count, failure.unexpected_sample) == (
        "empathy",
        1,
        (7.0,),
    )
    assert (
        "fct_encounters, column empathy: expect_column_values_to_be_between(column=empathy, "
        "min_value=1, max_value=5) failed: 1 of 4 rows unexpected, e.g. 7"
    ) in broken.failures()


def test_unknown_arm_code_fails(broken):
    failures = broken.failures()
    assert "dim_officers, column arm: expect_column_values_to_be_in_set(column=arm" in failures
    assert "1 of 4 rows unexpected, e.g. 'foo'" in failures


def test_batch_that_does_not_add_up_fails(broken):
    assert (
        "raw._batches, column rows_read: batch_rows_add_up(rule=rows_read = rows_loaded + "
        "rows_rejected) failed: batch 1 (officers, roster.csv): read 5 but loaded 4 + rejected "
        "0 = 4"
    ) in broken.failures()


def test_raw_rows_of_an_unknown_batch_fail(broken):
    assert (
        "raw.sso_codings, column _batch_id: rows_belong_to_a_batch() failed: 1 rows of batches "
        "not in raw._batches (_batch_id 99)"
    ) in broken.failures()


def test_batch_whose_loaded_rows_are_not_in_raw_fails(broken):
    assert (
        "raw._batches, column rows_loaded: batch_rows_loaded_are_in_raw() failed: batch 2 "
        "(force_reports, uof.csv) says 39 rows loaded, raw.force_reports holds 30"
    ) in broken.failures()


def test_reject_share_above_the_maximum_fails(broken):
    assert (
        "raw._rejects, column tiny/force_reports: reject_share_at_most(max_share=0.01) failed: "
        "1 of 40 rows of force_reports rejected (2.5%)"
    ) in broken.failures()


def test_unbalanced_arms_fail_on_the_derived_share(broken):
    assert (
        "dim_officers.arm_balance, column share_treatment: expect_column_values_to_be_between("
        "column=share_treatment, min_value=0.4, max_value=0.6) failed: 1 of 1 rows unexpected, "
        "e.g. 0.75"
    ) in broken.failures()


def test_department_without_sso_passes_but_does_not_support_communication_effects(tmp_path):
    tables = tiny_department()
    for name in ("marts.fct_encounters", "marts.rpt_sso_reliability", "raw.sso_codings"):
        tables[name] = tables[name].iloc[0:0]
    batches = tables["raw._batches"]
    tables["raw._batches"] = batches[batches["table_name"] != "sso_codings"]

    result = gate_of(tmp_path, tables)

    assert result.passed, result.failures()
    assert not result.supports(COMMUNICATION_EFFECTS, DEPARTMENT)
    texts = [support.describe() for support in result.analyses]
    assert "communication effects: not supported (no coded encounters)" in texts
    skipped = [check for check in result.checks if check.skipped]
    assert [(check.mart, check.expectation) for check in skipped] == [
        ("fct_encounters", "expect_table_row_count_to_be_between")
    ]


def test_record_gate_and_latest_gate_round_trip_with_the_latest_build(valid, tmp_path):
    warehouse, result = valid
    assert latest_gate(warehouse) is None
    assert latest_gate(tmp_path / "no-such-warehouse.duckdb") is None

    record_gate(warehouse, result)
    recorded = latest_gate(warehouse)

    assert result.build_id == "b-new"
    assert recorded["build_id"] == "b-new"
    assert recorded["passed"] is True
    assert recorded["n_failed"] == 0
    assert recorded["n_expectations"] == result.n_expectations
    assert datetime.fromisoformat(recorded["checked_at"]) == result.checked_at
    assert any("krippendorff_alpha" in line for line in recorded["warnings"])
    assert latest_gate(warehouse, build_id="b-old") is None
    con = duckdb.connect(str(warehouse), read_only=True)
    columns = con.execute("describe meta.gate_results").fetchall()
    con.close()
    assert [column[0] for column in columns] == [
        "build_id",
        "checked_at",
        "passed",
        "n_expectations",
        "n_failed",
        "result_json",
    ]
