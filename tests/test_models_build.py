"""Build the SQLMesh project into a fresh warehouse holding one tiny hand-made department, and
check the marts' values (the spine, its zeros, consensus codes, cohort flags, reliability).

A second department carries only random double-coded videos, to check the SQL Krippendorff's
alpha of rpt_sso_reliability against the `krippendorff` package. One build serves every test.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import krippendorff
import numpy as np
import pytest

from middlestep.build import build, run
from middlestep.contract import RAW_TABLES, SSO_ITEMS, columns_with_types

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEPARTMENTS_COLUMNS = "department_id TEXT, description TEXT, timezone TEXT, "
DEPARTMENTS_COLUMNS += "study_start_on DATE, study_end_on DATE"


def create_raw_tables(connection: duckdb.DuckDBPyConnection) -> None:
    try:
        from middlestep.warehouse import init_warehouse
    except ImportError:  # the warehouse module is not there yet: the same tables, locally
        connection.execute("create schema if not exists raw")
        for table in RAW_TABLES.values():
            columns = ", ".join(f"{c} {t}" for c, t in columns_with_types(table).items())
            connection.execute(f"create table raw.{table.name} ({columns})")
        connection.execute(f"create table raw.departments ({DEPARTMENTS_COLUMNS})")
    else:
        init_warehouse(connection)


def insert(connection, table: str, batch_id: int, rows: list[dict]) -> None:
    columns = list(columns_with_types(RAW_TABLES[table]))
    for line, row in enumerate(rows, start=2):
        values = {"_batch_id": batch_id, "_source_line": line, **row}
        connection.execute(
            f"insert into raw.{table} ({', '.join(values)}) values "
            f"({', '.join('?' for _ in values)})",
            list(values.values()),
        )
    assert all(column in columns for row in rows for column in row)


def items(**values) -> dict:
    """A coding's items: 0 for binary and count items, 3 for ratings, unless given."""
    default = {"binary": 0, "count": 0, "rating": 3}
    return {item: values.get(item, default[kind]) for item, kind in SSO_ITEMS.items()}


