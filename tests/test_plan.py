"""The pre-registered analysis plan: validation, hash, registration and deviations."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest
import yaml

from middlestep.plan import (
    PlanError,
    Registration,
    load_plan,
    plan_from_content,
    plan_path,
    plan_status,
)
from middlestep.plan.registry import post_period_outcomes_seen, register_plan, registrations

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def content() -> dict:
    return yaml.safe_load(plan_path("synthetic").read_text())


def test_synthetic_plan_primary_family_is_the_codebook_confirmatory_items_and_force():
    plan = load_plan(plan_path("synthetic"))
    with open(ROOT / "seeds" / "sso_codebook.csv", newline="") as handle:
        confirmatory = [
            row["item"] for row in csv.DictReader(handle) if row["is_confirmatory"] == "true"
        ]
    assert plan.primary.outcomes == (*confirmatory, "force_reports")
    assert plan.primary.multiplicity == "holm"
    assert plan.family_of("civilian_resistance").role == "exploratory"
    assert len(plan.outcomes()) == len(set(plan.outcomes()))


def test_hash_ignores_comments_and_layout_but_not_content(content):
    text = plan_path("synthetic").read_text()
    relaid = plan_from_content(yaml.safe_load("# a new comment\n" + text.replace(": ", ":  ")))
    assert relaid.sha256 == plan_from_content(content).sha256
    changed = copy.deepcopy(content)
    changed["families"]["primary"]["multiplicity"] = "fdr_bh"
    assert plan_from_content(changed).sha256 != relaid.sha256


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c["moderators"].append("civilian_resistance"),
            "moderators: 'civilian_resistance'",
        ),
        (lambda c: c["families"]["secondary"]["outcomes"].append("empathy"), "already in family"),
        (
            lambda c: c["families"]["primary"]["outcomes"].append("kindness"),
            "'kindness' is neither",
        ),
        (lambda c: c["reliability"].update(below_threshold="drop_item"), "below_threshold"),
        (lambda c: c["families"]["secondary"].update(role="confirmatory"), "exactly one family"),
        (lambda c: c["families"]["primary"].update(multiplicity="bonferroni"), "multiplicity"),
        (lambda c: c.pop("trial_id"), "'trial_id' is missing"),
    ],
)
def test_invalid_plan_is_refused_naming_the_field(content, edit, message):
    edit(content)
    with pytest.raises(PlanError, match=message):
        plan_from_content(content, source="synthetic.yaml")


def test_department_name_outside_the_plans_folder_is_refused():
    with pytest.raises(PlanError, match="department name"):
        plan_path("../../etc/passwd")


def _registration(plan, *, at: str, seen: int) -> Registration:
    return Registration(plan.department_id, plan.trial_id, plan.sha256, plan.content, at, seen)


def test_unregistered_plan_is_said_so_with_the_outcomes_already_loaded(content):
    status = plan_status(plan_from_content(content), [], outcomes_seen_now=12)
    assert not status.is_registered
    assert "not registered" in status.notes[0] and "12 post-period" in status.notes[0]


def test_plan_registered_before_outcomes_and_unchanged_has_no_deviation(content):
    plan = plan_from_content(content)
    status = plan_status(
        plan, [_registration(plan, at="2024-01-01", seen=0)], outcomes_seen_now=900
    )
    assert status.deviations == ()
    assert status.to_dict()["registered_before_outcomes"] is True


def test_primary_outcome_changed_after_outcomes_arrived_is_a_deviation(content):
    registered = plan_from_content(content)
    changed = copy.deepcopy(content)
    primary = changed["families"]["primary"]["outcomes"]
    primary.remove("empathy")
    changed["families"]["secondary"]["outcomes"].append("empathy")
    used = plan_from_content(changed)
    history = [
        _registration(registered, at="2024-01-01", seen=0),
        _registration(used, at="2025-03-01", seen=480),  # re-registered once outcomes were in
    ]
    status = plan_status(used, history, outcomes_seen_now=480)
    fields = {deviation.field: deviation for deviation in status.deviations}
    assert set(fields) == {"families.primary.outcomes", "families.secondary.outcomes"}
    assert all(deviation.after_outcomes for deviation in status.deviations)
    assert "changed after post-period outcomes" in fields["families.primary.outcomes"].text()
    assert status.binding.registered_at == "2024-01-01"


def test_change_registered_before_outcomes_is_listed_but_not_after_outcomes(content):
    first = plan_from_content(content)
    changed = copy.deepcopy(content)
    changed["reliability"]["alpha_threshold"] = 0.7
    second = plan_from_content(changed)
    history = [
        _registration(first, at="2023-06-01", seen=0),
        _registration(second, at="2023-09-01", seen=0),
    ]
    status = plan_status(second, history, outcomes_seen_now=100)
    assert [d.field for d in status.deviations] == ["reliability.alpha_threshold"]
    assert not status.deviations[0].after_outcomes


def test_plan_registered_only_after_outcomes_is_itself_a_deviation(content):
    plan = plan_from_content(content)
    status = plan_status(
        plan, [_registration(plan, at="2025-01-01", seen=37)], outcomes_seen_now=37
    )
    assert [d.field for d in status.deviations] == ["registration"]
    assert status.deviations[0].text() == (
        "the plan was registered only after 37 post-period outcome records had been loaded, "
        "not before them"
    )


def _tiny_marts(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute("create schema marts")
    connection.execute(
        "create table marts.dim_officers as select * from (values "
        "('synthetic', 'o1', 'DEESC-RCT', 'treatment', date '2024-01-15'), "
        "('synthetic', 'o2', 'DEESC-RCT', 'control', date '2025-01-15')) "
        "t(department_id, officer_id, trial_id, arm, cohort_on)"
    )
    connection.execute(
        "create table marts.fct_encounters as select * from (values "
        "('synthetic', 'DEESC-RCT', false), ('synthetic', 'DEESC-RCT', false)) "
        "t(department_id, trial_id, is_post)"
    )
    connection.execute(
        "create table marts.fct_officer_months as select * from (values "
        "('synthetic', 'DEESC-RCT', date '2023-12-01', 3, 1), "
        "('synthetic', 'DEESC-RCT', date '2024-01-01', 0, 0)) "
        "t(department_id, trial_id, month_start, force_reports, complaints)"
    )


def test_registration_records_what_the_marts_held_and_reads_back(tmp_path, content):
    plan = plan_from_content(content)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as connection:
        _tiny_marts(connection)
        assert post_period_outcomes_seen(connection, "synthetic", "DEESC-RCT") == 0
        register_plan(connection, plan, now=dt.datetime(2023, 12, 20, tzinfo=dt.UTC))
        # post-period data arrive: one coded encounter after training, two force reports
        connection.execute(
            "insert into marts.fct_encounters values ('synthetic', 'DEESC-RCT', true)"
        )
        connection.execute(
            "update marts.fct_officer_months set force_reports = 2 where month_start = '2024-01-01'"
        )
        assert post_period_outcomes_seen(connection, "synthetic", "DEESC-RCT") == 3
        register_plan(connection, plan, now=dt.datetime(2024, 2, 1, tzinfo=dt.UTC))
        history = registrations(connection, "synthetic")
    assert [(r.registered_at, r.post_period_outcomes_seen) for r in history] == [
        ("2023-12-20T00:00:00+00:00", 0),
        ("2024-02-01T00:00:00+00:00", 3),
    ]
    assert history[0].content == plan.content and history[0].sha256 == plan.sha256
    status = plan_status(plan, history, outcomes_seen_now=3)
    assert status.binding.registered_at.startswith("2023-12-20") and status.deviations == ()


def test_registration_before_any_build_sees_no_outcome_unless_outcomes_are_loaded(
    tmp_path, content
):
    from middlestep.plan import PlanError

    plan = plan_from_content(content)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as connection:
        assert register_plan(connection, plan).post_period_outcomes_seen == 0  # a new warehouse
        connection.execute("create schema raw")
        connection.execute("create table raw.force_reports (department_id text)")
        connection.execute("insert into raw.force_reports values ('synthetic')")
        with pytest.raises(PlanError, match="1 outcome records are loaded but not built"):
            register_plan(connection, plan)


def test_plan_show_on_a_home_without_a_warehouse_shows_the_unregistered_plan(tmp_path, capsys):
    from middlestep.cli import main

    home = tmp_path / "never-used"
    assert main(["--home", str(home), "plan", "show", "--department", "synthetic", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["registered"] is False and shown["deviations"] == []
    assert not (home / "warehouse.duckdb").exists()  # showing creates nothing
