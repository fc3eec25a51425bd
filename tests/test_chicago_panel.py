"""The Chicago procedural-justice roll-out through the warehouse equals the published panel.

The real files (data/chicago_pj/) go through departments/chicago.yaml, ingest and the models
into a fresh warehouse (the session's shared `chicago_home`, tests/conftest.py); the balanced
panel read from the marts must equal, row for row, the panel data/chicago_pj/README.md defines,
computed here independently with pandas straight from the CSVs, and match the README's counts
and means.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from middlestep.cli import main
from middlestep.panel import PANEL_COLUMNS, balanced_panel
from middlestep.warehouse import PROJECT_ROOT

DATA = PROJECT_ROOT / "data" / "chicago_pj"
STUDY_MONTHS = pd.period_range("2011-01", "2016-12", freq="M")


@pytest.fixture(scope="module")
def warehouse(chicago_home) -> Path:
    return chicago_home.warehouse


@pytest.fixture(scope="module")
def panels(warehouse) -> dict[str, pd.DataFrame]:
    return {
        sample: balanced_panel(warehouse, "chicago", sample)
        for sample in ("full", "main", "omit-late", "full-itt", "main-itt")
    }


def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{name}.csv", dtype=str, keep_default_na=False).replace("", None)


def _period(dates: pd.Series) -> pd.Series:
    months = pd.to_datetime(dates).dt.to_period("M")
    return (months - STUDY_MONTHS[0]).apply(lambda offset: offset.n + 1)


def readme_panel(serving_on: str = "2017-01-01") -> tuple[pd.DataFrame, pd.Series]:
    """The README's panel, from the CSVs alone; and each officer's unit type at training.
    `serving_on`: the officers kept had not resigned before it (the README's 2017-01-01; the
    intent-to-treat samples' is the window's first day, 2011-01-01)."""
    training = _csv("training_assignment")
    roster = _csv("officers_roster").set_index("uid")
    # officers of the roll-out who had not resigned before `serving_on`
    officers = training[training["resigned"].isna() | (training["resigned"] >= serving_on)]
    officers = officers.assign(
        first_trained=_period(officers["assigned"]),
        # the warehouse's roster is officers_roster.csv: its exact resignation dates
        resigned=roster.loc[officers["uid"], "resigned"].to_numpy(),
    )
    months = pd.DataFrame({"month": STUDY_MONTHS.to_timestamp(), "period": range(1, 73)})
    panel = officers.merge(months, how="cross")
    panel["month_key"] = panel["month"].dt.to_period("M")

    complaints = _csv("complaints_events").dropna(subset=["uid"])
    complaints["month_key"] = pd.to_datetime(complaints["date"]).dt.to_period("M")
    by_month = complaints.groupby(["uid", "month_key"])
    counts = [
        by_month["cr_id"].nunique().rename("complaints"),
        complaints[complaints["sustained"] == "1"]
        .groupby(["uid", "month_key"])["cr_id"]
        .nunique()
        .rename("sustained"),
    ]
    force = _csv("force_events").dropna(subset=["uid"])
    force["month_key"] = pd.to_datetime(force["date"]).dt.to_period("M")
    counts.append(force.groupby(["uid", "month_key"])["trr_id"].nunique().rename("force"))
    for count in counts:
        panel = panel.merge(count.reset_index(), on=["uid", "month_key"], how="left")
        panel[count.name] = panel[count.name].fillna(0).astype("int64")

    units = _csv("officer_unit_assignment").set_index("uid")["type"]
    return panel.sort_values(["uid", "period"]).reset_index(drop=True), units


@pytest.fixture(scope="module")
def expected() -> tuple[pd.DataFrame, pd.Series]:
    return readme_panel()


def _with_panel_types(readme: pd.DataFrame) -> pd.DataFrame:
    """The README panel in the column order and types of middlestep.panel's."""
    typed = readme.loc[:, list(PANEL_COLUMNS)].copy()
    typed["uid"] = typed["uid"].astype("string")
    for column in ("month", "assigned", "assigned_exact", "appointed", "resigned"):
        typed[column] = pd.to_datetime(typed[column]).astype(pd.ArrowDtype(pa.date32()))
    for column in ("period", "complaints", "sustained", "force"):
        typed[column] = typed[column].astype("int64")
    for column in ("first_trained", "birth_year"):
        typed[column] = pd.to_numeric(typed[column]).astype("Int64")
    return typed.sort_values(["uid", "period"]).reset_index(drop=True)


