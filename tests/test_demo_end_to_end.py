"""The whole pipeline on a small synthetic department: synth -> ingest -> build -> gate ->
analysis -> report, with real DuckDB files, SQLMesh plans, a Great Expectations checkpoint and
statsmodels fits."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest
from browser_support import browser_missing, chromium, report_in_browser

from middlestep.cli import main
from middlestep.contract import SSO_ITEMS
from middlestep.demo import demo as run_demo
from middlestep.mapping import load_mapping
from middlestep.synth import FILES
from middlestep.warehouse import Home

# The default scenario and seed of `middlestep demo`: 300 officers, 600 coded clips. One draw is
# a smoke test of recovery; interval coverage over 200 departments is `make slow`'s job.
SCALE, SEED = 1.0, 1
NO_EFFECT = {"binary": 0.0, "rating": 0.0, "count": 1.0}  # a count effect is a rate ratio


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    directory = tmp_path_factory.mktemp("demo")
    paths = run_demo(directory, seed=SEED, scale=SCALE)
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


def test_report_opens_the_black_box(demo):
    """Power, Fisher p-values, many outcomes, compliance, mediation, reliability, subgroups."""
    directory, paths = demo
    results = json.loads(paths.json.read_text())
    box = results["open_box"]
    power = box["power"]
    assert power["rate_ratio"] == 0.72 and power["power"] < 0.5  # a -28% effect is out of reach
    assert 0.2 < power["mde_rate_ratio"] < 0.72
    assert abs(power["mde_rate_ratio_did"] - power["mde_rate_ratio_analytic"]) < 0.08
    assert 0.2 < power["mde_rate_ratio_did"] < 0.72 and power["power_did"] < 0.5
    markdown = paths.markdown.read_text()
    assert "smallest reduction in force the trial could detect" in markdown
    assert "Louisville" in markdown
    assert all("fisher_p_value" in effect for effect in results["effects"])
    assert box["summary_index"]["outcome"] == "deescalation_index"
    assert {row["outcome"] for row in box["multiple_outcomes"]} <= set(SSO_ITEMS)
    assert any(e["outcome"] == "force_reports" for e in box["complier_effects"])
    assert {m["level"] for m in box["mediation"]} == {"encounters", "officers"}
    assert box["heterogeneity"] and results["reliability_items"]
    excluded = set(results["excluded_items"])
    alpha = {row["item"]: row["krippendorff_alpha"] for row in results["reliability"]}
    assert excluded == {i for i in excluded if alpha[i] < 0.667}
    assert not excluded & {effect["outcome"] for effect in results["effects"]}
    for name in ("power_curve.png", "subgroups.png"):
        assert (paths.out_dir / name).read_bytes().startswith(b"\x89PNG")


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
    # the roll-out command is gated the same way
    rollout = ["--home", str(home), "rollout", "--department", "synthetic", "--permutations", "0"]
    assert main(rollout) == 1
    assert "gate never ran" in capsys.readouterr().err
    assert main([*rollout, "--allow-ungated", "--json"]) == 0
    ungated = json.loads(capsys.readouterr().out)
    assert ungated["gated"] is False and ungated["status"].startswith("UNGATED")


def test_report_shows_the_wait_list_trial_as_a_staggered_roll_out(demo):
    """Both arms are roll-out cohorts (trained at once, a year later): the staggered estimates of
    force per officer-month stand beside the Poisson DiD rate ratio. The default panel keeps
    every randomized officer (no conditioning on retention); the retained-only panel is a
    labelled sensitivity row."""
    _, paths = demo
    results = json.loads(paths.json.read_text())
    rollout = {
        (effect["outcome"], effect["estimator_key"], effect["sample"]): effect
        for effect in results["rollout_effects"]
    }
    assert set(rollout) == {
        (outcome, estimator, sample)
        for outcome in ("force_reports", "complaints")
        for estimator in ("efficient", "cs")
        for sample in ("full-itt", "full")
    }
    did = next(e for e in results["effects"] if e["outcome"] == "force_reports")
    for estimator in ("efficient", "cs"):
        effect = rollout[("force_reports", estimator, "full-itt")]
        retained = rollout[("force_reports", estimator, "full")]
        assert effect["retained_only"] is False and retained["retained_only"] is True
        # every randomized officer serving at the start: more officers than the retained ones
        assert effect["n_units"] == 300 > retained["n_units"]
        assert effect["estimand"] == "simple" and effect["unit"] == "per officer-month"
        assert effect["n_cohorts"] == 2
        assert effect["ci_low"] < effect["estimate"] < effect["ci_high"]
        assert effect["std_error_neyman"] >= effect["std_error"] > 0
        assert 0 <= effect["fisher_p_value"] <= 1
        assert effect["did_rate_ratio"] == did["estimate"]
    markdown = paths.markdown.read_text()
    section = markdown.split("## The wait-list trial as a staggered roll-out")[1].split("\n## ")[0]
    assert "Roth & Sant'Anna efficient (simple)" in section
    assert "Callaway & Sant'Anna (simple)" in section
    assert did["estimator"] in section and "rate ratio" in section
    assert "does not condition on retention" in section
    assert "full (retained only: sensitivity)" in section


def test_demo_registers_its_plan_before_outcomes_and_a_late_registration_binds_nothing(
    demo, capsys
):
    directory, paths = demo
    home = str(directory / "home")
    assert main(["--home", home, "plan", "show", "--department", "synthetic", "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert before["registered"] is True and before["registered_before_outcomes"] is True
    assert before["post_period_outcomes_seen_at_registration"] == 0
    assert before["deviations"] == []
    assert json.loads(paths.json.read_text())["plan"]["registered_at"] == before["registered_at"]
    assert main(["--home", home, "plan", "register", "--department", "synthetic"]) == 0
    assert "already loaded (a deviation)" in capsys.readouterr().out
    assert main(["--home", home, "plan", "show", "--department", "synthetic", "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    # the binding registration stays the one made before outcomes; the plan did not change
    assert after["registered_at"] == before["registered_at"] and after["deviations"] == []


def test_report_leads_with_the_plans_primary_estimates_and_the_design(demo):
    _, paths = demo
    results = json.loads(paths.json.read_text())
    plan_outcomes = {o for family in results["plan"]["families"] for o in family["outcomes"]}
    assert {effect["outcome"] for effect in results["primary_effects"]} == plan_outcomes
    by_outcome = {effect["outcome"]: effect for effect in results["primary_effects"]}
    assert by_outcome["personal_conversation"]["scale"] == "percentage_points"
    assert by_outcome["force_reports"]["scale"] == "rate_ratio"
    assert {effect["outcome"] for effect in results["robustness_effects"]} == {
        "force_reports",
        "complaints",
    }
    compliers = {effect["outcome"]: effect for effect in results["complier_effects"]}
    assert set(compliers) == {"force_reports", "complaints"}
    assert compliers["force_reports"]["complier_rate_untreated"] > 0
    assert "Complier effects of completing training (not intent-to-treat)" in paths.html.read_text()
    flow = {row["step"]: row for row in results["consort"]}
    assert flow["randomized"]["total"] == 300
    assert 0 < results["balance_test"]["p_value"] <= 1
    assert results["balance_test"]["n_permutations"] >= 1000
    for line in results["summary"]["found"]:
        assert line.startswith("Assignment to training (intent-to-treat)")
        assert "-adjusted p" in line
    html = paths.html.read_text()
    assert "Primary estimates (pre-specified" in html and "Flow of officers and clips" in html


def test_primary_estimates_carry_fisher_tests_and_block_clustered_rows(demo):
    _, paths = demo
    results = json.loads(paths.json.read_text())
    for effect in [*results["primary_effects"], *results["robustness_effects"]]:
        assert 0 < effect["fisher_p_value"] <= 1, effect["outcome"]
        assert effect["n_permutations"] == 500
        assert effect["n_permutations_undefined"] >= 0
        assert any("counted as extreme" in note for note in effect["notes"])
    blocks = {test["outcome"]: test for test in results["block_cluster_tests"]}
    assert set(blocks) == {effect["outcome"] for effect in results["primary_effects"]}
    assert all(test["n_clusters"] == 12 and 0 < test["p_value"] <= 1 for test in blocks.values())
    markdown = paths.markdown.read_text()
    assert "## Randomization and block-clustered checks of the primary estimates" in markdown
    undefined = sum(
        e["n_permutations_undefined"]
        for e in [*results["primary_effects"], *results["robustness_effects"]]
    )
    assert f"{undefined:,} such re-draws over" in markdown


def test_flow_figure_is_written_beside_the_flow_table(demo):
    _, paths = demo
    figure = paths.out_dir / "consort_flow.png"
    assert figure.read_bytes().startswith(b"\x89PNG")
    assert "](consort_flow.png)" in paths.markdown.read_text()


def test_subgroups_include_officer_baseline_moderators_and_nothing_post_treatment(demo):
    _, paths = demo
    results = json.loads(paths.json.read_text())
    subgroups = {result["subgroup"] for result in results["open_box"]["heterogeneity"]}
    moderators = set(results["plan"]["moderators"])
    assert {"call_type_group", "tenure_years_at_assignment", "pre_period_force_rate"} <= subgroups
    assert subgroups <= moderators  # only the plan's (pre-treatment) moderators


def test_the_demo_report_reads_in_a_real_browser(demo):
    """Chromium at 1280 and 390 px and in print: no table wider than its container, every plot
    loaded, no console error, the estimates of results.json in the text (tests/browser_support)."""
    missing = browser_missing()
    if missing:
        pytest.skip(missing)
    _, paths = demo
    results = json.loads(paths.json.read_text())
    with chromium() as browser:
        seen = report_in_browser(browser, paths.html, results)
    for width in ("desktop", "phone", "print"):
        assert seen[width].overflows == [], width
        assert seen[width].console_errors == [], width
    for width in ("desktop", "phone"):
        assert seen[width].n_tables >= 10 and seen[width].n_images >= 3
        assert seen[width].broken_images == [], width
        assert seen[width].missing_numbers == [], width
    assert seen["print"].pdf_bytes > 10_000


def test_the_report_links_the_gates_data_docs(demo):
    directory, paths = demo
    index = Home.resolve(directory / "home").data_docs_dir / "index.html"
    assert index.is_file() and "fct_officer_months" in index.read_text()
    assert json.loads(paths.json.read_text())["gate"]["data_docs"] == str(index)
    assert 'href="../gate/data_docs/index.html"' in paths.html.read_text()


def _generator_shared_calls(seed: int, scale: float) -> dict[str, float]:
    """The control arm's post-period attendances in the generator's own frames (before export,
    ingest and the models), and the shares shared with another officer of the treatment arm and
    with one trained before the call's day: computed here with pandas, apart from the SQL."""
    from middlestep.synth.generator import simulate_department
    from middlestep.synth.scenario import load_scenario

    simulated = simulate_department(load_scenario(), seed=seed, scale=scale)
    assignments = simulated.trial_assignments.astype({"officer_id": str, "arm": str})
    arms = assignments.set_index("officer_id")["arm"]
    starts = assignments.groupby("arm")["cohort_on"].min()
    training = simulated.training_events[simulated.training_events["is_completed"]]
    first_trained = training.groupby(training["officer_id"].astype(str))["attended_on"].min()
    rows = (
        simulated.call_officers[["call_id", "officer_id"]]
        .astype(str)
        .merge(simulated.calls[["call_id", "received_at"]].astype({"call_id": str}), on="call_id")
    )
    # the generator's times are UTC; the call's day is the department's local date
    zone = load_mapping("synthetic").timezone
    received = pd.to_datetime(rows["received_at"])
    local = received.dt.tz_localize("UTC").dt.tz_convert(zone).dt.tz_localize(None)
    day = local.dt.normalize()
    rows["treatment"] = rows["officer_id"].map(arms).eq("treatment").astype(int)
    rows["trained"] = (rows["officer_id"].map(first_trained) < day).astype(int)
    for flag in ("treatment", "trained"):
        rows[f"others_{flag}"] = rows.groupby("call_id")[flag].transform("sum") - rows[flag]
    post = (day >= starts["treatment"]) & (day < starts["control"])
    control = rows[post & rows["officer_id"].map(arms).eq("control")]
    return {
        "n_control_attendances": len(control),
        "share_control_with_assigned": float((control["others_treatment"] > 0).mean()),
        "share_control_with_trained": float((control["others_trained"] > 0).mean()),
    }


