"""The mapping language on real exports' shapes: per-key policies, extra header rows, unknown
dates; batches identified by file content and mapping; a file whose every row is rejected is not
recorded as loaded; reject reasons that say how to fix the mapping."""

from __future__ import annotations

import copy
from pathlib import Path

import duckdb
import pytest
from test_ingest import AS_OF, MAPPING

from middlestep.cli import main
from middlestep.ingest import ingest_export
from middlestep.mapping import MappingError, parse_mapping
from middlestep.warehouse import Home

ROSTER = "EMP,HIRED\nA1,01/15/2010\nA2,03/02/2015\n"
# one line per report x officer x subject
FORCE = (
    "RPT,EMP,WHEN,LVL,CIV_NO\n"
    "R1,A1,07/04/2024 14:30,1,C1\n"
    "R1,A1,07/04/2024 14:30,3,C2\n"
    "R1,A2,07/04/2024 14:30,2,C1\n"
    "R2,A1,07/09/2024 08:00,2,C3\n"
)


def query(home: Home, sql: str, params=None):
    with duckdb.connect(str(home.warehouse), read_only=True) as connection:
        return connection.execute(sql, params or []).fetchall()


def export(directory: Path, force: str = FORCE, roster: str = ROSTER) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "roster.csv").write_text(roster)
    (directory / "force.csv").write_text(force)
    return directory


def mapping_with(force_spec: dict | None = None, roster_spec: dict | None = None) -> dict:
    document = copy.deepcopy(MAPPING)
    document["tables"]["officers"] = roster_spec or {
        "file": "roster.csv",
        "columns": {
            "officer_id": "EMP",
            "appointed_on": {"column": "HIRED", "format": "%m/%d/%Y"},
        },
    }
    document["tables"]["force_reports"] = force_spec or {
        "file": "force.csv",
        "columns": {
            "report_id": "RPT",
            "officer_id": "EMP",
            "occurred_at": {"column": "WHEN", "format": "%m/%d/%Y %H:%M"},
            "force_level": "LVL",
        },
    }
    return document


def force_spec(**table) -> dict:
    columns = table.pop("columns", {})
    return {
        "file": "force.csv",
        "columns": {
            "report_id": "RPT",
            "officer_id": "EMP",
            "occurred_at": {"column": "WHEN", "format": "%m/%d/%Y %H:%M"},
            "force_level": "LVL",
            **columns,
        },
        **table,
    }


def ingest(home: Home, directory: Path, document: dict):
    return ingest_export(home, directory, parse_mapping(document), as_of=AS_OF)


@pytest.mark.parametrize(
    ("policy", "levels"),
    [("first", [("R1", "A1", 1), ("R1", "A2", 2), ("R2", "A1", 2)]),
     ("last", [("R1", "A1", 3), ("R1", "A2", 2), ("R2", "A1", 2)])],
)  # fmt: skip
def test_repeated_keys_keep_the_first_or_last_line(tmp_path, policy, levels):
    home = Home.resolve(tmp_path / "home")
    summary = ingest(home, export(tmp_path / "x"), mapping_with(force_spec(repeated_keys=policy)))
    force = [f for f in summary.files if f.table == "force_reports"][0]
    # every line is loaded (folded into its key's row), none rejected, 3 rows stored
    assert (force.rows_read, force.rows_loaded, force.rows_rejected, force.rows_merged) == (
        4, 4, 0, 1,
    )  # fmt: skip
    rows = query(
        home,
        "select report_id, officer_id, force_level from raw.force_reports order by 1, 2",
    )
    assert rows == levels


def test_repeated_keys_rejected_by_default(tmp_path):
    home = Home.resolve(tmp_path / "home")
    summary = ingest(home, export(tmp_path / "x"), mapping_with())
    force = [f for f in summary.files if f.table == "force_reports"][0]
    assert (force.rows_loaded, force.rows_rejected) == (3, 1)
    assert force.top_reasons[0][0] == "key: duplicate key within the file (first at line 2)"


def test_aggregate_folds_each_key_with_a_subject_count(tmp_path):
    home = Home.resolve(tmp_path / "home")
    spec = force_spec(
        repeated_keys="aggregate",
        columns={
            "force_level": {"column": "LVL", "aggregate": "max"},
            "subject_key": "CIV_NO",
            "subject_count": {"column": "CIV_NO", "aggregate": "count_distinct"},
        },
    )
    summary = ingest(home, export(tmp_path / "x"), mapping_with(spec))
    assert summary.rows_read == summary.rows_loaded + summary.rows_rejected
    rows = query(
        home,
        "select report_id, officer_id, force_level, subject_count, _source_line "
        "from raw.force_reports order by 1, 2",
    )
    assert rows == [("R1", "A1", 3, 2, 2), ("R1", "A2", 2, 1, 4), ("R2", "A1", 2, 1, 5)]
    # the subject key is hashed, the first line's (C1 of R1 x A1 = C1 of R1 x A2)
    keys = query(home, "select subject_key from raw.force_reports order by report_id, officer_id")
    assert keys[0] == keys[1] and keys[0][0] != "C1" and len(keys[0][0]) == 64


def test_extra_header_rows_are_skipped_and_lines_keep_their_numbers(tmp_path):
    home = Home.resolve(tmp_path / "home")
    two_headers = "RPT,EMP,WHEN,LVL,CIV_NO\nRptNo,Badge,Occurred,Level,CitNum\n" + FORCE.split(
        "\n", 1
    )[1].replace("R2,A1,07/09/2024 08:00", "R2,A1,07/09/2024 8 AM")
    summary = ingest(
        home,
        export(tmp_path / "x", force=two_headers),
        mapping_with(force_spec(extra_header_rows=1, repeated_keys="last")),
    )
    force = [f for f in summary.files if f.table == "force_reports"][0]
    assert (force.rows_read, force.rows_loaded, force.rows_rejected) == (4, 3, 1)
    assert query(home, "select line_number, field from raw._rejects") == [(6, "occurred_at")]