def load_hand_made_department(connection) -> None:
    connection.execute(
        "insert into raw.departments values ('d', 'tiny', 'UTC', '2024-01-01', '2024-06-30')"
    )
    dept = {"department_id": "d"}
    insert(
        connection,
        "officers",
        1,
        [
            {
                **dept,
                "officer_id": "o1",
                "appointed_on": "2020-01-01",
                "birth_year": 1990,
                "sex": "female",
                "race": "white",
            },
            {**dept, "officer_id": "o2", "appointed_on": "2024-03-15", "birth_year": 1998},
            {
                **dept,
                "officer_id": "o3",
                "appointed_on": "2015-05-01",
                "separated_on": "2024-04-10",
            },
            {**dept, "officer_id": "o4", "appointed_on": "2010-01-01"},
        ],
    )
    assignment = {**dept, "trial_id": "t1", "assigned_on": "2023-12-01"}
    insert(
        connection,
        "trial_assignments",
        1,
        [
            {
                **assignment,
                "officer_id": "o1",
                "block_id": "b1",
                "arm": "treatment",
                "cohort_on": "2024-03-01",
            },
            {
                **assignment,
                "officer_id": "o2",
                "block_id": "b1",
                "arm": "control",
                "cohort_on": "2024-05-10",
            },
            {
                **assignment,
                "officer_id": "o3",
                "block_id": "b2",
                "arm": "treatment",
                "cohort_on": "2024-03-20",
            },
        ],
    )
    # a later batch reschedules o1's training: staging keeps it
    insert(
        connection,
        "trial_assignments",
        2,
        [
            {
                **assignment,
                "officer_id": "o1",
                "block_id": "b1",
                "arm": "treatment",
                "cohort_on": "2024-03-05",
            },
        ],
    )
    insert(
        connection,
        "training_events",
        1,
        [
            {
                **dept,
                "officer_id": "o1",
                "session_id": "s1",
                "attended_on": "2024-03-05",
                "is_completed": True,
                "hours": 8.0,
            },
            {
                **dept,
                "officer_id": "o1",
                "session_id": "s2",
                "attended_on": "2024-03-06",
                "is_completed": False,
                "hours": 4.0,
            },
            {
                **dept,
                "officer_id": "o2",
                "session_id": "s1",
                "attended_on": "2024-05-10",
                "is_completed": True,
                "hours": 8.0,
            },
        ],
    )
    insert(
        connection,
        "calls",
        1,
        [
            {
                **dept,
                "call_id": "c1",
                "received_at": "2024-01-10 10:00",
                "arrived_at": "2024-01-10 10:10",
                "cleared_at": "2024-01-10 10:40",
                "call_type": "Domestic_Disturbance",
            },
            {**dept, "call_id": "c2", "received_at": "2024-02-05 08:00", "call_type": "noise"},
            {
                **dept,
                "call_id": "c3",
                "received_at": "2024-03-31 23:30",
                "call_type": "ufo sighting",
            },
        ],
    )
    insert(
        connection,
        "call_officers",
        1,
        [
            {**dept, "call_id": "c1", "officer_id": "o1", "role": "primary"},
            {**dept, "call_id": "c1", "officer_id": "o3", "role": "backup"},
            {
                **dept,
                "call_id": "c2",
                "officer_id": "o1",
                "role": "primary",
                "arrived_at": "2024-02-05 08:30",
                "cleared_at": "2024-02-05 09:30",
            },
            {**dept, "call_id": "c3", "officer_id": "o1", "role": "primary"},
        ],
    )
    insert(
        connection,
        "force_reports",
        1,
        [
            {
                **dept,
                "report_id": "r1",
                "officer_id": "o1",
                "occurred_at": "2024-02-10 12:00",
                "force_type": "takedown",
            },
            {
                **dept,
                "report_id": "r1",
                "officer_id": "o3",
                "occurred_at": "2024-02-10 12:00",
                "force_type": "hands_on",
                "force_level": 2,
            },
            {
                **dept,
                "report_id": "r2",
                "officer_id": "o1",
                "occurred_at": "2024-02-20 12:00",
                "force_type": "verbal_command",
                "force_level": 1,
            },
        ],
    )
    insert(
        connection,
        "complaints",
        1,
        [
            {
                **dept,
                "complaint_id": "k1",
                "officer_id": "o1",
                "occurred_at": "2024-04-02 09:00",
                "finding": "sustained",
                "is_sustained": True,
            },
            {
                **dept,
                "complaint_id": "k2",
                "officer_id": "o1",
                "occurred_at": "2024-04-15 09:00",
                "finding": "not_sustained",
            },
        ],
    )
    insert(
        connection,
        "bwc_videos",
        1,
        [
            {
                **dept,
                "video_id": "v1",
                "officer_id": "o1",
                "call_id": "c1",
                "started_at": "2024-02-01 10:00",
            },
            {**dept, "video_id": "v2", "officer_id": "o1", "started_at": "2024-04-01 10:00"},
            {**dept, "video_id": "v3", "officer_id": "o2", "started_at": "2024-06-01 10:00"},
        ],
    )
    insert(
        connection,
        "sso_codings",
        1,
        [
            {
                **dept,
                "coding_id": "k1b",
                "video_id": "v1",
                "coder_id": "B",
                "coded_at": "2024-07-02 10:00",
                **items(personal_conversation=0, empathy=4),
            },
            {
                **dept,
                "coding_id": "k1a",
                "video_id": "v1",
                "coder_id": "A",
                "coded_at": "2024-07-01 10:00",
                **items(personal_conversation=1, empathy=2),
            },
            {
                **dept,
                "coding_id": "k2a",
                "video_id": "v2",
                "coder_id": "A",
                "coded_at": "2024-07-03 10:00",
                **items(personal_conversation=1, empathy=5),
            },
            {
                **dept,
                "coding_id": "k3a",
                "video_id": "v3",
                "coder_id": "A",
                "coded_at": "2024-07-04 10:00",
                **items(personal_conversation=1, empathy=3),
            },
            {
                **dept,
                "coding_id": "k3b",
                "video_id": "v3",
                "coder_id": "B",
                "coded_at": "2024-07-05 10:00",
                **items(personal_conversation=1, empathy=3),
            },
        ],
    )


RANDOM_VIDEOS = 40


