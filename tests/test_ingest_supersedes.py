"""The ingest summary says when a load replaces an earlier load of the same file (a changed
mapping, or a file whose every row was rejected before), naming the superseded batch."""

from __future__ import annotations

from test_ingest_mapping_language import export, force_spec, ingest, mapping_with, query

from middlestep.warehouse import Home


def force_line(summary) -> str:
    [line] = [line for line in summary.lines() if line.startswith("x/force.csv")]
    return line


def test_a_changed_mapping_says_which_load_it_supersedes(tmp_path):
    home = Home.resolve(tmp_path / "home")
    directory = export(tmp_path / "x")
    first = ingest(home, directory, mapping_with(force_spec(repeated_keys="first")))
    assert "supersedes" not in force_line(first)
    [first_batch] = [f.batch_id for f in first.files if f.table == "force_reports"]
    changed = ingest(home, directory, mapping_with(force_spec(repeated_keys="last")))
    line = force_line(changed)
    assert line.endswith(f"; supersedes the earlier load of the same file (batch {first_batch})")
    [(superseded_by,)] = query(
        home, "select superseded_by from raw._batches where batch_id = ?", [first_batch]
    )
    [force] = [f for f in changed.files if f.table == "force_reports"]
    assert superseded_by == force.batch_id and force.superseded == (first_batch,)
