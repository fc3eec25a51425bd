"""SQLMesh's YAML unit tests (tests/sqlmesh/test_*.yaml) run in pytest too, so CI runs them."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_sqlmesh_unit_tests_pass(tmp_path, monkeypatch):
    from sqlmesh import Context

    # the tests run on the in-memory test connection; the warehouse path only keeps the
    # context off a user's warehouse
    monkeypatch.setenv("MIDDLESTEP_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    context = Context(paths=str(PROJECT_ROOT))
    try:
        result = context.test()
    finally:
        context.close()
    failures = [str(test) for test, _ in result.failures + result.errors]
    assert result.wasSuccessful(), failures
    assert result.testsRun >= 30