def random_codings(seed: int = 7) -> dict[str, np.ndarray]:
    """Two codings (primary, secondary) of RANDOM_VIDEOS videos per item: agreeing mostly."""
    rng = np.random.default_rng(seed)
    codings = {}
    for item, kind in SSO_ITEMS.items():
        if kind == "binary":
            first = rng.integers(0, 2, RANDOM_VIDEOS)
            second = np.where(rng.random(RANDOM_VIDEOS) < 0.8, first, 1 - first)
        elif kind == "count":
            first = rng.poisson(3, RANDOM_VIDEOS)
            second = np.clip(first + rng.integers(-2, 3, RANDOM_VIDEOS), 0, None)
        else:
            first = rng.integers(1, 6, RANDOM_VIDEOS)
            second = np.clip(first + rng.integers(-1, 2, RANDOM_VIDEOS), 1, 5)
        codings[item] = np.vstack([first, second])
    return codings


def load_random_department(connection) -> None:
    connection.execute(
        "insert into raw.departments values ('r', 'random', 'UTC', '2024-01-01', '2024-03-31')"
    )
    codings = random_codings()
    rows = []
    for video in range(RANDOM_VIDEOS):
        for rank, coder in enumerate(("A", "B", "C")):
            if rank == 2 and video % 5:
                continue  # every fifth video has a third coding, which reliability ignores
            if rank < 2:
                values = {item: int(codings[item][rank, video]) for item in SSO_ITEMS}
            else:
                values = items()
            rows.append(
                {
                    "department_id": "r",
                    "coding_id": f"v{video}-{coder}",
                    "video_id": f"v{video}",
                    "coder_id": coder,
                    "coded_at": dt.datetime(2024, 5, 1, 10 + rank),
                    **values,
                }
            )
    insert(connection, "sso_codings", 1, rows)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("build") / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        create_raw_tables(connection)
        load_hand_made_department(connection)
        load_random_department(connection)
    record = build(path, PROJECT_ROOT)
    assert record.plan_id
    assert "marts.fct_officer_months" in record.model_versions
    return path


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def officer_months(warehouse: Path, officer_id: str) -> dict[str, tuple]:
    rows = query(
        warehouse,
        "select month_start, period, calls_attended, hours_on_scene, force_reports, "
        "force_reports_level_2_plus, complaints, sustained_complaints, coded_encounters, "
        "is_cohort_treated, is_trained, is_active, cohort_period "
        f"from marts.fct_officer_months where department_id = 'd' and officer_id = '{officer_id}' "
        "order by month_start",
    )
    return {row[0].strftime("%Y-%m"): row[1:] for row in rows}


def test_spine_has_every_officer_month_of_the_window_with_zeros(warehouse):
    assert query(
        warehouse, "select count(*) from marts.fct_officer_months where department_id = 'd'"
    ) == [(24,)]
    o4 = officer_months(warehouse, "o4")
    assert [row[0] for row in o4.values()] == [1, 2, 3, 4, 5, 6]
    assert all(row[1:8] == (0, 0.0, 0, 0, 0, 0, 0) for row in o4.values())


def test_officer_month_counts(warehouse):
    o1 = officer_months(warehouse, "o1")
    # month: calls, hours on scene, force, force level 2+, complaints, sustained, coded
    assert o1["2024-01"][1:8] == (1, 0.5, 0, 0, 0, 0, 0)
    assert o1["2024-02"][1:8] == (1, 1.0, 2, 1, 0, 0, 1)  # takedown has no level: its type's 2
    assert o1["2024-03"][1:8] == (1, 0.0, 0, 0, 0, 0, 0)
    assert o1["2024-04"][1:8] == (0, 0.0, 0, 0, 2, 1, 1)


def test_cohort_training_and_active_flags(warehouse):
    o1 = officer_months(warehouse, "o1")
    assert [row[8] for row in o1.values()] == [False, False, True, True, True, True]
    assert [row[9] for row in o1.values()] == [False, False, True, True, True, True]
    assert o1["2024-01"][11] == 3  # cohort period: March = 3
    o2 = officer_months(warehouse, "o2")  # appointed 2024-03-15, control arm trained in May
    assert [row[10] for row in o2.values()] == [False, False, True, True, True, True]
    assert [row[8] for row in o2.values()] == [False, False, False, False, True, True]
    o3 = officer_months(warehouse, "o3")  # separated 2024-04-10
    assert [row[10] for row in o3.values()] == [True, True, True, True, False, False]