def test_spillover_exposure_recovers_the_generators_shared_calls_exactly(demo):
    """Export, ingest, marts.fct_call_officers and the DuckDB aggregate lose or add nothing: the
    report's exposure is the generator's own share of shared calls."""
    _, paths = demo
    spillover = json.loads(paths.json.read_text())["spillover"]
    truth = _generator_shared_calls(SEED, SCALE)
    assert spillover["n_control_attendances"] == truth["n_control_attendances"] > 10_000
    for share in ("share_control_with_assigned", "share_control_with_trained"):
        assert spillover[share] == pytest.approx(truth[share], abs=1e-12), share
    # backups come from the officer's own block, half of it treatment arm: a third of the calls
    assert 0.2 < spillover["share_control_with_trained"] < spillover["share_control_with_assigned"]
    assert spillover["exposure_basis"] == "pre"


def test_spillover_sensitivity_rows_are_labelled_and_beside_the_primary(demo):
    _, paths = demo
    results = json.loads(paths.json.read_text())
    rows = results["spillover"]["sensitivity_effects"]
    primary = {
        e["outcome"]: e for e in results["primary_effects"] if "per call" not in e["estimator"]
    }
    families = results["plan"]["families"]
    confirmatory = next(family for family in families if family["role"] == "confirmatory")
    assert [row["outcome"] for row in rows] == confirmatory["outcomes"]
    for row in rows:
        assert row["sensitivity"].startswith("sensitivity analysis")
        assert row["notes"][0].startswith("sensitivity analysis") and "baseline" in row["notes"][0]
        assert row["n_units"] < primary[row["outcome"]]["n_units"]
    section = paths.markdown.read_text().split("## Spillover between the arms")[1].split("\n## ")[0]
    assert "Sensitivity analysis, not the randomized comparison" in section
    assert "biased towards no effect" in section


def test_the_report_has_no_empty_captions_and_points_to_sections_that_exist(demo):
    """A table without a caption printed an empty bold line ('****' in report.md), and the
    primary estimates pointed to a section 'Effects' the report does not have."""
    _, paths = demo
    markdown, html = paths.markdown.read_text(), paths.html.read_text()
    assert "****" not in markdown and "<strong></strong>" not in html
    assert "## Difference-in-differences (a robustness check" in markdown
    assert "under 'Effects'" not in markdown
    assert "The section 'Difference-in-differences' is a robustness check" in markdown
