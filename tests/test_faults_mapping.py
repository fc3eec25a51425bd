"""Mappings are data, not SQL; files come from inside the export; readers need no write access."""

from __future__ import annotations

import builtins
import copy
from pathlib import Path

import duckdb
import pytest
from nightly_support import use_test_hash_key
from test_ingest import AS_OF, MAPPING, ROSTER, write_export

from middlestep.ingest import ingest_export
from middlestep.ingest.sqltext import identifier, literal
from middlestep.mapping import MappingError, load_mapping, parse_mapping
from middlestep.warehouse import Home, connect, reader_lock

CRAFTED = "EMP\" from staged_rows; copy raw.officers to 'stolen.csv'; --"


def query(home: Home, sql: str, params=()):
    with duckdb.connect(str(home.warehouse), read_only=True) as connection:
        return connection.execute(sql, list(params)).fetchall()


def roster_only(columns: dict) -> dict:
    mapping = copy.deepcopy(MAPPING)
    mapping["tables"] = {"officers": {"file": "roster.csv", "columns": columns}}
    return mapping


def test_identifiers_and_literals_are_escaped():
    assert identifier('a"b') == '"a""b"' and literal("it's") == "'it''s'"
    with duckdb.connect() as connection:
        name = 'x"; drop table t; --'
        connection.execute(f"create table t ({identifier(name)} int)")
        found = connection.execute(
            "select column_name from duckdb_columns() where table_name = 't'"
        ).fetchall()
        assert found == [(name,)]


def test_a_column_name_with_quotes_loads_and_a_crafted_one_runs_no_sql(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    use_test_hash_key()
    export = tmp_path / "export"
    export.mkdir()
    (export / "roster.csv").write_text('"Emp ""No""",HIRED\nA1,01/15/2010\nA2,03/02/2015\n')
    mapping = roster_only(
        {"officer_id": 'Emp "No"', "appointed_on": {"column": "HIRED", "format": "%m/%d/%Y"}}
    )
    home = Home.resolve(tmp_path / "home")
    summary = ingest_export(home, export, parse_mapping(mapping), as_of=AS_OF)
    assert summary.rows_loaded == 2
    crafted = roster_only({"officer_id": "EMP", "unit": CRAFTED, "appointed_on": "HIRED"})
    (export / "roster.csv").write_text(
        'EMP,HIRED,"' + CRAFTED.replace('"', '""') + '"\nB1,2012-01-01,unit 7\n'
    )
    summary = ingest_export(home, export, parse_mapping(crafted), as_of=AS_OF)
    assert summary.rows_loaded == 1
    assert query(home, "select unit from raw.officers where officer_id = 'B1'") == [("unit 7",)]
    assert not list(tmp_path.rglob("stolen.csv"))


@pytest.mark.parametrize("pattern", ["../outside.csv", "/etc/passwd", "a/../../x.csv", "~/x.csv"])
def test_a_file_pattern_outside_the_export_is_a_mapping_error(pattern):
    mapping = copy.deepcopy(MAPPING)
    mapping["tables"]["officers"]["file"] = pattern
    with pytest.raises(MappingError, match="inside the export directory"):
        parse_mapping(mapping)


def test_a_symlink_leaving_the_drop_is_refused_with_a_warning(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "roster.csv").write_text(ROSTER)
    export = tmp_path / "export"
    export.mkdir()
    (export / "roster.csv").symlink_to(outside / "roster.csv")
    (export / "force.csv").write_text("RPT,EMP,WHEN,LVL,CIV_NO,INJ\n")
    home = Home.resolve(tmp_path / "home")
    use_test_hash_key()
    summary = ingest_export(home, export, parse_mapping(MAPPING), as_of=AS_OF)
    assert [f.table for f in summary.files] == ["force_reports"]
    assert any("leads out of the export directory" in w for w in summary.warnings)
    assert query(home, "select count(*) from raw.officers") == [(0,)]


def test_a_symlink_inside_the_drop_is_followed(tmp_path):
    export = write_export(tmp_path / "export")
    (export / "roster.csv").rename(export / "roster-2024.csv")
    (export / "roster.csv").symlink_to(export / "roster-2024.csv")
    use_test_hash_key()
    summary = ingest_export(
        Home.resolve(tmp_path / "home"), export, parse_mapping(MAPPING), as_of=AS_OF
    )
    assert summary.files[0].rows_read == 3


@pytest.mark.parametrize("name", ["../../etc/x", "Synthetic", "a b", "x.yaml", "", "a/b"])
def test_a_department_name_outside_a_z_0_9_underscore_is_refused(name):
    with pytest.raises(MappingError, match=r"lower-case letters, digits and _ only"):
        load_mapping(name)


def test_the_cli_refuses_a_department_path(tmp_path, capsys):
    from middlestep.cli import main

    code = main(["--home", str(tmp_path), "ingest", str(tmp_path), "--department", "../../x"])
    assert code == 1 and "lower-case letters" in capsys.readouterr().err


def test_a_department_id_must_be_a_plain_name():
    mapping = copy.deepcopy(MAPPING)
    mapping["department_id"] = "x'; drop table raw.officers; --"
    with pytest.raises(MappingError, match=r"must match \[a-z0-9_\]\+"):
        parse_mapping(mapping)


def test_a_civilian_identifier_column_feeds_nothing_else_and_takes_no_value_map():
    mapping = copy.deepcopy(MAPPING)
    mapping["tables"]["force_reports"]["columns"]["call_id"] = "CIV_NO"
    with pytest.raises(MappingError, match="civilian identifier and cannot also feed call_id"):
        parse_mapping(mapping)
    mapping = copy.deepcopy(MAPPING)
    mapping["tables"]["force_reports"]["columns"]["subject_key"] = {
        "column": "CIV_NO",
        "values": {"a": "b"},
    }
    with pytest.raises(MappingError, match="subject_key is a civilian identifier"):
        parse_mapping(mapping)


def test_readers_work_on_a_home_they_cannot_write(nightly_drops, tmp_path, monkeypatch, capsys):
    """status (and analyze, report: the same reader lock) open the lock file read-only: a
    read-only home (a snapshot, another user's warehouse) can be read."""
    from middlestep.cli import main

    home = nightly_drops.copy_home(1, tmp_path / "home")
    real_open = builtins.open

    def read_only_home(file, mode="r", *args, **kwargs):
        if Path(str(file)).resolve().is_relative_to(home.resolve()) and set(mode) & set("wax+"):
            raise PermissionError(13, "Read-only file system", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", read_only_home)
    assert main(["--home", str(home), "status"]) == 0
    assert "last run:" in capsys.readouterr().out
    with reader_lock(Home.resolve(home)), connect(home / "warehouse.duckdb", read_only=True) as db:
        assert db.execute("select count(*) from marts.dim_officers").fetchone()[0] > 0
    (home / "writer.lock").unlink()  # no lock file, none can be made: still readable
    assert main(["--home", str(home), "status"]) == 0