def test_dim_officers_takes_the_latest_assignment_and_first_completed_training(warehouse):
    rows = query(
        warehouse,
        "select officer_id, arm, cohort_on, cohort_month, first_trained_on, "
        "has_completed_training, training_hours, round(tenure_years_at_assignment, 2), "
        "age_at_assignment from marts.dim_officers where department_id = 'd' order by officer_id",
    )
    assert rows[0] == (
        "o1",
        "treatment",
        dt.date(2024, 3, 5),
        dt.date(2024, 3, 1),
        dt.date(2024, 3, 5),
        True,
        12.0,
        3.92,
        33,
    )
    assert rows[3][1:7] == (None, None, None, None, False, 0.0)


def test_encounters_take_primary_codes_and_mean_ratings(warehouse):
    rows = query(
        warehouse,
        "select video_id, call_type, study_period, is_post, n_codings, is_double_coded, "
        "primary_coder_id, personal_conversation, empathy from marts.fct_encounters "
        "where department_id = 'd' order by video_id",
    )
    assert rows == [
        ("v1", "Domestic_Disturbance", "pre", False, 2, True, "A", 1, 3.0),
        ("v2", None, "post", True, 1, False, "A", 1, 5.0),
        ("v3", None, "late", True, 2, True, "A", 1, 3.0),
    ]


def test_force_reports_and_calls(warehouse):
    force = query(
        warehouse,
        "select report_id, officer_id, force_level, arm, month_start from marts.fct_force_reports "
        "where department_id = 'd' order by report_id, officer_id",
    )
    assert [row[:4] for row in force] == [
        ("r1", "o1", 2, "treatment"),
        ("r1", "o3", 2, "treatment"),
        ("r2", "o1", 1, "treatment"),
    ]
    calls = query(
        warehouse,
        "select call_id, n_officers, minutes_on_scene from marts.fct_calls "
        "where department_id = 'd' order by call_id",
    )
    assert calls == [("c1", 2, 30.0), ("c2", 1, None), ("c3", 1, None)]
    groups = query(
        warehouse,
        "select call_type, call_type_group from intermediate.int_call_types "
        "where department_id = 'd' order by call_type",
    )
    assert groups == [
        ("Domestic_Disturbance", "domestic"),
        ("noise", "disturbance"),
        ("ufo sighting", "other"),
    ]


def test_reliability_of_the_hand_made_department(warehouse):
    rows = dict(
        (item, (n, agreement, alpha))
        for item, n, agreement, alpha in query(
            warehouse,
            "select item, n_double_coded, percent_agreement, krippendorff_alpha "
            "from marts.rpt_sso_reliability where department_id = 'd'",
        )
    )
    assert len(rows) == len(SSO_ITEMS)
    assert rows["personal_conversation"][:2] == (2, 50.0)
    expected = krippendorff.alpha(reliability_data=[[1, 1], [0, 1]], level_of_measurement="nominal")
    assert rows["personal_conversation"][2] == pytest.approx(expected)
    assert rows["arrest"] == (2, 100.0, None)  # no variation: alpha is undefined


def test_krippendorff_alpha_matches_the_reference_package(warehouse):
    codings = random_codings()
    rows = query(
        warehouse,
        "select item, item_kind, n_double_coded, percent_agreement, krippendorff_alpha "
        "from marts.rpt_sso_reliability where department_id = 'r'",
    )
    assert len(rows) == len(SSO_ITEMS)
    for item, kind, n_double_coded, agreement, alpha in rows:
        data = codings[item].astype(float)
        level = "nominal" if kind == "binary" else "interval"
        assert n_double_coded == RANDOM_VIDEOS
        assert agreement == pytest.approx(100 * np.mean(data[0] == data[1]))
        expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
        assert alpha == pytest.approx(expected, abs=1e-9), item


def test_run_restates_months_that_a_late_batch_corrects(warehouse):
    # batch 2 moves call c1 from January to March: January loses it, March gains it
    with duckdb.connect(str(warehouse)) as connection:
        insert(
            connection,
            "calls",
            2,
            [
                {
                    "department_id": "d",
                    "call_id": "c1",
                    "received_at": "2024-03-02 10:00",
                    "arrived_at": "2024-03-02 10:10",
                    "cleared_at": "2024-03-02 10:40",
                },
            ],
        )
    record = run(warehouse, PROJECT_ROOT)
    assert record.restated_tables == ("calls",)
    assert record.restated_from == "2024-01-01"
    o1 = officer_months(warehouse, "o1")
    assert o1["2024-01"][1:3] == (0, 0.0)
    assert o1["2024-03"][1:3] == (2, 0.5)
    # nothing new: nothing restated
    assert run(warehouse, PROJECT_ROOT).restated_tables == ()
