"""A department without a trial (a roster and force reports: no randomization, training, calls,
camera codings or complaints) onboards by a mapping alone and gets a report: its force figures,
trial planning from its own data, and every trial analysis listed as not estimated with why.
`analyze` (also ungated), `report` and `power` never end in a traceback."""

from __future__ import annotations

import json

import pytest
from no_trial_support import write_force_only_export

from analysis.open_box import Settings
from middlestep import cli, commands
from middlestep.descriptive import TRIAL_ANALYSES
from middlestep.warehouse import Home

FIGURES = (
    "force_per_officer_month",
    "force_by_level",
    "force_by_type",
    "force_by_unit",
    "repeat_subjects",
)


@pytest.fixture(scope="module")
def force_only_home(tmp_path_factory) -> Home:
    root = tmp_path_factory.mktemp("force-only")
    export, mapping = write_force_only_export(root)
    home = Home.resolve(root / "home")
    summary = commands.ingest(home, export, mapping)
    assert summary.rows_rejected == 0 and summary.rows_loaded == summary.rows_read
    commands.build(home)
    assert commands.check(home).passed
    return home


def test_analyze_gives_figures_and_says_why_each_trial_analysis_is_not_estimated(
    force_only_home,
):
    settings = Settings(power_simulations=40, cache_dir=None)
    for allow_ungated in (False, True):
        analysis = commands.analyze(force_only_home, allow_ungated=allow_ungated, settings=settings)
        left_out = {row["analysis"]: row["reason"] for row in analysis.not_estimated}
        assert set(TRIAL_ANALYSES) <= set(left_out)
        assert "no officers assigned to a trial arm" in left_out["randomization balance"]
        assert analysis.effects == [] and analysis.department is not None
    figures = analysis.department.to_dict()
    for name in FIGURES:
        assert figures[name], name
    monthly = figures["force_per_officer_month"]
    assert all(row["ci_low"] <= row["rate_per_1000"] <= row["ci_high"] for row in monthly)
    assert {row["top_officers"] for row in figures["concentration"]["top_shares"]} == {
        "top 5%",
        "top 10%",
    }
    planning = figures["trial_planning"]
    assert [row["design"].split(" ")[0] for row in planning["designs"]] == [
        "wait-list",
        "staggered",
    ]
    assert planning["baseline"]["rate_per_officer_month"] > 0
    assert "the roster" in planning["baseline"]["turnover_source"]
    json.dumps(analysis.to_dict(), allow_nan=False)  # machine-readable as it is


def test_report_shows_the_figures_and_the_planning(force_only_home):
    paths = commands.report(force_only_home)
    document = json.loads(paths.json.read_text())
    assert document["title"].startswith("Use of force and trial planning")
    assert {row["analysis"] for row in document["not_estimated"]} >= set(TRIAL_ANALYSES)
    assert document["department_figures"]["trial_planning"]["designs"]
    html = paths.html.read_text()
    for title in (
        "Force per officer-month",
        "Force by level, type and unit",
        "How concentrated force is among officers",
        "Repeat subjects",
        "Planning a trial from the department&#39;s own data",
        "Not estimated from this data",
    ):
        assert title in html, title
    for plot in ("force_per_officer_month.png", "force_concentration.png"):
        assert (paths.out_dir / plot).stat().st_size > 1000


def test_power_plans_a_trial_when_the_warehouse_holds_none(force_only_home, capsys):
    result, table = commands.power(force_only_home, n_officers=400, n_months=12, n_simulations=100)
    assert result.n_officers == 400 and result.n_months == 12
    assert any("no trial in the warehouse" in note for note in result.notes)
    assert abs(result.power_did - result.power_analytic) < 4 * result.power_mc_error + 0.05
    assert 0 < result.power <= 1 and result.mde_rate_ratio < 1
    assert len(table) == 3
    code = cli.main(["--home", str(force_only_home.root), "power", "--simulations", "40"])
    assert code == 0 and "MDE rate ratio" in capsys.readouterr().out


def test_cli_analyze_exits_zero_with_and_without_the_gate(force_only_home, capsys):
    for extra in ([], ["--allow-ungated"]):
        code = cli.main(["--home", str(force_only_home.root), "analyze", *extra])
        out = capsys.readouterr().out
        assert code == 0
        assert "not estimated: randomization balance: no officers assigned" in out
