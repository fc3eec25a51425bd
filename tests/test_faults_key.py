"""The civilian hash key: a missing, empty, short, unreadable or changed key is refused with
one line and exit 1 before anything is loaded; `middlestep key init` makes one explicitly."""

from __future__ import annotations

import csv
import os
import stat
from pathlib import Path

import duckdb
import pytest
from test_ingest import MAPPING, write_export

from middlestep.cli import main
from middlestep.ingest import HashKeyError, civilian_key, ingest_export
from middlestep.mapping import parse_mapping
from middlestep.warehouse import Home

GOOD_KEY = "0123456789abcdef-a-key-long-enough-for-32-bytes"


@pytest.fixture
def no_key(monkeypatch):
    monkeypatch.delenv("MIDDLESTEP_HASH_KEY", raising=False)
    monkeypatch.delenv("MIDDLESTEP_HASH_KEY_FILE", raising=False)
    return monkeypatch


def ingest(tmp_path: Path, home: str = "home"):
    export = tmp_path / "export"
    if not export.exists():  # a later night keeps what the test put there
        write_export(export)
    return ingest_export(Home.resolve(tmp_path / home), export, parse_mapping(MAPPING))


def batches(tmp_path: Path, home: str = "home") -> int:
    warehouse = tmp_path / home / "warehouse.duckdb"
    if not warehouse.exists():
        return 0
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute("select count(*) from raw._batches").fetchone()[0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"", "is empty"),
        (b"\n  \n", "is empty"),
        (b"x" * 31, "fewer than the 32"),
        (b"a" * 64, "not random enough"),
        ("directory", "is a directory"),
    ],
    ids=["missing", "empty", "blank", "short", "low-entropy", "unreadable"],
)
def test_a_bad_key_file_is_refused_before_anything_is_loaded(no_key, tmp_path, content, message):
    key_file = tmp_path / "keys" / "hash.key"
    key_file.parent.mkdir()
    if content == "directory":
        key_file.mkdir()
    elif content is not None:
        key_file.write_bytes(content)
    no_key.setenv("MIDDLESTEP_HASH_KEY_FILE", str(key_file))
    with pytest.raises(HashKeyError, match=message) as refused:
        ingest(tmp_path)
    assert "\n" not in str(refused.value) and str(key_file) in str(refused.value)
    assert batches(tmp_path) == 0
    assert not (tmp_path / "home" / "civilian_hash.key").exists()  # no key made instead
    if content is None:
        assert not key_file.exists()


def test_a_short_key_in_the_environment_is_refused(no_key, tmp_path):
    no_key.setenv("MIDDLESTEP_HASH_KEY", "a-test-key-not-a-real-one")
    with pytest.raises(HashKeyError, match="MIDDLESTEP_HASH_KEY has 25 bytes"):
        ingest(tmp_path)
    assert batches(tmp_path) == 0


