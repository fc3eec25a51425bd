from pathlib import Path

from middlestep.contract import RAW_TABLES
from middlestep.external_models import external_model_columns, render_external_models

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_committed_external_models_equal_the_contract():
    committed = (PROJECT_ROOT / "external_models.yaml").read_text(encoding="utf-8")
    assert committed == render_external_models()


def test_every_raw_table_starts_with_department_and_ends_with_batch_columns():
    tables = external_model_columns()
    # raw._batches: staging reads which batches are superseded (macros/common.py)
    assert set(tables) == {f"raw.{name}" for name in RAW_TABLES} | {
        "raw.departments",
        "raw._batches",
    }
    for name in RAW_TABLES:
        columns = list(tables[f"raw.{name}"])
        assert columns[0] == "department_id"
        assert columns[-2:] == ["_batch_id", "_source_line"]
