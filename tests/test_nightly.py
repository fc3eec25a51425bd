"""Nightly drops and incremental runs: the drops add up to the full export, nightly runs build the
marts a full build does, and a late or corrected record recomputes exactly the months it touches.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil

import duckdb
import pyarrow.parquet as pq
import pytest
from nightly_support import use_test_hash_key

from middlestep import commands, nightly
from middlestep.build import run as sqlmesh_run
from middlestep.fingerprint import differences, table_fingerprints
from middlestep.mapping import load_mapping
from middlestep.warehouse import PROJECT_ROOT, Home

FORCE_FILE = "response_to_resistance*.csv"


def read_rows(path) -> tuple[list[str], list[tuple]]:
    """An export file's header and rows, every cell as the text the department wrote."""
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        columns = table.column_names
        values = [[None if v is None else str(v) for v in table[c].to_pylist()] for c in columns]
        return columns, list(zip(*values, strict=True))
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], [tuple(row) for row in rows[1:]]


def source_key(table_mapping) -> list[str]:
    from middlestep.contract import RAW_TABLES

    by_field = {f.field: f for f in table_mapping.fields}
    return [
        by_field[name].column for name in RAW_TABLES[table_mapping.table].key if name in by_field
    ]


def test_the_drops_add_up_to_the_full_export_latest_version_winning(nightly_drops):
    mapping = load_mapping("synthetic")
    drops = sorted(nightly_drops.drops.glob("drop-*"))
    assert [d.name for d in drops] == ["drop-001", "drop-002"]
    amended = redelivered = overlapping = 0
    for table_mapping in mapping.tables:
        (full_file,) = nightly_drops.export.glob(table_mapping.file)
        header, full_rows = read_rows(full_file)
        key = [header.index(column) for column in source_key(table_mapping)]
        latest: dict[tuple, tuple] = {}
        versions: dict[tuple, set] = {}
        seen_hashes = set()
        for drop in drops:
            for path in sorted(drop.glob(table_mapping.file)):
                content = path.read_bytes()
                if content in seen_hashes:
                    redelivered += 1
                    continue  # ingest skips a file it has loaded (same sha256)
                seen_hashes.add(content)
                drop_header, rows = read_rows(path)
                assert drop_header == header, path
                for row in rows:
                    row_key = tuple(row[i] for i in key)
                    overlapping += row_key in latest and latest[row_key] == row
                    latest[row_key] = row
                    versions.setdefault(row_key, set()).add(row)
        assert sorted(latest.values()) == sorted(full_rows), table_mapping.table
        amended += sum(len(found) > 1 for found in versions.values())
    assert amended > 0  # force reports amended in a later drop
    assert redelivered > 0  # byte-identical re-deliveries
    assert overlapping > 0  # the CAD's overlapping re-exports


def test_nightly_runs_report_one_line_and_build_the_marts_of_a_full_build(nightly_drops, tmp_path):
    for number in (1, 2):
        outcome = nightly_drops.outcome(number)
        assert outcome["exit_code"] == 0, outcome["line"]
        assert outcome["line"].startswith(f"middlestep run: OK drop-00{number}: loaded ")
        assert "gate passed; report " in outcome["line"]
    assert "already loaded" in nightly_drops.outcome(2)["line"]
    use_test_hash_key()
    home = Home.resolve(tmp_path / "full")
    commands.ingest(home, nightly_drops.export, "synthetic")
    commands.build(home)
    full = table_fingerprints(home.warehouse, ("intermediate", "marts"))
    incremental = {
        name: value
        for name, value in nightly_drops.clean_fingerprints(2).items()
        if name.startswith(("intermediate.", "marts."))
    }
    assert len(full) >= 16
    assert differences(full, incremental) == []


def physical_table(connection, view: str) -> str:
    schema, name = view.split(".")
    sql = connection.execute(
        "select sql from duckdb_views() where schema_name = ? and view_name = ?", [schema, name]
    ).fetchone()[0]
    return re.search(r'"?(sqlmesh__\w+)"?\."?(\w+)"?', sql).group(0)


