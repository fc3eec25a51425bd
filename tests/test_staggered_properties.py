"""Invariances, identities and input checks of the staggered-rollout estimators (spec 12, 15),
and the fast permutation engine against recomputing every cohort summary per draw."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from analysis.staggered import balance_checks, prepare_panel, staggered
from analysis.staggered import estimator as core
from analysis.staggered.api import _slow_statistics, _targets
from analysis.staggered.permutation import PermutationStatistics
from analysis.staggered.simulate import simulate_staggered_panel

COLUMNS = {"unit": "unit", "time": "period", "cohort": "cohort", "outcome": "outcome"}


@pytest.fixture(scope="module")
def panel_data() -> pd.DataFrame:
    # never-treated units, a cohort beyond the last period and 8 periods
    return simulate_staggered_panel(
        120, 8, (3, 4, 6, 9, np.inf), effect=lambda e: 1.0 + 0.25 * e, seed=11
    )


@pytest.fixture(scope="module")
def first_period_data() -> pd.DataFrame:
    # a cohort treated in the first period and no never-treated group
    return simulate_staggered_panel(90, 6, (1, 3, 5, 7), effect=0.5, seed=5)


def estimates(effects):
    return [x for e in effects for x in (e.estimate, e.std_error, e.extras["std_error_neyman"])]


def test_row_order_and_id_renaming_change_no_estimate(panel_data):
    base = staggered(panel_data, estimand="calendar", **COLUMNS)
    shuffled = panel_data.sample(frac=1.0, random_state=1)
    renamed = panel_data.assign(unit=panel_data["unit"].map(lambda i: f"officer-{i:05d}"))
    for other in (shuffled, renamed):
        effect = staggered(other, estimand="calendar", **COLUMNS)
        assert effect.estimate == pytest.approx(base.estimate, rel=1e-12)
        assert effect.std_error == pytest.approx(base.std_error, rel=1e-12)


def test_shifting_periods_and_cohorts_together_changes_nothing(panel_data):
    shifted = panel_data.assign(
        period=panel_data["period"] + 100, cohort=panel_data["cohort"] + 100
    )
    for estimand, event_time in (("simple", None), ("cohort", None), ("eventstudy", 2)):
        a = staggered(panel_data, estimand=estimand, event_time=event_time, **COLUMNS)
        b = staggered(shifted, estimand=estimand, event_time=event_time, **COLUMNS)
        assert estimates([a]) == pytest.approx(estimates([b]), rel=1e-10)


def test_fixed_beta_one_equals_callaway_santanna(panel_data):
    for estimand in ("simple", "cohort", "calendar"):
        fixed = staggered(panel_data, estimand=estimand, beta=1.0, **COLUMNS)
        cs = staggered(panel_data, estimand=estimand, estimator="cs", **COLUMNS)
        assert estimates([fixed]) == pytest.approx(estimates([cs]), rel=1e-12)


def test_beta_zero_is_the_difference_in_means(panel_data):
    effect = staggered(panel_data, estimand="simple", beta=0.0, **COLUMNS)
    panel = prepare_panel(panel_data, **COLUMNS)
    (target,), _ = _targets(
        panel, "simple", None, last_treated_only=False, use_did_a0=True, several=False
    )
    means = panel.summaries().means
    assert effect.estimate == pytest.approx(float(np.sum(target.a_theta * means)), rel=1e-12)


def test_refined_se_never_exceeds_the_neyman_se(panel_data):
    for estimator in ("efficient", "cs", "sa"):
        for effect in staggered(
            panel_data,
            estimand="eventstudy",
            event_time=[-2, -1, 0, 1, 2, 3],
            estimator=estimator,
            **COLUMNS,
        ):
            assert effect.std_error <= effect.extras["std_error_neyman"] + 1e-12


def test_event_time_minus_one_is_zero_for_every_estimator(panel_data):
    for estimator in ("efficient", "cs", "sa"):
        effect = staggered(
            panel_data, estimand="eventstudy", event_time=-1, estimator=estimator, **COLUMNS
        )
        assert abs(effect.estimate) < 1e-12
        assert effect.std_error < 1e-7
        assert effect.extras["std_error_neyman"] < 1e-7


def test_full_pre_period_contrasts_make_placebos_zero(panel_data):
    for event_time in (-3, -2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the refined variance of a zero is negative noise
            effect = staggered(
                panel_data,
                estimand="eventstudy",
                event_time=event_time,
                use_did_a0=False,
                **COLUMNS,
            )
        assert abs(effect.estimate) < 1e-10


def test_result_is_an_effect_with_json_fields(panel_data):
    effect = staggered(panel_data, estimand="simple", permutations=20, seed=3, **COLUMNS)
    record = json.loads(json.dumps(effect.to_dict()))
    for field in ("estimate", "std_error", "ci_low", "ci_high", "p_value", "n_units"):
        assert field in record
    for extra in ("std_error_neyman", "fisher_p_value", "n_permutations", "beta"):
        assert extra in record
    assert effect.ci_low < effect.estimate < effect.ci_high
    assert effect.n_units == 120
    assert "Roth & Sant'Anna" in effect.summary()


def test_numpy_draws_are_reproducible_with_a_seed(panel_data):
    first = staggered(panel_data, estimand="simple", permutations=30, seed=9, **COLUMNS)
    again = staggered(panel_data, estimand="simple", permutations=30, seed=9, **COLUMNS)
    assert first.extras["fisher_p_value"] == again.extras["fisher_p_value"]


@pytest.mark.parametrize(
    ("data_name", "estimand", "event_time", "estimator"),
    [
        ("panel_data", "simple", None, "efficient"),
        ("panel_data", "cohort", None, "cs"),
        ("panel_data", "calendar", None, "sa"),
        ("panel_data", "eventstudy", 1, "efficient"),
        ("panel_data", "eventstudy", -2, "efficient"),
        ("first_period_data", "simple", None, "efficient"),
        ("first_period_data", "eventstudy", 0, "cs"),
    ],
)
def test_fast_permutation_engine_equals_recomputing_each_draw(
    request, data_name, estimand, event_time, estimator
):
    data = request.getfixturevalue(data_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        panel = prepare_panel(data, drop_always_treated=estimator != "efficient", **COLUMNS)
    (target,), _ = _targets(
        panel,
        estimand,
        event_time,
        last_treated_only=estimator == "sa",
        use_did_a0=True,
        several=False,
    )
    beta = None if estimator == "efficient" else 1.0
    rng = np.random.default_rng(0)
    draws = np.stack([rng.permutation(panel.labels) for _ in range(25)] + [panel.labels])
    g_min = core.first_targeted_cohort(target.a_theta)
    engine = PermutationStatistics(
        panel.outcomes,
        panel.sizes,
        target.a_theta,
        target.a_zero[:, 0, :],
        beta=beta,
        g_min_index=g_min,
        pre_periods=core.pre_period_count(panel.cohorts, panel.periods, g_min),
    )
    fast = np.column_stack(engine.evaluate(draws))
    slow = np.column_stack(_slow_statistics(panel, target, beta, draws))
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12)


def test_balance_checks_of_a_randomized_rollout_pass(panel_data):
    checks = balance_checks(panel_data, event_time=[0, 1], permutations=50, seed=1, **COLUMNS)
    assert checks.wald_df == 5
    assert 0.0 <= checks.wald_p_value <= 1.0
    assert checks.table["fisher_p_value"].between(0, 1).all()
    assert checks.n_permutations == 50
    only_cohort = balance_checks(panel_data, estimand="cohort", **COLUMNS)
    assert only_cohort.table["contrast"].tolist() == ["cohort"]
    assert only_cohort.table["x_hat"].iloc[0] == pytest.approx(
        checks.table["x_hat"].iloc[1], rel=1e-12
    )


def long_frame(rows):
    return pd.DataFrame(rows, columns=["unit", "period", "cohort", "outcome"])


def test_rejects_duplicated_unit_periods():
    data = long_frame([(1, 1, 2, 0.0), (1, 1, 2, 1.0), (2, 1, 2, 0.0)])
    with pytest.raises(ValueError, match="duplicated"):
        staggered(data, **COLUMNS)


def test_rejects_missing_cohorts_and_cohorts_varying_within_a_unit():
    with pytest.raises(ValueError, match="missing"):
        staggered(long_frame([(1, 1, np.nan, 0.0)]), **COLUMNS)
    with pytest.raises(ValueError, match="constant"):
        staggered(long_frame([(1, 1, 2, 0.0), (1, 2, 3, 0.0)]), **COLUMNS)


def test_rejects_unknown_options_and_inconsistent_event_times(panel_data):
    with pytest.raises(ValueError, match="estimand"):
        staggered(panel_data, estimand="dynamic", **COLUMNS)
    with pytest.raises(ValueError, match="estimator"):
        staggered(panel_data, estimator="twfe", **COLUMNS)
    with pytest.raises(ValueError, match="event_time"):
        staggered(panel_data, estimand="eventstudy", **COLUMNS)
    with pytest.raises(ValueError, match="several event times"):
        staggered(panel_data, estimand="simple", event_time=[0, 1], **COLUMNS)


def test_event_times_without_comparisons_are_skipped_in_a_list_and_raise_alone(panel_data):
    with pytest.warns(UserWarning, match="skipped event time 20"):
        effects = staggered(panel_data, estimand="eventstudy", event_time=[0, 20], **COLUMNS)
    assert [e.extras["event_time"] for e in effects] == [0]
    with pytest.raises(ValueError, match="no comparison cohorts"):
        staggered(panel_data, estimand="eventstudy", event_time=20, **COLUMNS)


def test_cs_and_sa_drop_units_treated_in_the_first_period(first_period_data):
    with pytest.warns(UserWarning, match="treated in the first period"):
        cs = staggered(first_period_data, estimator="cs", **COLUMNS)
    efficient = staggered(first_period_data, **COLUMNS)
    assert cs.n_units < efficient.n_units
    # plain staggered keeps the first-period cohort, which switches the refinement off
    assert efficient.std_error == efficient.extras["std_error_neyman"]
