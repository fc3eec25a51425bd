"""A reject names the first line of its record: a quoted line break makes a record span
several lines, and the operator looks for where it starts."""

from __future__ import annotations

from test_ingest_mapping_language import FORCE, export, ingest, mapping_with, query

from middlestep.warehouse import Home


def test_a_rejected_record_spanning_lines_is_reported_at_its_first_line(tmp_path):
    home = Home.resolve(tmp_path / "home")
    # line 3 holds a quoted line break (lines 3-4) and a bad level; line 5 a bad level too
    force = FORCE.splitlines(keepends=True)
    force[2] = 'R1,A1,07/04/2024 14:30,"three\nlines",C2\n'
    force[3] = "R1,A2,07/04/2024 14:30,bad,C1\n"
    summary = ingest(home, export(tmp_path / "x", force="".join(force)), mapping_with())
    assert summary.rows_read == summary.rows_loaded + summary.rows_rejected
    rows = query(home, "select line_number, field from raw._rejects order by line_number")
    assert rows == [(3, "force_level"), (5, "force_level")]
    loaded = query(home, "select _source_line from raw.force_reports order by 1")
    assert loaded == [(2,), (6,)]
