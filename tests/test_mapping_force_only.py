"""A force-only export (one file, one line per incident x officer x subject, officers only as
ids: no roster, no training, no calls) onboards by a mapping alone and passes the gate: the
roster is the file's distinct officer ids with first/last seen dates and an unknown appointment,
the force reports one per incident x officer with a subject count."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
import yaml

from middlestep import commands
from middlestep.cli import main
from middlestep.gate import latest_gate
from middlestep.warehouse import Home

# incident x officer x subject; two header lines (the second in the department's own names)
FORCE_EXPORT = """\
INCIDENT,OFFICER,SUBJECT,DATE,TIME,FORCE,SUBJECT_HURT
IncNum,BadgeNo,CitNum,OccDate,OccTime,ForceType,CitInj
I-1,B1,S1,2/3/24,4:14:00 AM,Takedown,Yes
I-1,B1,S2,2/3/24,4:14:00 AM,Takedown,No
I-1,B2,S1,2/3/24,4:14:00 AM,Taser,No
I-2,B1,S3,5/20/24,11:00:00 PM,Joint Lock,No
I-3,B3,S4,7/1/24,1:29:00 PM,Verbal,No
I-3,B3,S4,7/1/24,1:29:00 PM,Verbal,No
I-4,B2,S5,9/30/24,8:55:00 AM,Strike,Yes
"""

MAPPING = {
    "department_id": "forceonly",
    "timezone": "America/Chicago",
    "study": {"start_on": "2024-01-01", "end_on": "2024-12-31"},
    "tables": {
        "officers": {
            "file": "uof_*.csv",
            "extra_header_rows": 1,
            "repeated_keys": "aggregate",
            "columns": {
                "officer_id": "OFFICER",
                "appointed_on": {"unknown": True},
                "first_seen_on": {"column": "DATE", "format": "%m/%d/%y", "aggregate": "min"},
                "last_seen_on": {"column": "DATE", "format": "%m/%d/%y", "aggregate": "max"},
            },
        },
        "force_reports": {
            "file": "uof_*.csv",
            "extra_header_rows": 1,
            "repeated_keys": "aggregate",
            "columns": {
                "report_id": "INCIDENT",
                "officer_id": "OFFICER",
                "occurred_at": {
                    "columns": ["DATE", "TIME"],
                    "separator": " ",
                    "format": "%m/%d/%y %I:%M:%S %p",
                },
                "force_category": "FORCE",
                "is_subject_injured": {"column": "SUBJECT_HURT", "aggregate": "any"},
                "subject_key": "SUBJECT",
                "subject_count": {"column": "SUBJECT", "aggregate": "count_distinct"},
            },
        },
    },
}


def query(home: Home, sql: str):
    with duckdb.connect(str(home.warehouse), read_only=True) as connection:
        return connection.execute(sql).fetchall()


@pytest.fixture(scope="module")
def force_only_home(tmp_path_factory) -> Home:
    root = tmp_path_factory.mktemp("force_only")
    export = root / "export"
    export.mkdir()
    (export / "uof_2024.csv").write_text(FORCE_EXPORT)
    mapping_file = root / "forceonly.yaml"
    mapping_file.write_text(yaml.safe_dump(MAPPING))
    home = Home.resolve(root / "home")
    summary = commands.ingest(home, export, Path(mapping_file))
    assert (summary.rows_read, summary.rows_loaded, summary.rows_rejected) == (14, 14, 0)
    commands.build(home)
    commands.check(home)
    return home


def test_a_force_only_export_onboards_by_a_mapping_and_passes_the_gate(force_only_home):
    gate = latest_gate(force_only_home.warehouse)
    assert gate["passed"] is True, gate["failures"]
    assert query(
        force_only_home,
        "select officer_id, appointed_on, first_seen_on, last_seen_on from raw.officers "
        "order by officer_id",
    ) == query(
        force_only_home,
        "select * from (values ('B1', null::date, date '2024-02-03', date '2024-05-20'), "
        "('B2', null, date '2024-02-03', date '2024-09-30'), "
        "('B3', null, date '2024-07-01', date '2024-07-01')) order by 1",
    )
    reports = query(
        force_only_home,
        "select report_id, officer_id, subject_count, is_subject_injured, force_category "
        "from raw.force_reports order by report_id, officer_id",
    )
    assert reports == [
        ("I-1", "B1", 2, True, "Takedown"),
        ("I-1", "B2", 1, False, "Taser"),
        ("I-2", "B1", 1, False, "Joint Lock"),
        ("I-3", "B3", 1, False, "Verbal"),  # the repeated line is one subject
        ("I-4", "B2", 1, True, "Strike"),
    ]


def test_an_officer_with_unknown_appointment_is_active_from_first_to_last_record(
    force_only_home,
):
    active = query(
        force_only_home,
        "select officer_id, min(month(month_start)), max(month(month_start)), "
        "sum(force_reports) from marts.fct_officer_months where is_active "
        "group by officer_id order by officer_id",
    )
    assert active == [("B1", 2, 5, 2), ("B2", 2, 9, 2), ("B3", 7, 7, 1)]
    assert query(
        force_only_home,
        "select count(*) from marts.fct_officer_months where not is_active and force_reports > 0",
    ) == [(0,)]


def test_a_force_only_department_gets_a_report_that_says_what_it_leaves_unknown(
    force_only_home,
):
    assert main(["--home", str(force_only_home.root), "report"]) == 0
    results = json.loads((force_only_home.report_dir / "results.json").read_text())
    note, roster = results["data_notes"]
    assert note.startswith("3 of 3 officers") and "from the first to the last month" in note
    assert roster.startswith("All 3 officers on the roster are named in a force report")
    assert results["summary"]["caveats"] == [note, roster]
    assert results["department_figures"]["force_per_officer_month"]
    html = (force_only_home.report_dir / "index.html").read_text()
    assert "What the data leaves unknown" in html and "3 of 3 officers" in html
