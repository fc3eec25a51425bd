"""The SSO codebook seed is the one list of items: the contract, the gate's expectations and the
SQL models read it, so an item added to the CSV reaches the marts and their audits."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import duckdb
import pytest
import yaml

from middlestep.build import BuildError, build
from middlestep.codebook import ITEMS, expand_columns, read_codebook
from middlestep.contract import RAW_TABLES, SSO_ITEMS
from middlestep.gate import load_expectations
from middlestep.warehouse import init_warehouse

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NEW_ITEM = "asked_questions"  # a rating on a 1..4 scale: not the 1..5 of the other ratings


def test_contract_takes_the_sso_items_their_order_and_ranges_from_the_codebook():
    assert list(SSO_ITEMS) == [item.name for item in ITEMS]
    fields = {field.name: field for field in RAW_TABLES["sso_codings"].fields}
    assert fields["personal_conversation"].codes == (0, 1)
    assert (fields["commands_issued"].minimum, fields["commands_issued"].maximum) == (0, 200)
    assert (fields["empathy"].minimum, fields["empathy"].maximum) == (1, 5)


def test_a_bad_codebook_row_names_file_line_and_field(tmp_path):
    path = tmp_path / "codebook.csv"
    path.write_text(
        "item,item_kind,domain,label,min_value,max_value,is_confirmatory\n"
        "a,binary,officer,A,0,1,true\n"
        "b,rating,officer,B,1,five,false\n"
    )
    with pytest.raises(ValueError, match=r"codebook.csv, line 3: min_value and max_value"):
        read_codebook(path)


def test_codebook_placeholders_expand_to_one_expectation_per_item_with_its_range():
    items = read_codebook()
    ratings = expand_columns(
        {"codebook": "rating"},
        {"min_value": {"codebook": "min_value"}, "max_value": {"codebook": "max_value"}},
        items,
    )
    assert ratings[0] == {"column": "empathy", "min_value": 1, "max_value": 5}
    assert [spec["column"] for spec in ratings] == [i.name for i in items if i.kind == "rating"]
    binary = expand_columns({"codebook": "binary"}, {"value_set": {"codebook": "values"}}, items)
    assert binary[0] == {"column": "personal_conversation", "value_set": [0, 1]}
    spliced = expand_columns(None, {"column_set": ["video_id", {"codebook": "items"}]}, items)
    assert spliced == [{"column_set": ["video_id", *SSO_ITEMS]}]
    with pytest.raises(ValueError, match="needs columns"):
        expand_columns(None, {"min_value": {"codebook": "min_value"}}, items)
    with pytest.raises(ValueError, match="is not"):
        expand_columns({"codebook": "ordinal"}, {}, items)


def test_gate_checks_every_codebook_item_of_fct_encounters_against_its_range():
    specs = load_expectations()["fct_encounters"]
    ranges = {
        spec.kwargs["column"]: spec.kwargs.get("value_set")
        or [spec.kwargs["min_value"], spec.kwargs["max_value"]]
        for spec in specs
        if spec.kwargs.get("column") in SSO_ITEMS
    }
    assert ranges == {
        item.name: [0, 1] if item.kind == "binary" else [item.min_value, item.max_value]
        for item in ITEMS
    }
    (columns,) = [s for s in specs if s.expectation == "expect_table_columns_to_match_set"]
    assert set(SSO_ITEMS) <= set(columns.kwargs["column_set"])


# --------------------------------------------------------------------------------------------
# An item added to a copy of the project flows through the models


def copy_project(root: Path) -> Path:
    for name in ("models", "macros", "seeds", "audits", "expectations"):
        shutil.copytree(PROJECT_ROOT / name, root / name)
    shutil.copy(PROJECT_ROOT / "sqlmesh.yaml", root / "sqlmesh.yaml")
    shutil.copy(PROJECT_ROOT / "external_models.yaml", root / "external_models.yaml")
    return root


def add_new_item_to_codebook(root: Path) -> None:
    codebook = root / "seeds" / "sso_codebook.csv"
    with open(codebook, "a", encoding="utf-8") as handle:
        handle.write(f"{NEW_ITEM},rating,officer,Officer asked questions (1-4),1,4,false\n")
    later = time.time() + 5  # later than anything cached so far, at any clock resolution
    os.utime(codebook, (later, later))


def project_with_new_item(root: Path) -> Path:
    """A copy of the SQLMesh project whose codebook (and raw contract) has one more item."""
    copy_project(root)
    add_new_item_to_codebook(root)
    tables = yaml.safe_load((PROJECT_ROOT / "external_models.yaml").read_text())
    (sso_codings,) = [table for table in tables if table["name"] == "raw.sso_codings"]
    sso_codings["columns"][NEW_ITEM] = "INTEGER"
    (root / "external_models.yaml").write_text(yaml.safe_dump(tables, sort_keys=False))
    return root


def warehouse_with_codings(path: Path, new_item_values: tuple[int, int, int]) -> Path:
    """One department, one officer, two videos: v1 double coded, v2 coded once."""
    defaults = {item.name: 3 if item.kind == "rating" else 0 for item in ITEMS}
    with duckdb.connect(str(path)) as connection:
        init_warehouse(connection)
        connection.execute(f"alter table raw.sso_codings add column {NEW_ITEM} INTEGER")
        connection.execute(
            "insert into raw.departments values ('d', 'tiny', 'UTC', '2024-01-01', '2024-03-31')"
        )
        connection.execute(
            "insert into raw.officers (department_id, officer_id, appointed_on, _batch_id,"
            " _source_line) values ('d', 'o1', '2020-01-01', 1, 2)"
        )
        for line, video in enumerate(("v1", "v2"), start=2):
            connection.execute(
                "insert into raw.bwc_videos (department_id, video_id, officer_id, started_at,"
                " _batch_id, _source_line) values ('d', ?, 'o1', '2024-02-01 10:00', 1, ?)",
                [video, line],
            )
        codings = [("c1", "v1", "A"), ("c2", "v1", "B"), ("c3", "v2", "A")]
        for line, ((coding, video, coder), value) in enumerate(
            zip(codings, new_item_values, strict=True), start=2
        ):
            values = {**defaults, NEW_ITEM: value}
            columns = ", ".join(values)
            connection.execute(
                f"insert into raw.sso_codings (department_id, coding_id, video_id, coder_id,"
                f" coded_at, {columns}, _batch_id, _source_line) values ('d', ?, ?, ?,"
                f" timestamp '2024-03-01 09:00' + {line} * interval 1 hour,"
                f" {', '.join('?' for _ in values)}, 1, ?)",
                [coding, video, coder, *values.values(), line],
            )
    return path


def rendered_consensus(project: Path, monkeypatch) -> str:
    from sqlmesh import Context

    monkeypatch.setenv("MIDDLESTEP_WAREHOUSE", str(project / "warehouse.duckdb"))
    context = Context(paths=str(project))
    try:
        return context.render("intermediate.int_encounter_consensus").sql()
    finally:
        context.close()


def test_an_item_added_after_sqlmesh_cached_the_models_is_not_lost(tmp_path, monkeypatch):
    project = copy_project(tmp_path)
    assert NEW_ITEM not in rendered_consensus(project, monkeypatch)
    assert any((project / ".cache" / "model_definition").iterdir())
    add_new_item_to_codebook(project)
    assert f'"consensus"."{NEW_ITEM}" AS "{NEW_ITEM}"' in rendered_consensus(project, monkeypatch)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return project_with_new_item(tmp_path_factory.mktemp("project"))


def test_an_item_added_to_the_codebook_reaches_the_encounters_and_reliability_marts(
    project, tmp_path
):
    warehouse = warehouse_with_codings(tmp_path / "warehouse.duckdb", (2, 4, 1))
    build(warehouse, project)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        encounters = connection.execute(
            f"select video_id, {NEW_ITEM}, n_codings from marts.fct_encounters order by video_id"
        ).fetchall()
        reliability = connection.execute(
            "select item_kind, n_double_coded, percent_agreement from marts.rpt_sso_reliability"
            f" where item = '{NEW_ITEM}'"
        ).fetchall()
        n_items = connection.execute("select count(*) from marts.rpt_sso_reliability").fetchone()
    # a rating: the consensus is the mean of the codings
    assert encounters == [("v1", 3.0, 2), ("v2", 1.0, 1)]
    assert reliability == [("rating", 1, 0.0)]
    assert n_items == (len(ITEMS) + 1,)


def test_the_new_items_range_audit_stops_a_value_outside_its_codebook_range(project, tmp_path):
    # 5 is a valid rating of every other item, but the new item's scale ends at 4
    warehouse = warehouse_with_codings(tmp_path / "warehouse.duckdb", (2, 5, 1))
    summary = r"audit forall\(.*\) of model staging.stg_sso_codings: 1 row failed\n.*coding_id=c2"
    with pytest.raises(BuildError, match=summary) as failure:
        build(warehouse, project)
    # SQLMesh's rendered audit SQL is in the details (`middlestep -v`), not the summary
    assert f'"{NEW_ITEM}" BETWEEN 1 AND 4' in "\n".join(failure.value.details)
