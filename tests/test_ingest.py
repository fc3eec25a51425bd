"""Ingest: typed loads, rejects with file/line/field/reason, nothing lost, batches once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from middlestep.ingest import ingest_export
from middlestep.mapping import MappingError, parse_mapping
from middlestep.warehouse import Home

AS_OF = dt.datetime(2026, 1, 1)

MAPPING = {
    "department_id": "tiny",
    "timezone": "America/New_York",
    "study": {"start_on": "2024-01-01", "end_on": "2024-12-31"},
    "tables": {
        "officers": {
            "file": "roster.csv",
            "columns": {
                "officer_id": "EMP",
                "appointed_on": {"column": "HIRED", "format": "%m/%d/%Y"},
                "sex": {"column": "SEX", "values": {"M": "male", "F": "female"}},
                "birth_year": "BORN",
            },
        },
        "force_reports": {
            "file": "force.csv",
            "columns": {
                "report_id": "RPT",
                "officer_id": "EMP",
                "occurred_at": {"column": "WHEN", "format": "%m/%d/%Y %H:%M"},
                "force_level": "LVL",
                "subject_key": "CIV_NO",
                "is_subject_injured": "INJ",
            },
        },
    },
}

ROSTER = "EMP,HIRED,SEX,BORN\nA1,01/15/2010,M,1985\nA2,03/02/2015,F,1990\nA3,07/07/2018,X,1992\n"
FORCE = (
    "RPT,EMP,WHEN,LVL,CIV_NO,CIV_NAME,INJ\n"
    "R1,A1,07/04/2024 14:30,2,CIV-1,CIVILIAN-1,Y\n"
    "R2,A2,not a date,1,CIV-2,CIVILIAN-2,N\n"
    "R3,ZZ,07/05/2024 10:00,1,CIV-3,CIVILIAN-3,N\n"
    "R4,A1,07/06/2024 09:00,7,CIV-4,CIVILIAN-4,N\n"
    "R1,A1,07/04/2024 14:30,2,CIV-1,CIVILIAN-1,Y\n"
    "R5,A2,07/07/2024 09:00,1\n"
)


def write_export(directory: Path, roster: str = ROSTER, force: str = FORCE) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "roster.csv").write_text(roster)
    (directory / "force.csv").write_text(force)
    return directory


def query(home: Home, sql: str, params=None):
    with duckdb.connect(str(home.warehouse), read_only=True) as connection:
        return connection.execute(sql, params or []).fetchall()


@pytest.fixture
def loaded(tmp_path):
    home = Home.resolve(tmp_path / "home")
    export = write_export(tmp_path / "export")
    summary = ingest_export(home, export, parse_mapping(MAPPING), as_of=AS_OF)
    return home, summary


def test_loads_good_rows_and_rejects_the_rest_with_line_field_and_reason(loaded):
    home, summary = loaded
    rejects = query(
        home,
        "select table_name, line_number, field, value, reason from raw._rejects "
        "order by table_name, line_number",
    )
    assert rejects[0] == ("force_reports", 3, "occurred_at", "not a date", rejects[0][4])
    assert "not a timestamp in format %m/%d/%Y %H:%M" in rejects[0][4]
    by_line = {(table, line): (field, reason) for table, line, field, _, reason in rejects}
    assert by_line[("force_reports", 4)] == (
        "officer_id",
        "officer_id: officer ZZ is not on the roster",
    )
    assert by_line[("force_reports", 5)][0] == "force_level"
    assert "duplicate key within the file (first at line 2)" in by_line[("force_reports", 6)][1]
    assert "expected 7 fields, found 4" in by_line[("force_reports", 7)][1]
    assert ("officers", 4) not in by_line  # a bad optional roster cell keeps the officer
    assert query(home, "select line_number, field, value, reason from raw._warnings") == [
        (4, "sex", "X", "sex: unknown code 'X'")
    ]
    assert query(home, "select sex from raw.officers where officer_id = 'A3'") == [(None,)]
    assert query(home, "select report_id from raw.force_reports") == [("R1",)]


def test_rows_read_equal_loaded_plus_rejected_for_every_file(loaded):
    home, summary = loaded
    for result in summary.files:
        assert result.rows_read == result.rows_loaded + result.rows_rejected
    batches = query(
        home,
        "select b.rows_read, b.rows_loaded, b.rows_rejected, "
        "(select count(*) from raw._rejects r where r.batch_id = b.batch_id) from raw._batches b",
    )
    assert all(
        read == loaded + rejected == loaded + counted for read, loaded, rejected, counted in batches
    )
    assert sorted(b[0] for b in batches) == [3, 6]


def test_local_times_are_stored_in_utc_and_civilians_only_as_keyed_hashes(loaded):
    home, _ = loaded
    occurred_at, subject_key, injured = query(
        home, "select occurred_at, subject_key, is_subject_injured from raw.force_reports"
    )[0]
    assert occurred_at == dt.datetime(2024, 7, 4, 18, 30)  # EDT is UTC-4
    assert injured is True
    assert subject_key != "CIV-1" and len(subject_key) == 64
    assert query(home, "select count(*) from raw._rejects where value like 'CIVILIAN%'") == [(0,)]


def test_same_file_twice_is_loaded_once(loaded, tmp_path):
    home, _ = loaded
    again = ingest_export(home, tmp_path / "export", parse_mapping(MAPPING), as_of=AS_OF)
    assert {r.status for r in again.files} == {"already_loaded"}
    assert query(home, "select count(*) from raw._batches") == [(2,)]


def test_bom_binary_and_missing_files_are_handled(tmp_path):
    home = Home.resolve(tmp_path / "home")
    export = tmp_path / "export"
    export.mkdir()
    (export / "roster.csv").write_bytes(b"\xef\xbb\xbf" + ROSTER.encode())
    (export / "force.csv").write_bytes(b"PAR1\x00\x00\x15\x04binary")
    summary = ingest_export(home, export, parse_mapping(MAPPING), as_of=AS_OF)
    roster, force = summary.files
    assert roster.rows_loaded == 3  # the BOM did not hide the EMP column
    assert force.status == "failed" and force.rows_read == 1 and force.rows_rejected == 1
    assert (
        "binary"
        in query(home, "select reason from raw._rejects where table_name = 'force_reports'")[0][0]
    )
    (export / "force.csv").unlink()
    summary = ingest_export(home, export, parse_mapping(MAPPING), as_of=AS_OF)
    assert any("force.csv" in warning for warning in summary.warnings)


def test_missing_mapped_column_rejects_every_line_naming_the_column(tmp_path):
    home = Home.resolve(tmp_path / "home")
    export = write_export(tmp_path / "export", force="RPT,EMP,LVL\nR1,A1,1\nR2,A2,2\n")
    summary = ingest_export(home, export, parse_mapping(MAPPING), as_of=AS_OF)
    force = summary.files[1]
    assert (force.rows_read, force.rows_loaded, force.rows_rejected) == (2, 0, 2)
    assert "missing column CIV_NO, INJ, WHEN" in force.top_reasons[0][0]


def test_dates_in_the_future_are_rejected(tmp_path):
    home = Home.resolve(tmp_path / "home")
    force = "RPT,EMP,WHEN,LVL,CIV_NO,INJ\nR1,A1,07/04/2031 14:30,2,C,N\n"
    export = write_export(tmp_path / "export", force=force)
    ingest_export(home, export, parse_mapping(MAPPING), as_of=AS_OF)
    reasons = query(home, "select reason from raw._rejects where table_name = 'force_reports'")
    assert "date in the future" in reasons[0][0]


def test_mapping_errors_name_the_table_and_field():
    broken = {
        "department_id": "x",
        "tables": {"officers": {"file": "r.csv", "columns": {"badge": "B"}}},
    }
    with pytest.raises(MappingError, match="officers.*badge"):
        parse_mapping(broken)
    with pytest.raises(MappingError, match="required officer_id"):
        parse_mapping({"department_id": "x", "tables": {"officers": {"file": "r.csv"}}})


COMPLAINTS_MAPPING = {
    "department_id": "tiny",
    "tables": {
        "officers": MAPPING["tables"]["officers"],
        "complaints": {
            "file": "complaints.csv",
            "columns": {
                "complaint_id": "CR",
                "officer_id": "EMP",
                "record_id": {"columns": ["DATE", "FINDING"]},
                "occurred_at": "DATE",
                "finding": {"column": "FINDING", "values": {"S": "sustained", "O": "other"}},
            },
        },
    },
}


def test_a_composite_record_id_keeps_differing_records_of_one_complaint_and_officer(tmp_path):
    complaints = (
        "CR,EMP,DATE,FINDING\n"
        "C1,A1,2024-03-01,\n"  # two releases: one without a finding
        "C1,A1,2024-03-01,S\n"  # ... one with it
        "C1,A1,2024-03-01,S\n"  # an exact repeat: a duplicate key
        "C2,A1,2024-03-05,O\n"
    )
    export = write_export(tmp_path / "export")
    (export / "complaints.csv").write_text(complaints)
    home = Home.resolve(tmp_path / "home")
    ingest_export(home, export, parse_mapping(COMPLAINTS_MAPPING), as_of=AS_OF)
    assert query(home, "select complaint_id, record_id from raw.complaints order by 1, 2") == [
        ("C1", "2024-03-01|"),
        ("C1", "2024-03-01|S"),
        ("C2", "2024-03-05|O"),
    ]
    assert query(
        home, "select line_number, reason from raw._rejects where table_name = 'complaints'"
    ) == [(4, "key: duplicate key within the file (first at line 3)")]


def test_rows_equal_in_every_key_field_are_duplicates_even_when_an_optional_one_is_null(tmp_path):
    mapping = {
        "department_id": "tiny",
        "tables": {
            "complaints": {
                "file": "complaints.csv",
                "columns": {"complaint_id": "CR", "officer_id": "EMP", "occurred_at": "DATE"},
            }
        },
    }
    export = tmp_path / "export"
    export.mkdir()
    (export / "complaints.csv").write_text("CR,EMP,DATE\nC1,A1,2024-03-01\nC1,A1,2024-03-02\n")
    home = Home.resolve(tmp_path / "home")
    summary = ingest_export(home, export, parse_mapping(mapping), as_of=AS_OF)
    assert (summary.rows_loaded, summary.rows_rejected) == (1, 1)


def test_a_warehouse_created_before_a_contract_field_was_added_gets_the_field(tmp_path):
    home = Home.resolve(tmp_path / "home")
    home.ensure()
    with duckdb.connect(str(home.warehouse)) as connection:
        connection.execute("create schema raw")
        connection.execute(
            "create table raw.complaints (department_id text, complaint_id text, "
            "officer_id text, occurred_at timestamp, received_at timestamp, allegation text, "
            "finding text, is_sustained boolean, _batch_id integer, _source_line integer)"
        )
    export = write_export(tmp_path / "export")
    (export / "complaints.csv").write_text("CR,EMP,DATE,FINDING\nC1,A1,2024-03-01,S\n")
    ingest_export(home, export, parse_mapping(COMPLAINTS_MAPPING), as_of=AS_OF)
    assert query(home, "select record_id, finding, _source_line from raw.complaints") == [
        ("2024-03-01|S", "sustained", 2)
    ]


def test_a_composite_field_takes_no_value_map():
    broken = {
        "department_id": "x",
        "tables": {
            "complaints": {
                "file": "c.csv",
                "columns": {
                    "complaint_id": "CR",
                    "officer_id": "EMP",
                    "occurred_at": "DATE",
                    "record_id": {"columns": ["A", "B"], "values": {"x": "y"}},
                },
            }
        },
    }
    with pytest.raises(MappingError, match="record_id.*takes no values"):
        parse_mapping(broken)