@pytest.fixture
def late_drop(nightly_drops, tmp_path):
    """After both drops: one force report of June 2024 arrives late, and one of September 2024
    is corrected (same report id and officer, another force level)."""
    home = Home.resolve(nightly_drops.copy_home(2, tmp_path / "home"))
    (full_file,) = nightly_drops.export.glob(FORCE_FILE)
    header, rows = read_rows(full_file)
    at = {name: header.index(name) for name in ("RTR_NO", "EMP_NO", "INCIDENT_DTTM", "FORCE_LVL")}
    september = next(r for r in rows if re.match(r"09/\d\d/2024", r[at["INCIDENT_DTTM"]]))
    corrected = list(september)
    corrected[at["FORCE_LVL"]] = "L3" if september[at["FORCE_LVL"]] != "L3" else "L1"
    late = list(rows[0])
    late[at["RTR_NO"]] = "UOF-LATE-1"
    late[at["INCIDENT_DTTM"]] = "06/15/2024 13:00:00"
    drop = tmp_path / "drop-late"
    drop.mkdir()
    with (drop / "response_to_resistance_20260115.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([header, late, corrected])
    return home, drop, late, september, corrected, at


def test_a_late_and_a_corrected_record_recompute_exactly_the_months_they_touch(late_drop):
    home, drop, late, september, corrected, at = late_drop
    model = "intermediate.int_force_reports_by_officer_month"
    with duckdb.connect(str(home.warehouse)) as connection:
        table = physical_table(connection, model)
        # mark every built month: a month recomputed by the next run loses the mark
        connection.execute(f"update {table} set force_reports = force_reports + 1000")
    use_test_hash_key()
    commands.ingest(home, drop, "synthetic")
    record = sqlmesh_run(home.warehouse, PROJECT_ROOT)
    assert record.restated_tables == ("force_reports",)
    assert record.restated_from == "2024-06-01"
    with duckdb.connect(str(home.warehouse), read_only=True) as connection:
        marked = connection.execute(
            f"select min(month_start), max(month_start) from {table} where force_reports >= 1000"
        ).fetchone()
        recomputed = connection.execute(
            f"select min(month_start), count(*) from {table} where force_reports < 1000"
        ).fetchone()
        assert marked[1] < dt.date(2024, 6, 1)  # months before the late record: not recomputed
        assert recomputed[0] >= dt.date(2024, 6, 1) and recomputed[1] > 0
        late_month = connection.execute(
            f"select force_reports from {model} where officer_id = ? and month_start = ?",
            [late[at["EMP_NO"]], dt.date(2024, 6, 1)],
        ).fetchone()
        assert late_month is not None and late_month[0] >= 1
        # the correction: staging holds the latest version, raw keeps both
        key = [september[at["RTR_NO"]], september[at["EMP_NO"]]]
        staged = connection.execute(
            "select force_level from staging.stg_force_reports "
            "where report_id = ? and officer_id = ?",
            key,
        ).fetchone()
        assert staged == (int(corrected[at["FORCE_LVL"]][1]),)
        history = connection.execute(
            "select force_level, _batch_id from raw.force_reports "
            "where report_id = ? and officer_id = ? order by _batch_id",
            key,
        ).fetchall()
        assert len(history) >= 2
        assert history[-1][0] == staged[0] and history[-2][0] == int(september[at["FORCE_LVL"]][1])
    shutil.rmtree(home.root)


def test_status_shows_the_last_run_its_drops_freshness_and_what_to_do_next(nightly_drops):
    text = nightly.status_text(Home.resolve(nightly_drops.clean_home(2)))
    assert "last run: " in text and "drop-002 (synthetic): OK" in text
    assert "drops run: drop-001 OK, drop-002 OK" in text
    assert re.search(r"rows loaded \d+, rejected 0", text)
    assert "gate passed" in text
    calls = next(line for line in text.splitlines() if line.strip().startswith("calls "))
    assert "2026-01-01" in calls and "loaded 20" in calls  # latest call; when it was loaded
    assert text.splitlines()[-1].startswith("next: nothing")


def test_a_failed_run_says_where_why_and_what_next_and_status_repeats_it(nightly_drops, tmp_path):
    home = Home.resolve(nightly_drops.copy_home(2, tmp_path / "home"))
    outcome = nightly.run_nightly(home, tmp_path / "drop-missing", "synthetic")
    assert outcome.exit_code == 1
    assert outcome.line.startswith("middlestep run: FAILED drop-missing at ingest: ")
    assert "does not exist; next: " in outcome.line and "\n" not in outcome.line
    text = nightly.status_text(home)
    assert "drop-missing (synthetic): FAILED" in text
    assert text.splitlines()[-1] == "next: " + outcome.details["next"]


def test_a_drop_run_again_loads_nothing_and_skips_the_gate_and_report(nightly_drops, tmp_path):
    use_test_hash_key()
    home = Home.resolve(nightly_drops.copy_home(2, tmp_path / "home"))
    before = table_fingerprints(home.warehouse)
    outcome = nightly.run_nightly(home, nightly_drops.drop(2), "synthetic")
    assert outcome.exit_code == 0, outcome.line
    assert "loaded 0 rejected 0 (0 files loaded, 11 already loaded)" in outcome.line
    assert "(nothing new: already gated and reported)" in outcome.line
    assert set(outcome.details["step_seconds"]) == {"lock", "ingest", "build"}
    assert differences(table_fingerprints(home.warehouse), before) == []
