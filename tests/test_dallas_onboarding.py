"""Dallas 2016 use of force (data/dallas_uof_2016/): a real export the project had never seen,
onboarded by departments/dallas.yaml alone (two header rows, M/D/YY dates, one line per incident x
officer x subject, a roster derived from the officer ids), through ingest, build and the gate.

The report: no trial in the export, so descriptive force figures and trial planning.
"""

from __future__ import annotations

import json

import duckdb
import pytest

from middlestep.cli import main
from middlestep.warehouse import PROJECT_ROOT, Home

DALLAS_DATA = PROJECT_ROOT / "data" / "dallas_uof_2016"


@pytest.fixture(scope="module")
def dallas_home(tmp_path_factory) -> Home:
    home = Home.resolve(tmp_path_factory.mktemp("dallas") / "home")
    assert (
        main(["--home", str(home.root), "ingest", str(DALLAS_DATA), "--department", "dallas"]) == 0
    )
    assert main(["--home", str(home.root), "build"]) == 0
    assert main(["--home", str(home.root), "check"]) == 0
    return home


def query(home: Home, sql: str):
    with duckdb.connect(str(home.warehouse), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_dallas_ingests_builds_and_passes_the_gate(dallas_home):
    batches = query(
        dallas_home,
        "select table_name, rows_read, rows_loaded, rows_rejected, rows_merged, status "
        "from raw._batches order by table_name",
    )
    # both tables read the one file: 2,383 data lines after the two header lines
    assert batches == [
        ("force_reports", 2383, 2377, 6, 55, "loaded"),
        ("officers", 2383, 2377, 6, 1337, "loaded"),
    ]
    for _, read, loaded, rejected, _, _ in batches:
        assert read == loaded + rejected and rejected / read < 0.01
    reasons = query(dallas_home, "select distinct field, reason from raw._rejects")
    assert reasons == [("officer_id", "officer_id: required field is empty")]


def test_dallas_gets_its_force_figures_and_trial_planning(dallas_home):
    """No trial in the export: the report is descriptive and plans one from Dallas's own data."""
    assert main(["--home", str(dallas_home.root), "report", "--department", "dallas"]) == 0
    results = json.loads((dallas_home.report_dir / "results.json").read_text())
    figures = results["department_figures"]
    monthly = figures["force_per_officer_month"]
    in_served_months = query(
        dallas_home,
        "select count(*) from marts.fct_force_reports where month_start <= "
        "(select max(month_start) from marts.fct_officer_months)",
    )[0][0]
    assert sum(row["reports"] for row in monthly) == in_served_months
    assert figures["force_by_level"] and figures["force_by_type"]
    assert figures["concentration"] is not None
    designs = figures["trial_planning"]["designs"]
    assert len(designs) >= 2  # the wait-list trial and the stepped wedge
    not_estimated = {row["analysis"] for row in results["not_estimated"]}
    assert "force effects" in not_estimated  # no trial: said, not a traceback
    html = (dallas_home.report_dir / "index.html").read_text()
    assert "trial planning" in html.lower()
    summary = results["summary"]
    assert summary["found"] == [] and summary["not_found"][0].startswith("No trial in this data")
    designs_said = [sentence.split(" of the department")[0] for sentence in summary["could_detect"]]
    assert designs_said == ["A wait-list trial", "A staggered roll-out trial"]
    # Dallas gives its officers' hire dates, but its roster is the force file's officer ids:
    # the figures per officer-month leave out every officer who used no force, and say so
    (note,) = results["data_notes"]
    assert note.startswith("All 1,040 officers on the roster are named in a force report")
    assert "overstates its power" in note
    assert summary["caveats"] == [note]  # no estimate, so no plan family to adjust
    assert "the roster appears to list only officers who used force" in html


def test_the_roster_is_the_distinct_officer_ids_with_first_and_last_seen_dates(dallas_home):
    officers = query(
        dallas_home,
        "select count(*), count(distinct officer_id), count(appointed_on), "
        "min(first_seen_on), max(last_seen_on), count(*) filter (where first_seen_on > "
        "last_seen_on) from raw.officers",
    )
    assert officers == [
        (1040, 1040, 1040, *query(dallas_home, "select date '2016-01-01', date '2016-12-31', 0")[0])
    ]
    # officer 10810 of the file's first data line: hired 5/7/14, one incident on 9/3/16
    assert query(
        dallas_home,
        "select appointed_on, sex, race, first_seen_on, last_seen_on from raw.officers "
        "where officer_id = '10810'",
    ) == query(
        dallas_home,
        "select date '2014-05-07', 'male', 'black', date '2016-09-03', date '2016-09-03'",
    )


def test_force_reports_are_one_per_incident_and_officer_with_a_subject_count(dallas_home):
    reports = query(
        dallas_home,
        "select count(*), count(distinct (report_id, officer_id)), sum(subject_count), "
        "max(subject_count) from raw.force_reports",
    )
    assert reports == [(2322, 2322, 2377, 4)]
    # the marts: every report counted in its officer-month, the officers active in 2016
    marts = query(
        dallas_home,
        "select (select count(*) from marts.fct_force_reports), "
        "(select count(*) from marts.dim_officers), "
        "(select count(distinct month_start) from marts.fct_officer_months)",
    )
    assert marts == [(2322, 1040, 12)]
    # the civilians of each report reach the mart: 2,377 subject lines in 2,322 reports
    assert query(
        dallas_home, "select sum(subject_count), min(subject_count) from marts.fct_force_reports"
    ) == [(2377, 1)]


def test_a_second_ingest_skips_the_file_per_table(dallas_home, capsys):
    assert (
        main(
            ["--home", str(dallas_home.root), "ingest", str(DALLAS_DATA), "--department", "dallas"]
        )
        == 0
    )
    out = capsys.readouterr().out
    name = "dallas_uof_2016/37-00049_UOF-P_2016_prepped.csv"
    assert f"officers: {name} already loaded with this mapping (same sha256), skipped" in out
    assert f"force_reports: {name} already loaded with this mapping (same sha256), skipped" in out


def test_every_force_report_falls_in_a_served_officer_month(dallas_home):
    """Months are Dallas's local calendar months (America/Chicago), not UTC ones: a report at
    23:19 on 31 December 2016 (05:19 UTC on 1 January 2017) is December's, inside the study
    window and the officer's served months, and is counted in the officer-month panel."""
    served = query(
        dallas_home,
        "select count(*), count(*) filter (where m.is_active) from marts.fct_force_reports f "
        "inner join marts.fct_officer_months m using (department_id, officer_id, month_start)",
    )[0]
    assert served == (2322, 2322)
    new_years_eve = query(
        dallas_home,
        "select strftime(occurred_at, '%Y-%m-%d %H:%M'), occurred_on, month_start "
        "from marts.fct_force_reports where occurred_at >= '2017-01-01' order by all",
    )
    assert new_years_eve and all(
        (on.year, month.month) == (2016, 12) for _, on, month in new_years_eve
    )
    counted = query(dallas_home, "select sum(force_reports) from marts.fct_officer_months")
    assert counted == [(2322,)]
