"""The whole pipeline on a small synthetic department: synth -> ingest -> build -> gate ->
analysis -> report, with real DuckDB files, SQLMesh plans, a Great Expectations checkpoint and
statsmodels fits."""

from __future__ import annotations

import json

import duckdb
import pytest

from middlestep import pipeline
from middlestep.cli import main
from middlestep.contract import SSO_ITEMS
from middlestep.synth import FILES
from middlestep.warehouse import Home

# The default scenario and seed of `middlestep demo`: 300 officers, 600 coded clips. One draw is
# a smoke test of recovery; interval coverage over 200 departments is `make slow`'s job.
SCALE, SEED = 1.0, 1
NO_EFFECT = {"binary": 0.0, "rating": 0.0, "count": 1.0}  # a count effect is a rate ratio


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    directory = tmp_path_factory.mktemp("demo")
    paths = pipeline.demo(directory, seed=SEED, scale=SCALE)
    return directory, paths


def test_demo_writes_a_gated_report_in_three_formats(demo):
    directory, paths = demo
    html = paths.html.read_text()
    assert "data:image/png;base64," in html  # the forest plot is embedded
    assert "UNGATED" not in html
    results = json.loads(paths.json.read_text())
    assert results["gate"]["passed"] is True
    assert "# Training evaluation: synthetic" in paths.markdown.read_text()


def test_every_input_row_is_loaded_or_rejected(demo):
    directory, _ = demo
    home = Home.resolve(directory / "home")
    with duckdb.connect(str(home.warehouse), read_only=True) as connection:
        unbalanced = connection.execute(
            "select count(*) from raw._batches where rows_read != rows_loaded + rows_rejected"
        ).fetchone()[0]
        loaded = connection.execute("select sum(rows_loaded) from raw._batches").fetchone()[0]
    assert unbalanced == 0
    assert loaded > 10_000


def test_planted_communication_effects_lie_in_their_intervals(demo):
    directory, paths = demo
    truth = json.loads((directory / "export" / "truth.json").read_text())
    results = json.loads(paths.json.read_text())
    by_outcome = {effect["outcome"]: effect for effect in results["effects"]}
    planted = {
        outcome: planted["estimand"]
        for outcome, planted in truth["outcomes"].items()
        if outcome in SSO_ITEMS and planted["planted_effect"] != NO_EFFECT[SSO_ITEMS[outcome]]
    }
    assert set(planted) == {
        "personal_conversation",
        "repeated_commands",
        "empathy",
        "commands_issued",
    }
    for outcome, estimand in planted.items():
        effect = by_outcome[outcome]
        assert effect["ci_low"] <= estimand <= effect["ci_high"], outcome


def test_analyze_refuses_a_build_whose_gate_never_ran(demo, capsys):
    directory, _ = demo
    home = directory / "home"
    # a re-delivered roster (same rows, new file) makes a new build, not yet gated
    roster = FILES["officers"]  # the mapping takes it by a glob: personnel_roster*.csv
    redelivery = directory / "redelivery"
    redelivery.mkdir()
    original = (directory / "export" / roster).read_text()
    (redelivery / roster).write_text(original + "\n")
    assert main(["--home", str(home), "ingest", str(redelivery), "--department", "synthetic"]) == 0
    assert main(["--home", str(home), "build"]) == 0
    assert main(["--home", str(home), "analyze"]) == 1
    assert "gate never ran" in capsys.readouterr().err
    assert main(["--home", str(home), "analyze", "--allow-ungated", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["gated"] is False
