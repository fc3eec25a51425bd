"""`middlestep status` after what an operator or analyst actually meets: a file that failed is
not called loaded, a load superseded by a changed mapping is not counted twice, and a run that
was killed is not hidden behind the last one that finished."""

from __future__ import annotations

import copy

from test_ingest import AS_OF, MAPPING, write_export

from middlestep import nightly
from middlestep.ingest import ingest_export
from middlestep.mapping import parse_mapping
from middlestep.warehouse import Home
from middlestep.warehouse.readers import freshness
from middlestep.warehouse.runlog import log_run


def _row(home: Home, table: str) -> dict:
    return next(row for row in freshness(home) if row["table"] == table)


def test_freshness_counts_current_loads_and_names_files_not_loaded(tmp_path):
    home = Home.resolve(tmp_path / "home")
    export = write_export(tmp_path / "export")
    broken = copy.deepcopy(MAPPING)
    broken["tables"]["force_reports"]["columns"]["report_id"] = "REPORT_NO"  # not in the file
    ingest_export(home, export, parse_mapping(broken), as_of=AS_OF)
    force = _row(home, "force_reports")
    assert (force["rows"], force["batches"], force["files_failed"]) == (0, 0, 1)
    assert force["last_loaded_at"] is None  # every row rejected: nothing was loaded
    line = next(line for line in nightly.status_text(home).splitlines() if "force_reports" in line)
    assert "1 FAILED or every row rejected, not loaded" in line

    # the roster again under a changed mapping: the first load is superseded, not added
    changed = copy.deepcopy(MAPPING)
    changed["tables"]["officers"]["columns"]["rank"] = {"value": "officer"}
    ingest_export(home, export, parse_mapping(changed), as_of=AS_OF)
    officers = _row(home, "officers")
    assert (officers["rows"], officers["batches"], officers["files_failed"]) == (3, 1, 0)
    force = _row(home, "force_reports")  # the corrected mapping loaded it
    assert (force["batches"], force["files_failed"]) == (1, 0) and force["rows"] > 0


def test_status_says_when_the_last_run_did_not_finish(tmp_path):
    home = Home.resolve(tmp_path / "home")
    log_run(home, "run_started", drop="/drops/drop-001", department="synthetic")
    assert "no nightly run has finished yet" in nightly.status_text(home)
    log_run(home, "run", drop="/drops/drop-001", department="synthetic", outcome="OK")
    log_run(home, "run_started", drop="/drops/drop-002", department="synthetic")
    # killed here: no summary line follows
    text = nightly.status_text(home)
    assert "drop-002 (synthetic): did NOT finish (killed or crashed)" in text
    assert "the last run that finished:" in text
    assert text.splitlines()[-1] == (
        "next: run `middlestep run --drop /drops/drop-002 --department synthetic` again: "
        "the last run did not finish"
    )
    assert nightly.status_document(home)["unfinished_run"]["drop"] == "/drops/drop-002"

    log_run(home, "run", drop="/drops/drop-002", department="synthetic", outcome="OK")
    assert "did NOT finish" not in nightly.status_text(home)
    assert nightly.status_document(home)["unfinished_run"] is None