def test_a_timestamp_without_format_is_rejected_with_the_format_to_add(tmp_path):
    home = Home.resolve(tmp_path / "home")
    force = "RPT,EMP,WHEN,LVL\nR1,A1,06/01/2020 09:00:00 PM,1\nR2,A1,13/01/2020 21:00,1\n"
    spec = force_spec(columns={"occurred_at": "WHEN"})
    ingest(home, export(tmp_path / "x", force=force), mapping_with(spec))
    reasons = [r for (r,) in query(home, "select reason from raw._rejects order by line_number")]
    assert reasons == [
        "occurred_at: not a timestamp: '06/01/2020 09:00:00 PM' "
        '(add format: "%m/%d/%Y %I:%M:%S %p")',
        "occurred_at: not a timestamp: '13/01/2020 21:00' (add format: \"%d/%m/%Y %H:%M\")",
    ]


def test_a_misspelt_column_names_the_close_match(tmp_path):
    home = Home.resolve(tmp_path / "home")
    spec = force_spec(columns={"force_level": "LEVL"})
    ingest(home, export(tmp_path / "x"), mapping_with(spec))
    reason = query(home, "select distinct reason from raw._rejects")[0][0]
    assert reason == "missing column LEVL (the mapping expects it; did you mean 'LVL' for 'LEVL'?)"


def test_a_file_with_every_row_rejected_fails_and_loads_after_the_fix(tmp_path, capsys):
    home = Home.resolve(tmp_path / "home")
    directory = export(tmp_path / "x")
    broken = mapping_with(force_spec(columns={"occurred_at": "WHEN"}))  # no format
    summary = ingest(home, directory, broken)
    force = [f for f in summary.files if f.table == "force_reports"][0]
    assert (force.status, force.rows_loaded, force.rows_rejected) == ("rejected", 0, 4)
    assert summary.files_failed == 1
    assert "FAILED: every row rejected" in "\n".join(summary.lines())
    # the same file and mapping again: not skipped (it was never loaded), still rejected
    again = ingest(home, directory, broken)
    assert [f.status for f in again.files if f.table == "force_reports"] == ["rejected"]
    fixed = ingest(home, directory, mapping_with(force_spec(repeated_keys="first")))
    force = [f for f in fixed.files if f.table == "force_reports"][0]
    assert (force.status, force.rows_loaded, force.rows_rejected) == ("loaded", 4, 0)
    # each earlier load of the file is superseded by the next, raw keeps every batch
    batches = query(
        home,
        "select status, superseded_by is null from raw._batches "
        "where table_name = 'force_reports' order by batch_id",
    )
    assert batches == [("rejected", False), ("rejected", False), ("loaded", True)]


def test_cli_ingest_exits_non_zero_when_every_row_of_a_file_is_rejected(tmp_path, capsys):
    # the shipped chicago mapping against a force file without its date column's values
    directory = tmp_path / "chicago_export"
    directory.mkdir()
    (directory / "force_events.csv").write_text("trr_id,uid,date,category\n1,2,soon,x\n")
    code = main(
        ["--home", str(tmp_path / "home"), "ingest", str(directory), "--department", "chicago"]
    )
    assert code == 1
    assert "every row rejected" in capsys.readouterr().out


def test_a_changed_mapping_loads_the_same_file_again_and_supersedes_the_first_load(tmp_path):
    home = Home.resolve(tmp_path / "home")
    directory = export(tmp_path / "x")
    first = ingest(home, directory, mapping_with(force_spec(repeated_keys="first")))
    same = ingest(home, directory, mapping_with(force_spec(repeated_keys="first")))
    assert [f.status for f in same.files] == ["already_loaded", "already_loaded"]
    assert "force_reports: x/force.csv already loaded with this mapping (same sha256), skipped" in (
        same.lines()
    )
    changed = ingest(home, directory, mapping_with(force_spec(repeated_keys="last")))
    assert [(f.table, f.status) for f in changed.files] == [
        ("officers", "already_loaded"),
        ("force_reports", "loaded"),
    ]
    batches = query(
        home,
        "select table_name, batch_id, superseded_by from raw._batches order by batch_id",
    )
    force_first = [f.batch_id for f in first.files if f.table == "force_reports"][0]
    force_again = [f.batch_id for f in changed.files if f.table == "force_reports"][0]
    assert ("force_reports", force_first, force_again) in batches
    # raw keeps both loads
    assert query(home, "select count(distinct _batch_id), count(*) from raw.force_reports") == [
        (2, 6)
    ]


def test_unknown_needs_a_meaning_in_the_contract():
    document = mapping_with()
    document["tables"]["force_reports"]["columns"]["occurred_at"] = {"unknown": True}
    with pytest.raises(MappingError, match="no meaning to an unknown occurred_at"):
        parse_mapping(document)
    document = mapping_with()
    del document["tables"]["officers"]["columns"]["appointed_on"]
    with pytest.raises(MappingError, match=r"appointed_on: \{unknown: true\}"):
        parse_mapping(document)


def test_an_aggregate_needs_the_aggregate_policy():
    spec = force_spec(columns={"force_level": {"column": "LVL", "aggregate": "max"}})
    with pytest.raises(MappingError, match="needs `repeated_keys: aggregate`"):
        parse_mapping(mapping_with(spec))
