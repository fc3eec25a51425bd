"""Every worked example and R 1.2.3 output of the staggered-rollout spec (sections 5.7 and 16).

"Tiny A" checks the weight matrices, the closed forms of the simple estimate and the three
estimators on every estimand; "Tiny B" checks the pipeline's quirks (a unit with a missing
outcome, a singleton cohort, a cohort treated in the first period, no never-treated group), the
placebo normalisation, and R's Fisher randomization draws, including the chaining of event
times and the compounding permutations of the balance checks.
"""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from analysis.staggered import balance_checks, prepare_panel, staggered, staggered_covariance
from analysis.staggered.weights import Design, weight_matrices

TINY_A_OUTCOMES = {
    1: (2, [2, 4, 7]),
    2: (2, [1, 3, 5]),
    3: (2, [0, 2, 3]),
    4: (3, [1, 1, 4]),
    5: (3, [0, 3, 6]),
    6: (3, [3, 2, 8]),
    7: (np.inf, [1, 2, 2]),
    8: (np.inf, [0, 1, 3]),
    9: (np.inf, [2, 4, 3]),
}
TINY_B_OUTCOMES = {
    "u01": (1, [3, 4, 6, 5], [2, 1, 3, 2]),
    "u02": (1, [1, 3, 3, 4], [0, 2, 1, 1]),
    "u03": (2, [2, 5, 6, 8], [1, 1, 2, 0]),
    "u04": (2, [0, 3, 5, 4], [3, 2, 2, 4]),
    "u05": (2, [1, 2, 4, 7], [1, 0, 1, 1]),
    "u06": (3, [2, 2, 5, 6], [2, 3, 1, 2]),
    "u07": (3, [1, 3, 4, 4], [0, 1, 0, 2]),
    "u08": (3, [0, 0, 3, 5], [1, 2, 3, 1]),
    "u09": (4, [5, 5, 5, 9], [2, 2, 2, 2]),
    "u10": (5, [1, 1, 2, 2], [1, 3, 2, 2]),
    "u11": (5, [2, 4, 3, 3], [2, 1, 1, 0]),
    "u12": (5, [0, 1, 1, 3], [3, 3, 2, 1]),
    "u13": (5, [4, np.nan, 2, 1], [1, 1, 1, 1]),
}
# R's FRT reads labels in input row order: period-major, units in this order within a period
TINY_B_ROW_ORDER = "u07 u02 u11 u13 u05 u09 u01 u12 u04 u10 u08 u03 u06".split()
COLUMNS = {"unit": "unit", "time": "period", "cohort": "cohort"}
RTOL = 1e-10


def tiny_a() -> pd.DataFrame:
    return pd.DataFrame(
        [(i, t + 1, g, y[t]) for i, (g, y) in TINY_A_OUTCOMES.items() for t in range(3)],
        columns=["unit", "period", "cohort", "y"],
    )


def tiny_b() -> pd.DataFrame:
    return pd.DataFrame(
        [
            (u, t + 1, TINY_B_OUTCOMES[u][0], TINY_B_OUTCOMES[u][1][t], TINY_B_OUTCOMES[u][2][t])
            for t in range(4)
            for u in TINY_B_ROW_ORDER
        ],
        columns=["unit", "period", "cohort", "y", "w"],
    )