def test_the_cli_refuses_a_missing_key_file_with_one_line_and_exit_1(no_key, tmp_path, capsys):
    export = tmp_path / "export"
    export.mkdir()
    no_key.setenv("MIDDLESTEP_HASH_KEY_FILE", str(tmp_path / "unmounted" / "hash.key"))
    home = str(tmp_path / "home")
    assert main(["--home", home, "ingest", str(export), "--department", "synthetic"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("middlestep ingest: ")
    assert "hash.key does not exist" in err
    assert batches(tmp_path) == 0
    line = main(["--home", home, "run", "--drop", str(export), "--department", "synthetic"])
    assert line == 1 and "FAILED export at ingest" in capsys.readouterr().out


def test_a_changed_key_is_refused_on_a_later_night(no_key, tmp_path):
    no_key.setenv("MIDDLESTEP_HASH_KEY", GOOD_KEY)
    first = ingest(tmp_path)
    assert first.rows_loaded > 0
    no_key.setenv("MIDDLESTEP_HASH_KEY", GOOD_KEY + "-rotated-by-mistake")
    (tmp_path / "export" / "force.csv").write_text("RPT,EMP,WHEN,LVL,CIV_NO,INJ\nR9,A1,,,,\n")
    with pytest.raises(HashKeyError, match="differs from the one this warehouse"):
        ingest(tmp_path)
    assert batches(tmp_path) == 2
    no_key.setenv("MIDDLESTEP_HASH_KEY", GOOD_KEY)  # the right key goes on
    # the force file is read under the right key (its one row has no date: every row rejected)
    assert [f.status for f in ingest(tmp_path).files] == ["already_loaded", "rejected"]


def test_the_fingerprint_is_keyed_and_is_not_the_key(no_key, tmp_path):
    no_key.setenv("MIDDLESTEP_HASH_KEY", GOOD_KEY)
    ingest(tmp_path)
    warehouse = tmp_path / "home" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        (stored,) = connection.execute("select fingerprint from meta.civilian_hash_key").fetchone()
    assert stored == civilian_key.fingerprint(GOOD_KEY.encode())
    assert GOOD_KEY not in stored and GOOD_KEY.encode() not in warehouse.read_bytes()


def test_without_any_key_configured_a_new_warehouse_gets_one_and_a_later_night_needs_it(
    no_key, tmp_path
):
    summary = ingest(tmp_path)
    key_file = tmp_path / "home" / "civilian_hash.key"
    assert any("made a civilian hash key" in w for w in summary.warnings)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key_file.unlink()  # lost: night 2 must not make a new one silently
    with pytest.raises(HashKeyError, match="does not exist"):
        ingest(tmp_path)
    assert not key_file.exists()


def test_key_init_writes_a_private_random_key_and_never_overwrites(no_key, tmp_path, capsys):
    path = tmp_path / "secrets" / "hash.key"
    assert main(["--home", str(tmp_path / "home"), "key", "init", "--file", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = civilian_key.read_key_file(path)
    assert len(key) == 64 and "fingerprint" in capsys.readouterr().out
    assert main(["--home", str(tmp_path / "home"), "key", "init", "--file", str(path)]) == 1
    assert "never overwritten" in capsys.readouterr().err
    assert civilian_key.read_key_file(path) == key
    no_key.setenv("MIDDLESTEP_HASH_KEY_FILE", str(path))
    assert ingest(tmp_path).rows_loaded > 0
    assert os.environ["MIDDLESTEP_HASH_KEY_FILE"] == str(path)


def test_rotate_rehashes_every_civilian_under_the_new_key_and_the_old_key_is_refused(
    nightly_drops, tmp_path, capsys
):
    from nightly_support import HASH_KEY

    from middlestep.fingerprint import differences, table_fingerprints

    home = nightly_drops.copy_home(2, tmp_path / "home")
    before = table_fingerprints(home / "warehouse.duckdb")
    new_key = tmp_path / "new.key"
    os.environ["MIDDLESTEP_HASH_KEY"] = HASH_KEY
    assert main(["key", "init", "--file", str(new_key)]) == 0
    drops = [str(nightly_drops.drop(1)), str(nightly_drops.drop(2))]
    rotate = ["--home", str(home), "key", "rotate", "--department", "synthetic"]
    assert main([*rotate, "--new-file", str(new_key), drops[1]]) == 1  # drop 1's civilians
    assert "have no identifier in the exports given" in capsys.readouterr().err
    assert table_fingerprints(home / "warehouse.duckdb") == before  # nothing changed
    assert main([*rotate, "--new-file", str(new_key), *drops]) == 0
    assert "re-hashed" in capsys.readouterr().out
    after = table_fingerprints(home / "warehouse.duckdb")
    changed = {d.split(":")[0] for d in differences(after, before)}
    assert changed and all("force_reports" in name for name in changed)
    new = civilian_key.read_key_file(new_key)
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as connection:
        found = connection.execute("select subject_key from raw.force_reports").fetchall()
    stored = {key for (key,) in found}
    with (nightly_drops.export / "response_to_resistance.csv").open() as handle:
        planted = {r["CIV_NO"] for r in csv.DictReader(handle)}
    hashed = stored - {None}
    assert len(hashed) > 20 and hashed <= set(civilian_key.hash_values(new, sorted(planted)))
    with pytest.raises(HashKeyError, match="differs"):  # the old key is refused from now on
        ingest_export(Home.resolve(home), nightly_drops.drop(2), _synthetic())
    os.environ.pop("MIDDLESTEP_HASH_KEY")
    os.environ["MIDDLESTEP_HASH_KEY_FILE"] = str(new_key)
    try:
        summary = ingest_export(Home.resolve(home), nightly_drops.drop(2), _synthetic())
        assert {f.status for f in summary.files} == {"already_loaded"}
    finally:
        os.environ.pop("MIDDLESTEP_HASH_KEY_FILE")
        os.environ["MIDDLESTEP_HASH_KEY"] = HASH_KEY


def _synthetic():
    from middlestep.mapping import load_mapping

    return load_mapping("synthetic")
