"""Fault injection, one fault at a time, each into a fresh copy of a good nightly drop: no night
is lost to one bad file, no row is lost without a word.

Every case checks what the issue asks of it: the rest of the night loads, the bad file or row is
in raw._rejects with its reason (a bad optional roster cell: in raw._warnings, the officer kept),
rows read = rows loaded + rows rejected for every batch, and nothing half-done remains.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from nightly_support import use_test_hash_key

import middlestep.ingest as ingest_module
from middlestep import commands, nightly
from middlestep.gate.roster import roster_checks
from middlestep.ingest import stage
from middlestep.warehouse import Home

FORCE, ROSTER, ARMS = "response_to_resistance_*.csv", "personnel_roster.csv", "randomization.csv"
CODINGS, CALLS, UNITS = "sso_coding_sheet_*.csv", "cad_calls_*.parquet", "cad_units_*.parquet"


@pytest.fixture
def drop(nightly_drops, tmp_path) -> Path:
    """A fresh copy of the first nightly drop (a good export)."""
    use_test_hash_key()
    return Path(shutil.copytree(nightly_drops.drop(1), tmp_path / "drop-001"))


def one(directory: Path, pattern: str) -> Path:
    (path,) = directory.glob(pattern)
    return path


def edit_csv(path: Path, change) -> None:
    """``change(header, rows)`` edits the parsed CSV in place; the file is written back."""
    with path.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    change(header, rows)
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])


def set_cell(path: Path, row: int, column: str, value: str) -> str:
    """Set one cell (data row ``row``, from 0); returns the old value."""
    old = []

    def change(header, rows):
        old.append(rows[row][header.index(column)])
        rows[row][header.index(column)] = value

    edit_csv(path, change)
    return old[0]


def run_ingest(drop: Path, tmp_path: Path):
    home = Home.resolve(tmp_path / "home")
    return home, commands.ingest(home, drop, "synthetic")


def rows(home: Home, sql: str, params=()) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as connection:
        return connection.execute(sql, list(params)).fetchall()


def assert_every_batch_adds_up(home: Home, summary) -> None:
    batches = rows(
        home,
        "select source_file, rows_read, rows_loaded, rows_rejected, "
        "(select count(*) from raw._rejects as r where r.batch_id = b.batch_id), "
        "(select count(*) from raw._rejects as r where r.batch_id not in "
        " (select batch_id from raw._batches)) from raw._batches as b",
    )
    assert len(batches) == len(summary.files)
    for source_file, read, loaded, rejected, recorded, orphans in batches:
        assert read == loaded + rejected == loaded + recorded, source_file
        assert orphans == 0
    for table in ("officers", "force_reports", "calls", "sso_codings"):
        orphans = rows(
            home,
            f"select count(*) from raw.{table} where _batch_id not in "
            "(select batch_id from raw._batches)",
        )
        assert orphans == [(0,)], table


def rejects(home: Home, pattern: str) -> list[tuple]:
    return rows(
        home,
        "select line_number, field, reason from raw._rejects where source_file like ? "
        "order by line_number",
        [f"%{pattern}%"],
    )


def loaded_everything_else(summary, but: str) -> None:
    others = [f for f in summary.files if but not in f.source_file]
    assert others and all(f.status == "loaded" and f.rows_loaded > 0 for f in others)


# --------------------------------------------------------------------------------------------
# a file that cannot be read is one reject; the other files load


def truncate_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def corrupt_data_pages(path: Path) -> None:
    """Overwrite the bytes between the magic number and the footer (the column chunks)."""
    data = bytearray(path.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little")
    for position in range(8, len(data) - footer - 8, 7):
        data[position] = 0x0F
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("pattern", "damage", "reason"),
    [
        (CALLS, truncate_half, "not a readable Parquet file"),
        (UNITS, corrupt_data_pages, "file: "),
        (CALLS, lambda p: p.write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1"), "not a readable"),
        (FORCE, lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0d"), "binary content"),
    ],
    ids=["truncated-parquet", "corrupt-parquet-pages", "empty-parquet-shell", "binary-csv"],
)
def test_an_unreadable_file_is_one_reject_and_the_rest_of_the_night_loads(
    drop, tmp_path, pattern, damage, reason
):
    damaged = one(drop, pattern)
    damage(damaged)
    home, summary = run_ingest(drop, tmp_path)
    (result,) = [f for f in summary.files if damaged.name in f.source_file]
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_rejected) == (
        "failed",
        1,
        0,
        1,
    )
    assert summary.files_failed == 1
    ((line, field, text),) = rejects(home, damaged.name)
    assert (line, field) == (1, None) and reason in text and text.startswith("file: ")
    loaded_everything_else(summary, damaged.name)
    assert_every_batch_adds_up(home, summary)


def test_a_column_named_twice_in_the_header_fails_the_file(drop, tmp_path):
    roster = one(drop, ROSTER)
    roster.write_text(roster.read_text().replace('"SHIFT"', '"GENDER"', 1))
    home, summary = run_ingest(drop, tmp_path)
    (result,) = [f for f in summary.files if "personnel_roster" in f.source_file]
    assert result.status == "failed"
    assert "column GENDER appears more than once" in rejects(home, "personnel_roster")[0][2]
    assert_every_batch_adds_up(home, summary)


def test_the_cli_says_how_many_files_failed_and_exits_1(drop, tmp_path, capsys):
    from middlestep.cli import main

    truncate_half(one(drop, CALLS))
    code = main(
        ["--home", str(tmp_path / "home"), "ingest", str(drop), "--department", "synthetic"]
    )
    printed = capsys.readouterr().out
    assert code == 1 and "1 file FAILED" in printed and "FAILED: file: not a readable" in printed


# --------------------------------------------------------------------------------------------
# row faults: a row reject with line, field and reason


def test_an_oversized_cell_rejects_its_row_only_in_a_mapped_column(drop, tmp_path):
    force = one(drop, FORCE)
    set_cell(force, 0, "FORCE_TYPE", "X" * 200_000)  # mapped
    set_cell(force, 1, "SUBJ_NAME", "Y" * 300_000)  # not mapped: loads
    home, summary = run_ingest(drop, tmp_path)
    assert rejects(home, "response_to_resistance") == [
        (2, "force_type", rejects(home, "response_to_resistance")[0][2])
    ]
    assert "a cell of 200000 characters in column FORCE_TYPE" in rejects(home, "response")[0][2]
    assert_every_batch_adds_up(home, summary)


INTEGER_JUNK = [
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1e400",
    "-1e400",
    "99999999999",
    "0x1F",
    "1_000",
    "1.5",
]
NUMBER_JUNK = ["NaN", "Infinity", "-inf", "1e999", "1,5"]


@pytest.mark.parametrize(
    ("pattern", "column", "field", "expected", "junk"),
    [
        (CODINGS, "Q03_NUM_CMDS", "commands_issued", "an integer", INTEGER_JUNK),
        ("training_log_*.csv", "CREDIT_HRS", "hours", "a number", NUMBER_JUNK),
    ],
    ids=["integer", "number"],
)
def test_numeric_junk_is_a_row_reject(drop, tmp_path, pattern, column, field, expected, junk):
    path = one(drop, pattern)
    for row, value in enumerate(junk):
        set_cell(path, row, column, value)
    home, summary = run_ingest(drop, tmp_path)
    found = rejects(home, path.name)
    assert [(line, name) for line, name, _ in found] == [
        (row + 2, field) for row in range(len(junk))
    ]
    for (_, _, reason), value in zip(found, junk, strict=True):
        assert f"not {expected}: '{value}'" in reason
    assert_every_batch_adds_up(home, summary)


def test_a_padded_integer_loads(drop, tmp_path):
    sheet = one(drop, CODINGS)
    set_cell(sheet, 3, "Q03_NUM_CMDS", " 12 ")
    home, _ = run_ingest(drop, tmp_path)
    assert rejects(home, "sso_coding_sheet") == []
    assert rows(home, "select commands_issued from raw.sso_codings where _source_line = 5") == [
        (12,)
    ]


def test_nan_and_huge_values_in_an_integer_parquet_column_are_row_rejects(drop, tmp_path):
    calls = one(drop, CALLS)
    table = pq.read_table(calls)
    priority = table.column("PRIORITY").to_pylist()
    priority[0], priority[1], priority[2] = float("nan"), 1e300, float("inf")
    table = table.set_column(
        table.schema.get_field_index("PRIORITY"), "PRIORITY", pa.array(priority, pa.float64())
    )
    pq.write_table(table, calls)
    home, summary = run_ingest(drop, tmp_path)
    found = rejects(home, "cad_calls")
    assert [(line, field) for line, field, _ in found] == [(1, "priority")] * 0 + [
        (1, "priority"),
        (2, "priority"),
        (3, "priority"),
    ]
    assert all("not an integer" in reason for _, _, reason in found)
    assert_every_batch_adds_up(home, summary)


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_an_undecodable_byte_rejects_only_when_its_column_is_loaded(drop, tmp_path, encoding):
    force = one(drop, FORCE)
    text = force.read_text().splitlines(keepends=True)
    header = next(csv.reader([text[0]]))
    cells = next(csv.reader([text[1]]))
    cells[header.index("SUBJ_NAME")] = "Zoë Müller"  # not loaded: rejects nothing
    other = next(csv.reader([text[2]]))
    other[header.index("FORCE_TYPE")] = "HÄNDS"  # loaded: its row is rejected
    lines = [text[0], _csv_line(cells), _csv_line(other), *text[3:]]
    force.write_bytes(b"".join(line.encode(encoding) for line in lines))
    home, summary = run_ingest(drop, tmp_path)
    ((line, field, reason),) = rejects(home, "response_to_resistance")
    assert (line, field) == (3, "force_type")
    assert "not valid utf-8 text (wrong file encoding?) in column FORCE_TYPE" in reason
    assert_every_batch_adds_up(home, summary)


def _csv_line(cells: list[str]) -> str:
    import io

    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue()


def test_dates_before_the_mappings_earliest_date_are_rejected(drop, tmp_path):
    force = one(drop, FORCE)
    set_cell(force, 0, "INCIDENT_DTTM", "06/01/1899 10:00:00")
    set_cell(force, 1, "INCIDENT_DTTM", "01/01/0001 00:00:00")
    home, summary = run_ingest(drop, tmp_path)
    found = rejects(home, "response_to_resistance")
    assert [(line, field) for line, field, _ in found] == [(2, "occurred_at"), (3, "occurred_at")]
    assert all("date before 1950-01-01" in reason for _, _, reason in found)
    assert_every_batch_adds_up(home, summary)


# --------------------------------------------------------------------------------------------
# hash what is loaded


def test_a_file_rewritten_during_ingest_is_recorded_with_the_hash_of_the_rows_loaded(
    drop, tmp_path, monkeypatch
):
    force = one(drop, FORCE)
    complete = force.read_bytes()
    n_rows = complete.count(b"\n") - 1
    original = stage.stage_bytes

    def rewritten_while_read(data, *args, **kwargs):
        if data == complete:  # read; now the transfer rewrites it (half of it, so far)
            force.write_bytes(complete[: len(complete) // 2])
        return original(data, *args, **kwargs)

    monkeypatch.setattr(ingest_module, "stage_bytes", rewritten_while_read)
    home, summary = run_ingest(drop, tmp_path)
    ((sha256, read, loaded),) = rows(
        home,
        "select file_sha256, rows_read, rows_loaded from raw._batches where source_file like ?",
        ["%response_to_resistance%"],
    )
    assert sha256 == hashlib.sha256(complete).hexdigest() and read == loaded == n_rows
    # the half-written file on disk has another hash: the next night loads it, not skips it
    monkeypatch.undo()
    again = commands.ingest(home, drop, "synthetic")
    (result,) = [f for f in again.files if "response_to_resistance" in f.source_file]
    assert result.status == "loaded" and result.file_sha256 != sha256


# --------------------------------------------------------------------------------------------
# the roster and the randomization: no silent cascade


def randomized_officer(drop: Path, row: int = 0) -> str:
    with one(drop, ARMS).open(newline="") as handle:
        return list(csv.DictReader(handle))[row]["EMP_NO"]


def roster_row_of(drop: Path, officer: str) -> int:
    with one(drop, ROSTER).open(newline="") as handle:
        return [r["EMP_NO"] for r in csv.DictReader(handle)].index(officer)


ROSTER_JUNK = [("DOB_YR", "nineteen"), ("DOB_YR", "NaN"), ("GENDER", "Q"), ("SEP_DT", "31/31/2024")]


def test_a_bad_optional_roster_cell_is_nulled_with_a_warning_and_keeps_the_officer(drop, tmp_path):
    officers = [randomized_officer(drop, row) for row in range(len(ROSTER_JUNK))]
    lines = []
    for officer, (column, junk) in zip(officers, ROSTER_JUNK, strict=True):
        row = roster_row_of(drop, officer)
        set_cell(one(drop, ROSTER), row, column, junk)
        lines.append((row + 2, junk))
    home, summary = run_ingest(drop, tmp_path)
    assert rejects(home, "") == []
    assert rows(
        home,
        "select count(distinct officer_id) from raw.officers where officer_id in ?",
        [officers],
    ) == [(len(officers),)]
    warnings = rows(home, "select line_number, value from raw._warnings order by 1")
    assert warnings == sorted(lines)
    assert summary.rows_read == summary.rows_loaded
    assert [check.expectation for check in roster_checks(home.warehouse) if not check.success] == []


def test_a_roster_row_rejected_for_a_required_field_fails_the_gate_check(drop, tmp_path):
    officer = randomized_officer(drop)
    set_cell(one(drop, ROSTER), roster_row_of(drop, officer), "HIRE_DT", "someday")
    home, summary = run_ingest(drop, tmp_path)
    failed = {c.expectation: c for c in roster_checks(home.warehouse) if not c.success}
    # their randomization row was rejected in turn ("not on the roster"): the gate check sees it
    (sample,) = failed["trial_assignments_without_rejects"].unexpected_sample
    assert f"officer {officer} is not on the roster" in sample
    assert_every_batch_adds_up(home, summary)


def test_a_blank_or_unknown_arm_is_a_reject_and_fails_the_gate_check(drop, tmp_path):
    for row, arm in enumerate(["", "NA", "Maybe"]):
        set_cell(one(drop, ARMS), row + 2, "GROUP", arm)
    home, summary = run_ingest(drop, tmp_path)
    found = rejects(home, "randomization")
    assert [(line, field) for line, field, _ in found] == [(4, "arm"), (5, "arm"), (6, "arm")]
    assert "unknown code 'Maybe'" in found[2][2] and "required field is empty" in found[0][2]
    failed = [c.expectation for c in roster_checks(home.warehouse) if not c.success]
    assert failed == ["trial_assignments_without_rejects"]
    assert_every_batch_adds_up(home, summary)


def test_a_header_only_roster_keeps_the_officer_check_on(drop, tmp_path):
    roster = one(drop, ROSTER)
    roster.write_text(roster.read_text().splitlines()[0] + "\n")
    home, summary = run_ingest(drop, tmp_path)
    assert any("personnel_roster.csv has no data rows" in w for w in summary.warnings)
    force = [f for f in summary.files if "response_to_resistance" in f.source_file][0]
    assert force.rows_loaded == 0 and force.rows_rejected == force.rows_read > 0
    assert all("is not on the roster" in r for _, _, r in rejects(home, "response_to_resistance"))


def test_a_nightly_run_whose_randomization_lost_an_officer_fails_at_the_gate(drop, tmp_path):
    set_cell(one(drop, ARMS), 0, "GROUP", "")
    outcome = nightly.run_nightly(Home.resolve(tmp_path / "home"), drop, "synthetic")
    assert outcome.exit_code == 1 and " at gate " in outcome.line


# --------------------------------------------------------------------------------------------
# time zones


def test_a_time_zone_aware_parquet_timestamp_keeps_its_instant(drop, tmp_path):
    calls = one(drop, CALLS)
    table = pq.read_table(calls)
    first_call = table.column("CALL_NO")[0].as_py()
    instant = dt.datetime(2024, 3, 10, 6, 30, tzinfo=dt.UTC)  # the night of a DST change
    received = pa.array(
        [instant + dt.timedelta(minutes=i) for i in range(table.num_rows)],
        pa.timestamp("us", "UTC"),
    )
    table = table.set_column(table.schema.get_field_index("RECEIVED_TS"), "RECEIVED_TS", received)
    pq.write_table(table, calls)
    home, _ = run_ingest(drop, tmp_path)
    assert rows(home, "select received_at from raw.calls where call_id = ?", [first_call]) == [
        (instant.replace(tzinfo=None),)
    ]
    other_zone = received.cast(pa.timestamp("us", "America/Chicago"))
    table = table.set_column(table.schema.get_field_index("RECEIVED_TS"), "RECEIVED_TS", other_zone)
    pq.write_table(table, calls)
    home = Home.resolve(tmp_path / "home2")
    commands.ingest(home, drop, "synthetic")
    assert rows(home, "select received_at from raw.calls where call_id = ?", [first_call]) == [
        (instant.replace(tzinfo=None),)
    ]


def test_a_csv_timestamp_with_an_offset_keeps_its_instant(drop, tmp_path):
    force = one(drop, FORCE)
    set_cell(force, 0, "INCIDENT_DTTM", "2024-06-01T10:00:00Z")
    set_cell(force, 1, "INCIDENT_DTTM", "2024-06-01 10:00:00+02:00")
    home, _ = run_ingest(drop, tmp_path)
    assert rows(
        home, "select occurred_at from raw.force_reports where _source_line in (2, 3) order by 1"
    ) == [(dt.datetime(2024, 6, 1, 8, 0),), (dt.datetime(2024, 6, 1, 10, 0),)]


# --------------------------------------------------------------------------------------------
# civilian identifiers never reach the warehouse file


def test_no_raw_civilian_id_is_in_the_bytes_of_the_warehouse_file(nightly_drops, tmp_path):
    """Not in a table, not in a free page, not in the WAL: they are hashed before DuckDB."""
    home = nightly_drops.clean_home(2)
    with (nightly_drops.export / "response_to_resistance.csv").open(newline="") as handle:
        planted = [r["CIV_NO"] for r in csv.DictReader(handle)]
    assert len(planted) > 20 and all(p.startswith("CIV-") for p in planted)
    files = [p for p in home.iterdir() if p.name.startswith("warehouse.duckdb")]
    assert files
    for path in files:
        data = path.read_bytes()
        assert b"CIV-" not in data and "CIV-".encode("utf-16-le") not in data, path.name
    # the scan finds what no SQL reaches: raw values once written to the file (a table since
    # dropped, replaced or rolled back) stay in its free blocks until they are reused
    canary = tmp_path / "canary.duckdb"
    with duckdb.connect(str(canary)) as connection:
        connection.execute(
            "create table t as select ? || i as x from range(300000) as r(i)", ["CIV-"]
        )
        connection.execute("checkpoint")
        connection.execute("drop table t")
        connection.execute("checkpoint")
        assert connection.execute("select count(*) from duckdb_tables()").fetchone() == (0,)
    assert b"CIV-" in canary.read_bytes()


# --------------------------------------------------------------------------------------------
# other encodings and bytes, on the small mapping of tests/test_ingest.py


def tiny_ingest(tmp_path: Path, roster: bytes, encoding: str | None = None):
    from test_ingest import AS_OF, MAPPING, write_export

    from middlestep.ingest import ingest_export
    from middlestep.mapping import parse_mapping

    use_test_hash_key()
    export = write_export(tmp_path / "export")
    (export / "roster.csv").write_bytes(roster)
    mapping = parse_mapping(MAPPING)
    if encoding:
        document = {**MAPPING, "tables": {**MAPPING["tables"]}}
        document["tables"]["officers"] = {**MAPPING["tables"]["officers"], "encoding": encoding}
        mapping = parse_mapping(document)
    home = Home.resolve(tmp_path / "home")
    return home, ingest_export(home, export, mapping, as_of=AS_OF)


def test_a_utf16_file_is_read_when_the_mapping_says_so_and_fails_alone_when_not(tmp_path):
    from test_ingest import ROSTER

    home, summary = tiny_ingest(tmp_path / "a", ROSTER.encode("utf-16"), encoding="utf-16")
    assert summary.files[0].rows_loaded == 3
    home, summary = tiny_ingest(tmp_path / "b", ROSTER.encode("utf-16"))
    roster, force = summary.files
    assert roster.status == "failed" and "binary content" in rejects(home, "roster")[0][2]
    # the force file is read (its officers are not on the failed roster: every row rejected,
    # so it is not recorded as loaded and loads once the roster does)
    assert force.status == "rejected" and force.rows_read == 6 == force.rows_rejected
    home, summary = tiny_ingest(tmp_path / "c", ROSTER.encode("utf-16")[:-1], encoding="utf-16")
    assert summary.files[0].status == "failed"
    assert "not utf-16 text" in rejects(home, "roster")[0][2]


def test_a_nul_character_rejects_a_key_cell_and_nulls_an_optional_roster_cell(tmp_path):
    from test_ingest import ROSTER

    lines = ROSTER.splitlines(keepends=True)
    lines += ["A4,07/07/2018,M,19\x0090\n", "A5,07/07/2018,M,1990\n"]
    lines[1] = lines[1].replace("A1", "A\x001")  # the key: the row is rejected
    filler = "".join(f"B{i},01/01/2019,F,1980\n" for i in range(1000))  # past the first 8 KiB
    home, summary = tiny_ingest(tmp_path, (lines[0] + filler + "".join(lines[1:])).encode())
    found = rejects(home, "roster")
    assert [field for _, field, _ in found] == ["officer_id"]  # a key cell: the row is rejected
    assert "a NUL character in column EMP" in found[0][2]
    assert summary.files[0].rows_read == 1005 and summary.files[0].rows_loaded == 1004
    # an optional roster cell: nulled, the officer loaded, the cell listed in raw._warnings
    assert rows(home, "select birth_year from raw.officers where officer_id = 'A4'") == [(None,)]
    assert rows(home, "select field, reason from raw._warnings where field = 'birth_year'") == [
        ("birth_year", "birth_year: a NUL character in column BORN")
    ]


def test_a_night_with_an_unreadable_file_still_runs_and_exits_0_when_the_gate_passes(
    nightly_drops, tmp_path
):
    home = nightly_drops.copy_home(1, tmp_path / "home")
    drop = Path(shutil.copytree(nightly_drops.drop(2), tmp_path / "drop-002"))
    damaged = sorted(drop.glob("cad_units_*.parquet"))[-1]
    truncate_half(damaged)
    outcome = nightly.run_nightly(Home.resolve(home), drop, "synthetic")
    assert outcome.exit_code == 0, outcome.line
    assert "1 failed" in outcome.line and outcome.details["files_failed"] == 1
    ((line, _, reason),) = rejects(Home.resolve(home), damaged.name)
    assert line == 1 and "not a readable Parquet file" in reason
