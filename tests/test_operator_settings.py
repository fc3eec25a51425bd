"""An operator's bad setting is one line naming the setting, never a traceback: a memory cap
DuckDB does not read (`MIDDLESTEP_DUCKDB_MEMORY_LIMIT=garbage` was a ParserException traceback
from `status`, `export`, ...) and a `--project` that is not a copy of the project (SQLMesh's
own advice was to run `sqlmesh -p`)."""

from __future__ import annotations

from middlestep.cli import main
from middlestep.warehouse import Home, connect


def test_a_memory_limit_duckdb_refuses_names_the_variable(tmp_path, monkeypatch, capsys):
    home = Home.resolve(tmp_path / "home").ensure()
    connect(home.warehouse).close()
    monkeypatch.setenv("MIDDLESTEP_DUCKDB_MEMORY_LIMIT", "garbage")
    assert main(["status", "--home", str(home.root)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("middlestep status: MIDDLESTEP_DUCKDB_MEMORY_LIMIT='garbage' is not")
    assert "Traceback" not in error
    monkeypatch.setenv("MIDDLESTEP_DUCKDB_MEMORY_LIMIT", "512MB")
    # and the warehouse file of an ingest killed before it made the raw tables reads as empty
    assert main(["status", "--home", str(home.root)]) == 0


def test_a_project_that_is_not_one_is_named(tmp_path, capsys):
    home = Home.resolve(tmp_path / "home").ensure()
    connect(home.warehouse).close()
    missing = tmp_path / "no-such-project"
    assert main(["build", "--home", str(home.root), "--project", str(missing)]) == 1
    assert f"--project (or $MIDDLESTEP_PROJECT) {missing}: no such directory" in (
        capsys.readouterr().err
    )
    assert main(["build", "--home", str(home.root), "--project", str(tmp_path)]) == 1
    assert "no sqlmesh.yaml there" in capsys.readouterr().err


def test_a_run_given_a_file_for_its_drop_says_so_without_a_traceback(tmp_path, caplog, capsys):
    drop = tmp_path / "drop-001.csv"
    drop.write_text("not a directory\n")
    home = tmp_path / "home"
    assert main(["run", "--drop", str(drop), "--department", "synthetic", "--home", str(home)]) == 1
    assert f"export directory {drop} is a file, not a directory" in capsys.readouterr().out
    failed = [r for r in caplog.records if r.getMessage().startswith("run: ingest failed")]
    assert failed and all(record.exc_info is None for record in failed)
