"""Ingest opens the warehouse through the warehouse layer: the operator's DuckDB memory cap
(MIDDLESTEP_DUCKDB_MEMORY_LIMIT) and spilling to <home>/tmp hold for it as for the build, and a
cap DuckDB refuses is the one-line error it is elsewhere."""

from __future__ import annotations

import logging

from test_ingest_mapping_language import export, ingest, mapping_with, query

from middlestep.cli import main
from middlestep.warehouse import Home
from middlestep.warehouse.home import MEMORY_LIMIT_ENV


def test_ingest_runs_under_the_operators_memory_cap(tmp_path, monkeypatch, caplog):
    home = Home.resolve(tmp_path / "home")
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "256MB")
    with caplog.at_level(logging.INFO, logger="middlestep.ingest"):
        summary = ingest(home, export(tmp_path / "x"), mapping_with())
    assert [f.status for f in summary.files] == ["loaded", "loaded"]
    assert summary.rows_read == summary.rows_loaded + summary.rows_rejected == 6
    assert query(home, "select count(*) from raw.officers") == [(2,)]
    [said] = [r.getMessage() for r in caplog.records if "memory_limit" in r.getMessage()]
    limit, temp = said.removeprefix("ingest: DuckDB memory_limit ").split(", temp_directory ")
    assert limit.replace(" ", "") in {"244.1MiB", "256.0MB"}  # DuckDB prints it in MiB
    assert temp == str(home.root / "tmp")


def test_a_memory_cap_duckdb_refuses_is_one_line_from_ingest(tmp_path, monkeypatch, capsys):
    directory = export(tmp_path / "chicago_export")
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "garbage")
    args = ["--home", str(tmp_path / "home"), "ingest", str(directory), "--department", "chicago"]
    assert main(args) == 1
    error = capsys.readouterr().err
    assert error.startswith("middlestep ingest: MIDDLESTEP_DUCKDB_MEMORY_LIMIT='garbage' is not")
    assert "Traceback" not in error
