"""The Fisher tests and block-clustered rows of the primary estimates, as the trial attaches
them, and the report section that shows them."""

from __future__ import annotations

import pytest

from analysis.ancova import ancova_itt_effects
from analysis.force_ancova import force_ancova_effect
from analysis.primary_inference import block_cluster_tests, with_primary_fisher_tests
from analysis.randomization_ancova import ancova_permutation_test, force_ancova_permutation_test
from analysis.simulate import TrialScenario, simulate_trial
from analysis.wild_bootstrap import block_wild_bootstrap_test, force_block_wild_bootstrap_test
from middlestep.report.design_inference import TITLE, design_inference_sections

ITEMS = {"empathy": "rating", "commands_issued": "count", "personal_conversation": "binary"}


@pytest.fixture(scope="module")
def trial():
    scenario = TrialScenario(
        n_officers=240, n_blocks=8, clips_per_officer_period=2.0, force_per_call=0.2 / 60.0
    )
    return simulate_trial(scenario, seed=5)


@pytest.fixture(scope="module")
def estimates(trial):
    primary = ancova_itt_effects(trial.encounters, ITEMS)
    primary.append(force_ancova_effect(trial.officer_months, outcome="force_reports"))
    per_call = [
        force_ancova_effect(
            trial.officer_months, outcome="force_reports", exposure="calls_attended"
        )
    ]
    return primary, per_call


def test_each_estimate_gets_the_fisher_test_of_its_own_statistic(trial, estimates):
    primary, per_call = estimates
    options = {"n_permutations": 199, "seed": 3}
    tested = with_primary_fisher_tests(
        primary + per_call,
        trial.encounters,
        trial.officer_months,
        trial.officers,
        ITEMS,
        **options,
    )
    assert [e.estimate for e in tested] == [e.estimate for e in primary + per_call]
    direct = [
        ancova_permutation_test(
            trial.encounters, outcome=item, kind=kind, officers=trial.officers, **options
        )
        for item, kind in ITEMS.items()
    ]
    direct += [
        force_ancova_permutation_test(
            trial.officer_months, officers=trial.officers, exposure=exposure, **options
        )
        for exposure in (None, "calls_attended")
    ]
    for effect, test in zip(tested, direct, strict=True):
        assert effect.extras["fisher_p_value"] == pytest.approx(test.p_value)
        assert effect.extras["n_permutations"] == 199
        assert effect.extras["n_permutations_undefined"] == test.n_undefined


def test_block_rows_for_items_and_force_per_month_but_not_per_call(trial, estimates):
    primary, per_call = estimates
    tests = block_cluster_tests(
        primary + per_call, trial.encounters, trial.officer_months, ITEMS, n_draws=199, seed=1
    )
    assert [t.outcome for t in tests] == [*ITEMS, "force_reports"]
    item = block_wild_bootstrap_test(
        trial.encounters, outcome="empathy", kind="rating", n_draws=199, seed=1
    )
    force = force_block_wild_bootstrap_test(trial.officer_months, n_draws=199, seed=1)
    assert tests[0] == item and tests[-1] == force
    assert all(t.n_clusters == 8 for t in tests)


def test_report_section_shows_both_checks_per_estimate(trial, estimates):
    primary, per_call = estimates
    tested = with_primary_fisher_tests(
        primary, trial.encounters, trial.officer_months, trial.officers, ITEMS, n_permutations=99
    )
    tests = block_cluster_tests(primary, trial.encounters, trial.officer_months, ITEMS, n_draws=99)
    [section] = design_inference_sections(tested, per_call, tests)
    assert section.title == TITLE
    frame = section.tables[0][1]
    assert list(frame["outcome"]) == [*ITEMS, "force_reports", "force_reports (per call)"]
    undefined = sum(e.extras["n_permutations_undefined"] for e in tested)
    assert f"{undefined:,} such re-draws over {len(tested)} estimates" in section.paragraphs[0]
    assert "wild cluster bootstrap" in section.paragraphs[1]
    assert frame["fisher_p_value"].iloc[0] != "n/a"
    # the per-call row has neither check here: none was computed for it
    assert frame["fisher_p_value"].iloc[-1] == "n/a"
    assert frame["block_wild_bootstrap_p"].iloc[-1] is None
    assert design_inference_sections(primary, (), ()) == []
