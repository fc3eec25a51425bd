"""A file that failed is never called loaded: seen again (same bytes, same mapping) it is
reported failed again with the earlier reason, `ingest` exits non-zero again, and `status` and
`run` count it as failed, not as skipped. And the summary's counts of one are singular."""

from __future__ import annotations

from test_ingest import MAPPING, write_export
from test_ingest_mapping_language import export, ingest, mapping_with, query

from middlestep.cli import main
from middlestep.ingest import ingest_export
from middlestep.mapping import parse_mapping
from middlestep.warehouse import Home

TWICE = "RPT,EMP,WHEN,LVL,LVL\nR1,A1,07/04/2024 14:30,1,1\n"


def test_a_failed_file_is_reported_failed_again_not_already_loaded(tmp_path):
    home = Home.resolve(tmp_path / "home")
    directory = export(tmp_path / "x", force=TWICE)
    first = ingest(home, directory, mapping_with())
    force = [f for f in first.files if f.table == "force_reports"][0]
    assert force.status == "failed" and first.files_failed == 1
    again = ingest(home, directory, mapping_with())
    force = [f for f in again.files if f.table == "force_reports"][0]
    assert force.status == "failed_before" and again.files_failed == 1
    [line] = [x for x in again.lines() if "force.csv" in x]
    assert line.startswith("x/force.csv -> raw.force_reports: FAILED before with this mapping")
    assert "column LVL appears more than once in the header" in line, line
    assert "not parsed again: fix the file or the mapping" in line
    # nothing recorded twice: one failed batch, one reject
    assert query(home, "select status from raw._batches where table_name = 'force_reports'") == [
        ("failed",)
    ]


def test_cli_ingest_exits_non_zero_each_time_and_status_agrees(tmp_path, capsys):
    # the shipped chicago mapping against a force file with a column named twice
    directory = tmp_path / "chicago_export"
    directory.mkdir()
    (directory / "force_events.csv").write_text("trr_id,uid,date,date,category\n1,2,x,x,y\n")
    home = str(tmp_path / "home")
    args = ["--home", home, "ingest", str(directory), "--department", "chicago"]
    assert main(args) == 1
    assert "FAILED" in capsys.readouterr().out
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "already loaded" not in out
    assert "force_events.csv -> raw.force_reports: FAILED before with this mapping" in out
    assert main(["--home", home, "status", "--json"]) == 0
    status = capsys.readouterr().out
    assert '"files_failed": 1' in status, status


def test_counts_of_one_are_singular(tmp_path, capsys):
    directory = tmp_path / "chicago_export"
    directory.mkdir()
    (directory / "force_events.csv").write_text("trr_id,uid,date,date,category\n1,2,x,x,y\n")
    args = ["--home", str(tmp_path / "home"), "ingest", str(directory), "--department", "chicago"]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert out.rstrip().endswith("rows from 1 file; 1 file FAILED"), out


def test_one_nulled_cell_is_singular(tmp_path):
    home = Home.resolve(tmp_path / "home")
    summary = ingest_export(home, write_export(tmp_path / "export"), parse_mapping(MAPPING))
    [roster] = [line for line in summary.lines() if line.startswith("export/roster.csv")]
    assert roster.endswith("rejected 0, 1 cell nulled"), roster  # sex 'X', an unknown code