def fit(data, outcome, estimand, estimator="efficient", **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return staggered(
            data, outcome=outcome, estimand=estimand, estimator=estimator, **COLUMNS, **options
        )


def assert_fit(effect, estimate, se, se_neyman, tol=RTOL):
    assert effect.estimate == pytest.approx(estimate, rel=tol, abs=1e-12)
    assert effect.std_error == pytest.approx(se, rel=tol, abs=1e-12)
    assert effect.extras["std_error_neyman"] == pytest.approx(se_neyman, rel=tol, abs=1e-12)


def tiny_a_design():
    panel = prepare_panel(tiny_a(), outcome="y", **COLUMNS)
    return Design(panel.cohorts, panel.sizes, panel.periods), panel


F = Fraction


@pytest.mark.parametrize(
    ("estimand", "event_time", "a_theta", "a_zero"),
    [
        (
            "simple",
            None,
            [[0, F(1, 3), F(1, 3)], [0, F(-1, 6), F(1, 3)], [0, F(-1, 6), F(-2, 3)]],
            [[F(2, 3), 0, 0], [F(-1, 6), F(1, 3), 0], [F(-1, 2), F(-1, 3), 0]],
        ),
        (
            "cohort",
            None,
            [[0, F(1, 4), F(1, 4)], [0, F(-1, 8), F(1, 2)], [0, F(-1, 8), F(-3, 4)]],
            [[F(1, 2), 0, 0], [F(-1, 8), F(1, 2), 0], [F(-3, 8), F(-1, 2), 0]],
        ),
        (
            "calendar",
            None,
            [[0, F(1, 2), F(1, 4)], [0, F(-1, 4), F(1, 4)], [0, F(-1, 4), F(-1, 2)]],
            [[F(3, 4), 0, 0], [F(-1, 4), F(1, 4), 0], [F(-1, 2), F(-1, 4), 0]],
        ),
        (
            "eventstudy",
            0,
            [[0, F(1, 2), 0], [0, F(-1, 4), F(1, 2)], [0, F(-1, 4), F(-1, 2)]],
            [[F(1, 2), 0, 0], [F(-1, 4), F(1, 2), 0], [F(-1, 4), F(-1, 2), 0]],
        ),
        (
            "eventstudy",
            1,
            [[0, 0, 1], [0, 0, 0], [0, 0, -1]],
            [[1, 0, 0], [0, 0, 0], [-1, 0, 0]],
        ),
    ],
)
def test_weight_matrices_of_tiny_a_match_the_hand_derivation(estimand, event_time, a_theta, a_zero):
    design, _ = tiny_a_design()
    computed_theta, computed_zero = weight_matrices(design, estimand, event_time)
    np.testing.assert_allclose(computed_theta, np.array(a_theta, dtype=float), atol=1e-15)
    np.testing.assert_allclose(computed_zero, np.array(a_zero, dtype=float), atol=1e-15)


def test_last_treated_only_contrasts_use_the_never_treated_cohort_alone():
    design, _ = tiny_a_design()
    a_theta, _ = weight_matrices(design, "simple", last_treated_only=True)
    # cells (2,2), (2,3) of cohort 2 and (3,3) of cohort 3, weight 1/3 each
    expected = np.array([[0, 1, 1], [0, 0, 1], [0, -1, -2]]) / 3
    np.testing.assert_allclose(a_theta, expected, atol=1e-15)


def test_tiny_a_cohort_summaries_match_the_spec():
    _, panel = tiny_a_design()
    summaries = panel.summaries()
    np.testing.assert_allclose(summaries.means, [[1, 3, 5], [4 / 3, 2, 6], [1, 7 / 3, 8 / 3]])
    np.testing.assert_allclose(summaries.covariances[0], [[1, 1, 2], [1, 1, 2], [2, 2, 4]])
    np.testing.assert_allclose(
        summaries.covariances[1], [[7 / 3, -1 / 2, 2], [-1 / 2, 1, 1], [2, 1, 4]]
    )
    np.testing.assert_allclose(
        summaries.covariances[2], [[1, 3 / 2, 0], [3 / 2, 7 / 3, 1 / 6], [0, 1 / 6, 1 / 3]]
    )


def test_tiny_a_simple_estimate_equals_the_closed_forms():
    effect = fit(tiny_a(), "y", "simple")
    assert effect.extras["beta"] == pytest.approx(48 / 91, rel=1e-13)
    assert effect.estimate == pytest.approx(1231 / 546, rel=1e-13)
    assert effect.extras["std_error_neyman"] ** 2 == pytest.approx(1871 / 4914, rel=1e-13)
    assert effect.std_error**2 == pytest.approx(1871 / 4914 - 2925 / 15876, rel=1e-13)
    assert fit(tiny_a(), "y", "simple", "cs").estimate == pytest.approx(7 / 3, rel=1e-13)


TINY_A_EXPECTED = [
    ("simple", "efficient", {}, 2.25457875457875, 0.443292812864239, 0.617048523820356),
    ("simple", "cs", {}, 2.33333333333333, 0.567390938149687, 0.71145824860365),
    ("simple", "sa", {}, 2.22222222222222, 0.496586990824148, 0.587944735792131),
    (
        "simple",
        "efficient",
        {"use_did_a0": False},
        2.07212257100149,
        0.248501162347635,
        0.495977006019349,
    ),
    ("cohort", "efficient", {}, 2.53660220994475, 0.560769819248976, 0.693353962719022),
    ("cohort", "cs", {}, 2.66666666666667, 0.747942188278481, 0.85187701251087),
    ("cohort", "sa", {}, 2.58333333333333, 0.682502190738471, 0.754615428178118),
    (
        "cohort",
        "efficient",
        {"use_did_a0": False},
        2.36967488789238,
        0.429905172642989,
        0.592533024314122,
    ),
    ("calendar", "efficient", {}, 1.93181818181818, 0.414071921443818, 0.547174791565961),
    ("calendar", "cs", {}, 2, 0.510826969229123, 0.623609564462324),
    ("calendar", "sa", {}, 1.83333333333333, 0.372846972906233, 0.416666666666667),
    (
        "calendar",
        "efficient",
        {"use_did_a0": False},
        1.73150224215247,
        0.0901439482473077,
        0.368877524122426,
    ),
    (
        "eventstudy",
        "efficient",
        {"event_time": 0},
        2.15600775193798,
        0.57863154993243,
        0.627675153396416,
    ),
    ("eventstudy", "cs", {"event_time": 0}, 2.33333333333333, 0.797046307833137, 0.833333333333333),
    ("eventstudy", "sa", {"event_time": 0}, 2.16666666666667, 0.596651760455987, 0.600925212577332),
]
# R prints 15 significant digits
PRINTED = 5e-14


@pytest.mark.parametrize(
    ("estimand", "estimator", "options", "estimate", "se", "se_neyman"), TINY_A_EXPECTED
)
def test_tiny_a_matches_r(estimand, estimator, options, estimate, se, se_neyman):
    effect = fit(tiny_a(), "y", estimand, estimator, **options)
    assert_fit(effect, estimate, se, se_neyman, tol=PRINTED)
    assert effect.n_units == 9


@pytest.mark.parametrize("estimator", ["efficient", "cs", "sa"])
def test_tiny_a_event_times_minus_one_and_one(estimator):
    minus_one, one = fit(tiny_a(), "y", "eventstudy", estimator, event_time=[-1, 1])
    assert_fit(minus_one, 0.0, 0.0, 0.0)
    assert_fit(one, 2.33333333333333, 0.368513865595045, 0.881917103688197, tol=PRINTED)
    assert [minus_one.extras["event_time"], one.extras["event_time"]] == [-1, 1]


def test_tiny_a_joint_event_study_covariance_matches_r():
    vcv, vcv_neyman = staggered_covariance(tiny_a(), outcome="y", event_time=[0, 1], **COLUMNS)
    np.testing.assert_allclose(
        vcv.to_numpy(),
        [[0.334814470577206, -0.0433995734383332], [-0.0433995734383331, 0.135802469135802]],
        rtol=PRINTED,
    )
    np.testing.assert_allclose(
        vcv_neyman.to_numpy(),
        [[0.393976098191214, 0.151485788113695], [0.151485788113695, 0.777777777777778]],
        rtol=PRINTED,
    )


def test_tiny_a_balance_checks_match_r():
    checks = balance_checks(tiny_a(), outcome="y", event_time=[0, 1], **COLUMNS)
    table = checks.table
    assert table["contrast"].tolist() == [
        "all_simple",
        "all_cohort",
        "all_calendar",
        "all_ES0",
        "all_ES1",
    ]
    np.testing.assert_allclose(table["x_hat"], [-1 / 6, -5 / 24, -1 / 6, -1 / 4, 0], atol=1e-14)
    np.testing.assert_allclose(
        table["std_error"],
        [
            0.749485420179558,
            0.792762399601685,
            0.731247032282677,
            0.772801541291309,
            0.816496580927726,
        ],
        rtol=PRINTED,
    )
    assert checks.wald == pytest.approx(0.298206278026907, rel=PRINTED)
    assert checks.wald_p_value == pytest.approx(0.997676685247624, rel=PRINTED)
    assert checks.wald_df == 5
    assert checks.n_units == 9


TINY_B_EXPECTED = [
    ("simple", "efficient", None, 2.29664097717028, 0.433564058121312, 0.433564058121312),
    ("simple", "cs", None, 2.63333333333333, 0.5565269285688, 0.568624070307733),
    ("simple", "sa", None, 2.6, 0.493288286231625, 0.503322295684717),
    ("cohort", "efficient", None, 2.33418047188755, 0.405824699663293, 0.405824699663293),
    ("cohort", "cs", None, 2.61111111111111, 0.643102050155013, 0.652630006915041),
    ("cohort", "sa", None, 2.58333333333333, 0.584489594791689, 0.592520250213932),
    ("calendar", "efficient", None, 1.99034413434248, 0.512430049221664, 0.512430049221664),
    ("calendar", "cs", None, 2.44444444444444, 0.540775620386994, 0.54715876676645),
    ("calendar", "sa", None, 2.38888888888889, 0.45474182065958, 0.458122847290851),
    ("eventstudy", "efficient", -2, 0.0426136363636364, 0.231947657692616, 0.231947657692616),
    ("eventstudy", "efficient", 0, 1.64038825757576, 0.479844248770006, 0.479844248770006),
    ("eventstudy", "efficient", 1, 2.4616935483871, 0.463603014848204, 0.463603014848204),
    ("eventstudy", "cs", -2, 0.166666666666667, 0.600925212577332, 0.600925212577332),
    ("eventstudy", "cs", 0, 1.91666666666667, 0.616610357789531, 0.618016540591305),
    ("eventstudy", "cs", 1, 2.83333333333333, 0.799305253885453, 0.799305253885453),
    ("eventstudy", "sa", -2, 0.166666666666667, 0.666666666666667, 0.666666666666667),
    ("eventstudy", "sa", 0, 1.83333333333333, 0.463980363569169, 0.471404520791032),
    ("eventstudy", "sa", 1, 2.83333333333333, 0.799305253885453, 0.799305253885453),
]


@pytest.mark.parametrize(
    ("estimand", "estimator", "event_time", "estimate", "se", "se_neyman"), TINY_B_EXPECTED
)
def test_tiny_b_matches_r(estimand, estimator, event_time, estimate, se, se_neyman):
    options = {} if event_time is None else {"event_time": event_time}
    effect = fit(tiny_b(), "y", estimand, estimator, **options)
    assert_fit(effect, estimate, se, se_neyman, tol=PRINTED)
    # u13 (missing y) and the singleton cohort 4 are dropped; CS / SA also drop cohort 1
    assert effect.n_units == (11 if estimator == "efficient" else 9)


@pytest.mark.parametrize("estimator", ["efficient", "cs", "sa"])
def test_tiny_b_event_times_in_one_call_equal_one_by_one(estimator):
    together = fit(tiny_b(), "y", "eventstudy", estimator, event_time=[-2, -1, 0, 1])
    assert_fit(together[1], 0.0, 0.0, 0.0)
    for effect, event_time in zip(together, [-2, -1, 0, 1], strict=True):
        alone = fit(tiny_b(), "y", "eventstudy", estimator, event_time=event_time)
        assert effect.estimate == pytest.approx(alone.estimate, rel=1e-14, abs=1e-15)
        assert effect.std_error == pytest.approx(alone.std_error, rel=1e-14, abs=1e-15)


def test_tiny_b_pipeline_quirks_are_reported():
    with pytest.warns(UserWarning) as caught:
        effect = staggered(tiny_b(), outcome="y", **COLUMNS)
    messages = " ".join(str(w.message) for w in caught)
    assert "not observed in every period" in messages
    assert "singleton cohort(s) 4" in messages
    assert effect.extras["n_cohorts"] == 4  # 1, 2, 3 and the pure control 5
    # cohort 1 is treated in the first period: gMin = t_1, so se equals se_neyman
    assert effect.std_error == effect.extras["std_error_neyman"]


def test_tiny_b_placebo_keeps_cohorts_without_the_period_in_the_normalisation():
    # E = {2, 3}: cohort 2 has no period 0 but keeps weight 1/2; by hand the estimate is 1/6
    effect = fit(tiny_b(), "y", "eventstudy", "cs", event_time=-2)
    assert effect.estimate == pytest.approx(1 / 6, rel=1e-13)


@pytest.mark.parametrize(
    ("estimator", "estimate", "se", "se_neyman", "p_value", "p_value_neyman"),
    [
        ("efficient", 0.0372346315091992, 0.324407250738603, 0.324407250738603, 0.72, 0.72),
        ("cs", 0.0523809523809526, 0.354915606915867, 0.405433616309205, 0.96, 0.96),
        ("sa", 0.116666666666667, 0.384500036121946, 0.44001262608147, 0.72, 0.76),
    ],
)
def test_tiny_b_fisher_p_values_match_r_draw_for_draw(
    estimator, estimate, se, se_neyman, p_value, p_value_neyman
):
    effect = fit(tiny_b(), "w", "simple", estimator, permutations=25, rng="r")
    assert_fit(effect, estimate, se, se_neyman, tol=1e-12)
    assert effect.extras["fisher_p_value"] == p_value
    assert effect.extras["fisher_p_value_neyman"] == p_value_neyman
    assert effect.extras["n_permutations"] == 25


def test_tiny_b_fisher_p_values_chain_across_event_times_like_r():
    zero, one = fit(tiny_b(), "w", "eventstudy", event_time=[0, 1], permutations=25, rng="r")
    assert_fit(zero, -0.62040159411404, 0.438021050932618, 0.438021050932618, tol=1e-12)
    assert zero.extras["fisher_p_value"] == 0.24
    assert zero.extras["fisher_p_value_neyman"] == 0.24
    assert_fit(one, 0.197169190256748, 0.362662728009053, 0.362662728009053, tol=1e-12)
    assert one.extras["fisher_p_value"] == 0.52
    alone = fit(tiny_b(), "w", "eventstudy", event_time=1, permutations=25, rng="r")
    assert alone.extras["fisher_p_value"] == 0.56
    assert alone.extras["fisher_p_value_neyman"] == 0.56


def test_tiny_b_cs_fisher_p_value_and_estimates_ignore_input_row_order():
    shuffled = tiny_b().sample(frac=1.0, random_state=3)
    cs_original = fit(tiny_b(), "w", "simple", "cs", permutations=25, rng="r")
    cs_shuffled = fit(shuffled, "w", "simple", "cs", permutations=25, rng="r")
    assert cs_original.extras["fisher_p_value"] == cs_shuffled.extras["fisher_p_value"]
    assert fit(shuffled, "w", "simple").estimate == pytest.approx(
        fit(tiny_b(), "w", "simple").estimate, rel=1e-14
    )


def test_tiny_b_balance_checks_with_compounding_r_draws_match_r():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checks = balance_checks(
            tiny_b(),
            outcome="y",
            event_time=[0, 1],
            permutations=25,
            seed=2024,
            rng="r",
            **COLUMNS,
        )
    table = checks.table
    np.testing.assert_allclose(
        table["x_hat"], [-0.0869565217391305, -0.125, -0.0625, -0.125, -0.125], rtol=PRINTED
    )
    np.testing.assert_allclose(
        table["std_error"],
        [
            0.531609533071195,
            0.657488909919146,
            0.406394205175221,
            0.586301969977929,
            0.695970545353753,
        ],
        rtol=PRINTED,
    )
    assert table["fisher_p_value"].tolist() == [0.88, 0.92, 0.88, 0.80, 0.92]
    assert checks.wald == pytest.approx(0.153846153846154, rel=PRINTED)
    assert checks.wald_p_value == pytest.approx(0.999532521565437, rel=PRINTED)
    assert checks.n_units == 11
    assert checks.fisher_sup_t_p_value == 0.96
