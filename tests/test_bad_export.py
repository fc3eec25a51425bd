"""A bad export loads what is good, rejects the rest with reasons, and the gate says so."""

from __future__ import annotations

import csv
import re

import duckdb
import pytest

from middlestep.cli import main
from middlestep.synth import run_synth

FORCE_FILE = "response_to_resistance.csv"
CODING_FILE = "sso_coding_sheet.csv"


def corrupt_force_reports(path) -> dict[str, int]:
    """Break some rows the ways real exports break; returns the line each fault landed on."""
    rows = list(csv.reader(path.open(newline="")))
    header = rows[0]
    at = {name: header.index(name) for name in ("EMP_NO", "INCIDENT_DTTM", "FORCE_LVL")}
    rows[1][at["INCIDENT_DTTM"]] = "yesterday"  # wrong type
    rows[2][at["FORCE_LVL"]] = "L9"  # unknown code
    rows[3][at["EMP_NO"]] = "99999999"  # an officer not on the roster
    with path.open("w", newline="") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL).writerows(rows)
    return {"occurred_at": 2, "force_level": 3, "officer_id": 4}


def truncate(path) -> int:
    """Cut the file in the middle of a line, as a failed transfer does; returns that line."""
    text = path.read_text()
    cut = text.rindex("\n", 0, len(text) // 2) + 15
    path.write_text(text[:cut])
    return text[:cut].count("\n") + 1


@pytest.fixture(scope="module")
def bad_export(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bad")
    export = run_synth(directory / "export", None, seed=3, scale=0.2)
    faults = corrupt_force_reports(export / FORCE_FILE)
    truncated_line = truncate(export / CODING_FILE)
    return directory, faults, truncated_line


def test_ingest_rejects_bad_rows_with_file_line_field_and_reason(bad_export, capsys):
    directory, faults, truncated_line = bad_export
    home = str(directory / "home")
    assert (
        main(["--home", home, "ingest", str(directory / "export"), "--department", "synthetic"])
        == 0
    )
    printed = capsys.readouterr().out
    assert f"{FORCE_FILE} -> raw.force_reports" in printed and "rejected 3" in printed
    with duckdb.connect(str(directory / "home" / "warehouse.duckdb"), read_only=True) as db:
        rejects = db.execute(
            "select line_number, field, reason from raw._rejects "
            "where source_file like ? order by line_number",
            [f"%{FORCE_FILE}"],
        ).fetchall()
        assert [(line, field) for line, field, _ in rejects] == sorted(
            (line, field) for field, line in faults.items()
        )
        reasons = " | ".join(reason for _, _, reason in rejects)
        assert "not a timestamp" in reasons and "unknown code 'L9'" in reasons
        assert "officer 99999999 is not on the roster" in reasons
        truncated = db.execute(
            "select line_number, reason from raw._rejects where source_file like ?",
            [f"%{CODING_FILE}"],
        ).fetchall()
        assert truncated == [(truncated_line, truncated[0][1])]
        assert "truncated or malformed line" in truncated[0][1]
        unbalanced = db.execute(
            "select count(*) from raw._batches where rows_read != rows_loaded + rows_rejected"
        ).fetchone()[0]
        assert unbalanced == 0


def test_gate_warns_with_the_rejected_share_of_each_table(bad_export, capsys):
    directory, _, _ = bad_export
    home = str(directory / "home")
    assert main(["--home", home, "build"]) == 0
    capsys.readouterr()
    assert main(["--home", home, "check"]) == 0  # below the 5% reject share that fails the gate
    printed = capsys.readouterr().out
    assert re.search(r"3 of \d+ rows of force_reports rejected", printed)
    assert re.search(r"1 of \d+ rows of sso_codings rejected", printed)