def assert_same_panel(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Equal column by column (fast); pandas' own comparison only to describe a difference."""
    same = list(left.columns) == list(right.columns) and list(left.dtypes) == list(right.dtypes)
    if not (same and all(left[column].equals(right[column]) for column in left.columns)):
        pd.testing.assert_frame_equal(left, right)


def test_full_panel_has_the_readme_officers_rows_and_totals(panels):
    full = panels["full"]
    assert list(full.columns) == list(PANEL_COLUMNS)
    assert full["uid"].nunique() == 7785
    assert len(full) == 560_520 == 7785 * 72
    assert full.groupby("uid")["period"].agg(["min", "max", "count"]).eq([1, 72, 72]).all().all()
    assert (full["complaints"].sum(), full["sustained"].sum(), full["force"].sum()) == (
        21_478,
        1_684,
        22_365,
    )
    cohorts = full["first_trained"]
    assert (cohorts.min(), cohorts.max(), cohorts.nunique()) == (13, 72, 48)


def test_main_sample_has_the_readme_officers_and_pre_training_means(panels):
    main_sample = panels["main"]
    assert main_sample["uid"].nunique() == 5537
    assert main_sample["first_trained"].min() > 14
    pre = main_sample[main_sample["period"] <= 12]
    means = pre[["complaints", "sustained", "force"]].mean().round(3)
    assert means.to_dict() == {"complaints": 0.052, "sustained": 0.004, "force": 0.051}


def test_omit_late_sample_drops_cohorts_after_period_60(panels):
    omit_late = panels["omit-late"]
    assert omit_late["uid"].nunique() == 5357
    assert omit_late["first_trained"].max() <= 60
    assert set(omit_late["uid"]) <= set(panels["main"]["uid"])


def test_warehouse_panel_equals_the_readme_definition_row_for_row(panels, expected):
    readme, units = expected
    assert_same_panel(panels["full"], _with_panel_types(readme))
    # the samples: the README's officers, each with the rows of the full panel
    officers = readme.drop_duplicates("uid").set_index("uid")
    unit_type = officers.index.map(units)
    in_main = unit_type.notna() & (unit_type != "special") & (officers["first_trained"] > 14)
    in_omit_late = in_main & (officers["first_trained"] <= 60)
    full = panels["full"]
    for sample, chosen in (("main", in_main), ("omit-late", in_omit_late)):
        assert set(panels[sample]["uid"]) == set(officers.index[chosen])
        assert_same_panel(
            panels[sample], full[full["uid"].isin(officers.index[chosen])].reset_index(drop=True)
        )


def test_itt_samples_keep_the_officers_who_left_in_their_cohorts(panels, expected):
    """The default roll-out sample does not condition on retention: every officer of the roll-out
    serving when the window began, with the same rows as the published panel for those who
    stayed, and their own rows (zero events after leaving) for those who left."""
    readme_itt, units = readme_panel(serving_on="2011-01-01")
    assert_same_panel(panels["full-itt"], _with_panel_types(readme_itt))
    full, full_itt = panels["full"], panels["full-itt"]
    assert full_itt["uid"].nunique() == 8614  # all of training_assignment.csv
    stayed = full_itt[full_itt["uid"].isin(set(full["uid"]))].reset_index(drop=True)
    assert_same_panel(stayed, full)
    left = full_itt[~full_itt["uid"].isin(set(full["uid"]))]
    assert left["uid"].nunique() == 8614 - 7785
    # they keep their assigned cohort, and a leaver's months are all there
    assert left["first_trained"].notna().all() and (left.groupby("uid").size() == 72).all()
    officers = readme_itt.drop_duplicates("uid").set_index("uid")
    unit_type = officers.index.map(units)
    in_main = unit_type.notna() & (unit_type != "special") & (officers["first_trained"] > 14)
    assert set(panels["main-itt"]["uid"]) == set(officers.index[in_main])
    assert panels["main-itt"]["uid"].nunique() == 6110
    assert set(panels["main"]["uid"]) < set(panels["main-itt"]["uid"])


def test_training_file_resignations_are_the_roster_dates_month(panels):
    training = _csv("training_assignment").set_index("uid")
    full = panels["full"].drop_duplicates("uid").set_index("uid")
    resigned = pd.to_datetime(full["resigned"])
    floored = resigned.dt.to_period("M").dt.to_timestamp().dt.strftime("%Y-%m-%d")
    pd.testing.assert_series_equal(
        floored.astype("string").reset_index(drop=True),
        training.loc[full.index, "resigned"].astype("string").reset_index(drop=True),
    )


def test_unmatched_complaints_are_rejected_with_a_reason(warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        rejects = dict(
            connection.execute(
                "select table_name || ': ' || reason, count(*) from raw._rejects group by 1"
            ).fetchall()
        )
        batches = connection.execute(
            "select table_name, rows_read, rows_loaded, rows_rejected from raw._batches "
            "order by batch_id"
        ).fetchall()
    assert rejects["complaints: officer_id: required field is empty"] == 1008
    assert rejects["complaints: officer_id: officer 133671 is not on the roster"] == 2
    assert rejects["force_reports: officer_id: required field is empty"] == 207
    assert rejects["officer_units: unit_id: required field is empty"] == 8
    assert batches == [
        ("officers", 33_594, 33_594, 0),
        ("officer_units", 8_618, 8_610, 8),
        ("trial_assignments", 8_614, 8_614, 0),
        ("force_reports", 32_992, 32_779, 213),  # 207 without an officer, 6 repeated keys
        ("complaints", 48_053, 47_043, 1_010),
    ]


def test_panel_command_writes_parquet_and_csv(warehouse, tmp_path):
    home = str(warehouse.parent)
    out = tmp_path / "main.parquet"
    args = ["--home", home, "panel", "--department", "chicago", "--balanced"]
    assert main([*args, "--sample", "main", "--out", str(out)]) == 0
    written = pd.read_parquet(out)
    assert list(written.columns) == list(PANEL_COLUMNS)
    assert written["uid"].nunique() == 5537
    csv_out = tmp_path / "omit_late.csv"
    assert main([*args, "--sample", "omit-late", "--out", str(csv_out)]) == 0
    assert pd.read_csv(csv_out)["uid"].nunique() == 5357
