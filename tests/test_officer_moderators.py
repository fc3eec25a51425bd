"""Subgroups by officer baseline moderators: pre-treatment facts only, the plan's list."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.heterogeneity import SUBGROUPS, heterogeneity_table
from analysis.officer_moderators import (
    ABOVE,
    BELOW,
    OFFICER_MODERATORS,
    officer_moderator_levels,
    pre_period_force_rate,
)
from analysis.open_box import with_officer_moderators
from analysis.simulate import TRIAL_START_ON, TrialScenario, simulate_trial
from middlestep.plan.spec import PRE_TREATMENT_MODERATORS, load_plan, plan_path


@pytest.fixture(scope="module")
def trial():
    scenario = TrialScenario(
        n_officers=240, clips_per_officer_period=2.0, force_per_call=0.3 / 60.0
    )
    return simulate_trial(scenario, seed=11)


def test_the_default_moderators_are_the_synthetic_plans_officer_moderators():
    plan = load_plan(plan_path("synthetic"))
    assert set(OFFICER_MODERATORS) | set(SUBGROUPS) == set(plan.moderators)
    assert set(OFFICER_MODERATORS) <= set(PRE_TREATMENT_MODERATORS)


def test_levels_split_at_the_median_and_keep_categories(trial):
    levels = officer_moderator_levels(
        trial.officers, trial.officer_months, trial_start=TRIAL_START_ON
    )
    assert len(levels) == len(trial.officers)
    tenure = trial.officers.set_index("officer_id")["tenure_years_at_assignment"]
    above = levels.set_index("officer_id")["tenure_years_at_assignment"] == ABOVE
    assert (tenure[above.index[above]] > tenure.median()).all()
    assert (tenure[above.index[~above]] <= tenure.median()).all()
    assert set(levels["sex"]) == {"male", "female"}
    assert set(levels["pre_period_force_rate"].dropna()) == {ABOVE, BELOW}
    # the roster has no unit type here: that moderator is simply absent
    assert "unit_type_at_assignment" not in levels.columns


def test_pre_period_force_rate_ignores_everything_from_the_trial_on(trial):
    """Changing every post-period force count leaves the moderator unchanged: it cannot be a
    consequence of assignment."""
    months = trial.officer_months
    after = pd.to_datetime(months["month_start"]) >= pd.Timestamp(TRIAL_START_ON)
    changed = months.assign(force_reports=np.where(after, 50, months["force_reports"]))
    before = pre_period_force_rate(months, TRIAL_START_ON)
    assert before.equals(pre_period_force_rate(changed, TRIAL_START_ON))
    manual = months[~after].groupby("officer_id")["force_reports"].mean()
    assert np.allclose(before.sort_index(), manual.sort_index())
    levels = officer_moderator_levels(trial.officers, months, trial_start=TRIAL_START_ON)
    again = officer_moderator_levels(trial.officers, changed, trial_start=TRIAL_START_ON)
    assert levels.equals(again)


def test_subgroup_table_has_every_officer_moderator(trial):
    frame, moderators = with_officer_moderators(
        trial.encounters, trial.officers, trial.officer_months, TRIAL_START_ON
    )
    assert moderators == ["sex", "tenure_years_at_assignment", "pre_period_force_rate"]
    assert len(frame) == len(trial.encounters)
    results = heterogeneity_table(frame, {"personal_conversation": "binary"}, subgroups=moderators)
    assert [r.subgroup for r in results] == moderators
    tenure = results[1]
    assert {e.extras["level"] for e in tenure.effects} == {ABOVE, BELOW}
    # the effect within a level is the ITT on that level's officers' encounters
    compared = frame["study_period"].isin(["pre", "post"]) & frame["personal_conversation"].notna()
    assert sum(e.n_obs for e in tenure.effects) == compared.sum()
    assert np.isfinite(tenure.interaction_p_value)
