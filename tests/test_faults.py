"""Fault injection: what a real department's exports and a real machine do to a nightly run.

* Bad exports: every fault is rejected (or warned about) with file, line, field and reason, and
  nothing is lost: rows read = rows loaded + rows rejected for every file.
* Crashes: a run killed with SIGKILL at any point (inside an ingest transaction, inside SQLMesh's
  backfill, after SQLMesh recorded its environment but before it finished, inside the gate) and
  run again ends with every table's content hash equal to a clean run's.
* One writer: a second run while one runs exits 75 with a clear message, never DuckDB's lock error.
* Privacy: no planted civilian identifier or name reaches any table or view of the warehouse.

One small synthetic department in two nightly drops (tests/nightly_support.py), run cleanly once
per session, is the reference every crash is compared with.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from nightly_support import use_test_hash_key

from middlestep import commands, nightly
from middlestep.cli import main
from middlestep.fingerprint import differences, table_fingerprints
from middlestep.warehouse import Home, writer_lock
from middlestep.warehouse.readers import rejects_summary

CRASH = Path(__file__).parent / "_crash.py"
RUN_TIMEOUT_S = 600


# --------------------------------------------------------------------------------------------
# bad exports


def rewrite(path: Path, change) -> dict[str, int]:
    """Rewrite a CSV file with ``change(header, rows)``, which returns {fault: data row index};
    returns {fault: line number} (the header is line 1)."""
    with path.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    faults = change(header, rows)
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    return {fault: index + 2 for fault, index in faults.items()}


def one(directory: Path, pattern: str) -> Path:
    (path,) = directory.glob(pattern)
    return path


def break_force_reports(header, rows) -> dict[str, int]:
    at = {name: header.index(name) for name in ("EMP_NO", "INCIDENT_DTTM", "FORCE_TYPE")}
    rows[0][at["INCIDENT_DTTM"]] = "31/31/2024 99:00:00"
    rows[1][at["INCIDENT_DTTM"]] = "01/01/2099 10:00:00"
    rows[2][at["FORCE_TYPE"]] = "LASSO"
    rows[3][at["EMP_NO"]] = "00000000"
    rows[5] = list(rows[4])
    return {
        "unparseable date": 0,
        "date in the future": 1,
        "unknown code": 2,
        "officer not on the roster": 3,
        "duplicate key within a file": 5,
    }


@pytest.fixture(scope="module")
def faulty(nightly_drops, tmp_path_factory):
    """The first drop with every kind of fault a department's export has, ingested once."""
    root = tmp_path_factory.mktemp("faulty")
    export = root / "drop-faulty"
    shutil.copytree(nightly_drops.drop(1), export)
    force = one(export, "response_to_resistance*.csv")
    lines = rewrite(force, break_force_reports)
    # the same report in a second file, corrected: a later version, not a duplicate
    header, *rows = list(csv.reader(force.open(newline="")))
    level = header.index("FORCE_LVL")
    correction = list(rows[6])
    correction[level] = "L3" if correction[level] != "L3" else "L1"
    with (export / "response_to_resistance_zz_amended.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([header, correction])
    sheet = one(export, "sso_coding_sheet*.csv")
    lines |= rewrite(sheet, break_a_count)
    text = sheet.read_text()
    cut = text.rindex("\n", 0, len(text) - 1) + 12
    sheet.write_text(text[:cut])  # a transfer that stopped in the middle of the last line
    lines["truncated file"] = text[:cut].count("\n") + 1
    complaints = one(export, "complaints*.csv")
    rewrite(complaints, lambda h, rows: _drop_column(h, rows, "ALLEGATION"))
    videos = one(export, "bwc_inventory*.csv")
    videos.write_text(videos.read_text().replace("REC_START", "RECORDING_START", 1))
    training = one(export, "training_log*.csv")
    rewrite(training, add_a_column)
    roster = one(export, "personnel_roster*.csv")
    roster.write_bytes(b"\xef\xbb\xbf" + roster.read_bytes())
    units = one(export, "unit_history*.csv")
    units.write_bytes(units.read_text().replace("Precinct 1", "Précinct 1").encode("latin-1"))
    (export / "training_log_zz_empty.csv").write_bytes(b"")
    (export / "sso_coding_sheet_zz_image.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0d")
    misplaced = export / "cad"
    misplaced.mkdir()
    for path in export.glob("cad_units*.parquet"):
        path.rename(misplaced / path.name)
    use_test_hash_key()
    home = Home.resolve(root / "home")
    summary = commands.ingest(home, export, "synthetic")
    return home, export, summary, lines


def break_a_count(header, rows) -> dict[str, int]:
    rows[0][header.index("Q03_NUM_CMDS")] = "three"
    return {"wrong type": 0}


def add_a_column(header, rows) -> dict[str, int]:
    for row in [header, *rows]:
        row.append("NOTES" if row is header else "a note")
    return {}


def _drop_column(header, rows, name) -> dict:
    index = header.index(name)
    for row in [header, *rows]:
        del row[index]
    return {}


def rejects_of(home: Home, pattern: str) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as connection:
        return connection.execute(
            "select line_number, field, reason from raw._rejects where source_file like ? "
            "order by line_number",
            [f"%{pattern}%"],
        ).fetchall()


def records_in(path: Path) -> int:
    """What ingest must account for: the data records of a file (1 for a binary file)."""
    if path.suffix == ".parquet":
        return pq.read_metadata(path).num_rows
    content = path.read_bytes()
    if b"\x00" in content[:8192]:
        return 1
    text = content.decode("utf-8", errors="replace")
    return max(0, sum(1 for row in csv.reader(text.splitlines()) if row) - 1)


def test_every_line_of_every_file_is_loaded_or_rejected(faulty):
    home, export, _, _ = faulty
    with duckdb.connect(str(home.warehouse), read_only=True) as connection:
        batches = connection.execute(
            "select source_file, rows_read, rows_loaded, rows_rejected, "
            "(select count(*) from raw._rejects as r where r.batch_id = b.batch_id) "
            "from raw._batches as b"
        ).fetchall()
    assert len(batches) == len(list(export.glob("*.*")))
    for source_file, read, loaded, rejected, reject_rows in batches:
        assert read == loaded + rejected == loaded + reject_rows, source_file
        assert read == records_in(export.parent / source_file), source_file


@pytest.mark.parametrize(
    ("fault", "field", "reason"),
    [
        ("unparseable date", "occurred_at", "not a timestamp in format"),
        ("date in the future", "occurred_at", "date in the future"),
        ("unknown code", "force_type", "unknown code 'LASSO'"),
        ("officer not on the roster", "officer_id", "officer 00000000 is not on the roster"),
        ("duplicate key within a file", "key", "duplicate key within the file (first at line"),
    ],
)
def test_bad_force_report_lines_are_rejected_with_line_field_and_reason(
    faulty, fault, field, reason
):
    home, _, _, lines = faulty
    rejects = {line: (f, r) for line, f, r in rejects_of(home, "response_to_resistance_2")}
    assert rejects[lines[fault]][0] == field
    assert reason in rejects[lines[fault]][1]
    assert len(rejects) == 5


def test_wrong_types_and_truncated_lines_are_rejected(faulty):
    home, _, _, lines = faulty
    rejects = {line: (f, r) for line, f, r in rejects_of(home, "sso_coding_sheet_2")}
    assert rejects[lines["wrong type"]] == ("commands_issued", rejects[2][1])
    assert "not an integer: 'three'" in rejects[2][1]
    assert "truncated or malformed line" in rejects[lines["truncated file"]][1]
    assert len(rejects) == 2


def test_missing_and_renamed_columns_reject_every_line_naming_the_column(faulty):
    home, _, _, _ = faulty
    complaints = rejects_of(home, "complaints")
    assert complaints and all("missing column ALLEGATION" in r for _, _, r in complaints)
    videos = rejects_of(home, "bwc_inventory")
    assert videos and all("missing column REC_START" in r for _, _, r in videos)
    assert [line for line, _, _ in videos] == list(range(2, len(videos) + 2))


def test_extra_columns_and_a_byte_order_mark_load_every_row(faulty):
    home, _, summary, _ = faulty
    by_file = {Path(f.source_file).name: f for f in summary.files}
    training = next(f for name, f in by_file.items() if name.startswith("training_log_2"))
    roster = by_file["personnel_roster.csv"]
    assert training.rows_read > 0 and training.rows_rejected == 0
    assert roster.rows_read == roster.rows_loaded == 32


def test_a_wrongly_encoded_file_rejects_each_undecodable_line_with_its_number(faulty):
    home, export, summary, _ = faulty
    units = next(f for f in summary.files if "unit_history" in f.source_file)
    text = one(export, "unit_history*.csv").read_bytes().decode("latin-1").splitlines()
    bad_lines = [number for number, line in enumerate(text, start=1) if "é" in line]
    rejects = rejects_of(home, "unit_history")
    assert bad_lines and [line for line, _, _ in rejects] == bad_lines
    assert all("not valid utf-8 text (wrong file encoding?)" in r for _, _, r in rejects)
    assert units.rows_loaded == units.rows_read - len(bad_lines) > 0


def test_empty_binary_and_misplaced_files_are_reported(faulty):
    home, _, summary, _ = faulty
    empty = next(f for f in summary.files if f.source_file.endswith("zz_empty.csv"))
    assert (empty.status, empty.rows_read) == ("loaded", 0)
    assert any("zz_empty.csv has no data rows" in warning for warning in summary.warnings)
    assert any("'cad_units*.parquet'" in w and "no such file" in w for w in summary.warnings)
    (image,) = rejects_of(home, "zz_image.csv")
    assert image[0] == 1 and "not a text CSV file" in image[2]


def test_a_key_repeated_in_a_later_file_is_kept_as_a_new_version(faulty):
    home, _, _, _ = faulty
    with duckdb.connect(str(home.warehouse), read_only=True) as connection:
        versions = connection.execute(
            "select report_id, officer_id, count(distinct _batch_id), count(distinct force_level) "
            "from raw.force_reports group by 1, 2 having count(*) > 1"
        ).fetchall()
    assert len(versions) == 1 and versions[0][2:] == (2, 2)


def test_the_report_lists_what_was_rejected_file_reason_and_rows(faulty):
    from middlestep.report.view import table

    home, _, summary, _ = faulty
    rejects = rejects_summary(home)
    assert {"source_file", "reason", "rows"} <= set(rejects.columns)
    assert rejects["rows"].sum() == summary.rows_rejected
    assert any("missing column ALLEGATION" in reason for reason in rejects["reason"])
    rendered = table(rejects)
    assert "source file" in rendered.columns and len(rendered.rows) == len(rejects)


# --------------------------------------------------------------------------------------------
# crashes


def run_command(home: Path, drop: Path) -> list[str]:
    return ["--home", str(home), "run", "--drop", str(drop), "--department", "synthetic"]


def run_killed_at(point: str, home: Path, drop: Path) -> None:
    """`middlestep run` in a process that SIGKILLs itself at ``point`` (tests/_crash.py)."""
    command = [sys.executable, str(CRASH), point, "--", *run_command(home, drop)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode == -signal.SIGKILL, f"not killed at {point}:\n{done.stderr[-2000:]}"


def start_run(home: Path, drop: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "middlestep.cli", *run_command(home, drop)]
    return subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def wait_for(process: subprocess.Popen, marker: str) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    for line in process.stderr:
        if marker in line:
            return
        assert time.monotonic() < deadline
    raise AssertionError(f"the run ended before {marker!r}")


def rerun_and_compare(home: Path, drop: Path, clean: dict[str, str]) -> None:
    outcome = nightly.run_nightly(Home.resolve(home), drop, "synthetic")
    assert outcome.exit_code == 0, outcome.line
    assert differences(table_fingerprints(home / "warehouse.duckdb"), clean) == []


def test_a_first_run_killed_inside_sqlmesh_recovers_to_the_clean_warehouse(nightly_drops, tmp_path):
    use_test_hash_key()
    home, drop = tmp_path / "home", nightly_drops.drop(1)
    run_killed_at("backfill", home, drop)  # SQLMesh's first plan: some models built, not all
    run_killed_at("environment", home, drop)  # environment recorded, views not yet updated
    rerun_and_compare(home, drop, nightly_drops.clean_fingerprints(1))


def test_a_run_killed_in_ingest_sqlmesh_and_gate_recovers_to_the_clean_warehouse(
    nightly_drops, tmp_path
):
    use_test_hash_key()
    home = nightly_drops.copy_home(1, tmp_path / "home")
    drop = nightly_drops.drop(2)
    # kill -9 from outside, while the CAD's officer file is being loaded
    process = start_run(home, drop)
    wait_for(process, "ingesting cad_units")
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as connection:
        partial = connection.execute(
            "select count(*) from raw.call_officers where _batch_id not in "
            "(select batch_id from raw._batches)"
        ).fetchone()[0]
    assert partial == 0  # the killed file's transaction left nothing behind
    run_killed_at("intervals", home, drop)  # SQLMesh recorded some intervals of its plan
    run_killed_at("gate", home, drop)
    rerun_and_compare(home, drop, nightly_drops.clean_fingerprints(2))


# --------------------------------------------------------------------------------------------
# one writer


def test_a_second_writer_exits_75_and_a_reader_waits(nightly_drops, tmp_path, capsys):
    use_test_hash_key()
    home = nightly_drops.copy_home(1, tmp_path / "home")
    process = start_run(home, nightly_drops.drop(2))
    try:
        wait_for(process, "run: ingest")
        assert main(run_command(home, nightly_drops.drop(2))) == 75
        line = capsys.readouterr().out.strip()
        assert line.startswith("middlestep run: BUSY drop-002 at lock: another middlestep")
        assert "try again later or pass a longer --wait" in line
        assert main(["--home", str(home), "status"]) == 75
        assert "is writing to" in capsys.readouterr().err
        assert main(["--home", str(home), "build"]) == 75
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    # a reader with --wait waits for the writer to finish
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITER_LOCK, str(home)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "locked"
    started = time.monotonic()
    assert main(["--home", str(home), "status", "--wait", "60"]) == 0
    assert time.monotonic() - started >= 1.0
    assert "last run:" in capsys.readouterr().out
    holder.wait(timeout=60)


HOLD_WRITER_LOCK = """
import sys, time
from middlestep.warehouse import Home, writer_lock
from middlestep.warehouse.readers import rejects_summary
with writer_lock(Home.resolve(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(2)
"""


def test_the_writer_lock_is_released_when_its_holder_is_killed(tmp_path):
    home = Home.resolve(tmp_path / "home")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITER_LOCK.replace("2)", "60)"), str(home.root)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    with writer_lock(home, timeout_s=5):
        pass


# --------------------------------------------------------------------------------------------
# privacy


def text_cells_matching(warehouse: Path, patterns: tuple[str, ...]) -> list[str]:
    """Every table and view of every schema (SQLMesh's physical tables too) whose text
    columns hold one of ``patterns``, and every column named like a person's name."""
    found = []
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        columns = connection.execute(
            "select table_schema, table_name, column_name, data_type "
            "from information_schema.columns where table_catalog = current_database()"
        ).fetchall()
        schemas = {schema for schema, _, _, _ in columns}
        assert "raw" in schemas
        assert "sqlmesh__marts" in schemas or "marts" not in schemas  # physical tables too
        for schema, table, column, data_type in columns:
            # a person's name column: anything named *name* in the data (SQLMesh's state, in
            # schema sqlmesh, names models and environments; units and tables have names too)
            if "name" in column.lower() and schema != "sqlmesh":
                if column not in ("unit_name", "table_name"):
                    found.append(f"{schema}.{table}.{column}: a name column")
            if data_type.upper() not in ("VARCHAR", "TEXT", "JSON"):
                continue
            condition = " or ".join(f'"{column}" like ?' for _ in patterns)
            hits = connection.execute(
                f'select count(*) from "{schema}"."{table}" where {condition}',
                [f"%{pattern}%" for pattern in patterns],
            ).fetchone()[0]
            if hits:
                found.append(f"{schema}.{table}.{column}: {hits} rows")
    return found


def test_no_civilian_identifier_or_name_reaches_any_table(nightly_drops, faulty, tmp_path):
    planted_here = tmp_path / "planted.duckdb"
    with duckdb.connect(str(planted_here)) as connection:  # the scan finds what is there
        connection.execute("create schema raw")
        connection.execute("create table raw.t as select 'x CIVILIAN-1' as subject_name")
    assert len(text_cells_matching(planted_here, ("CIV-", "CIVILIAN-"))) == 2
    (force_file,) = nightly_drops.export.glob("response_to_resistance*.csv")
    with force_file.open(newline="") as handle:
        planted = list(csv.DictReader(handle))
    assert planted[0]["CIV_NO"].startswith("CIV-")
    assert planted[0]["SUBJ_NAME"].startswith("CIVILIAN-")
    # the planted identifiers and names, by their prefixes (every one of them starts so)
    assert all(r["CIV_NO"].startswith("CIV-") for r in planted)
    for home in (nightly_drops.clean_home(2), faulty[0].root):
        assert text_cells_matching(home / "warehouse.duckdb", ("CIV-", "CIVILIAN-")) == []
