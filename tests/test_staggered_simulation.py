"""Simulated staggered roll-outs: planted effects are recovered, intervals cover, and the
Callaway & Sant'Anna estimates agree with the `csdid` package and with a direct implementation of
the group-time ATT from group means (spec section 14)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from analysis.staggered import prepare_panel, staggered
from analysis.staggered.api import _targets
from analysis.staggered.simulate import simulate_staggered_panel

COLUMNS = {"unit": "unit", "time": "period", "cohort": "cohort", "outcome": "outcome"}
ESTIMANDS = [
    ("simple", None),
    ("cohort", None),
    ("calendar", None),
    ("eventstudy", 0),
    ("eventstudy", 2),
]


def planted_value(data: pd.DataFrame, estimand: str, event_time, estimator: str) -> float:
    """The estimand evaluated at the planted effects: <A_theta, mean effect by cohort x period>.

    Controls and base periods are untreated, so only the treated cells carry effect."""
    panel = prepare_panel(data.assign(outcome=data["effect"]), **COLUMNS)
    (target,), _ = _targets(
        panel,
        estimand,
        event_time,
        last_treated_only=estimator == "sa",
        use_did_a0=True,
        several=False,
    )
    return float(np.sum(target.a_theta * panel.summaries().means))


@pytest.fixture(scope="module")
def large_rollout() -> pd.DataFrame:
    return simulate_staggered_panel(
        3000, 8, (3, 4, 5, 6, np.inf), effect=lambda e: 1.0 + 0.5 * e, seed=2
    )


@pytest.mark.parametrize("estimator", ["efficient", "cs", "sa"])
@pytest.mark.parametrize(("estimand", "event_time"), ESTIMANDS)
def test_recovers_planted_effects(large_rollout, estimand, event_time, estimator):
    effect = staggered(
        large_rollout, estimand=estimand, event_time=event_time, estimator=estimator, **COLUMNS
    )
    truth = planted_value(large_rollout, estimand, event_time, estimator)
    assert abs(effect.estimate - truth) < 4 * effect.std_error
    assert effect.std_error < 0.15


def test_planted_values_follow_the_estimand_weights(large_rollout):
    # effect 1 + 0.5 e: the event-study estimand at e is exactly 1 + 0.5 e
    assert planted_value(large_rollout, "eventstudy", 2, "cs") == pytest.approx(2.0)
    assert planted_value(large_rollout, "eventstudy", -2, "cs") == pytest.approx(0.0)


def test_efficient_estimator_is_more_precise_than_callaway_santanna(large_rollout):
    efficient = staggered(large_rollout, estimand="simple", **COLUMNS)
    cs = staggered(large_rollout, estimand="simple", estimator="cs", **COLUMNS)
    assert efficient.std_error < cs.std_error


def test_fisher_test_detects_a_planted_effect_and_not_a_null_one():
    data = simulate_staggered_panel(300, 6, (3, 4, 5, np.inf), effect=1.0, seed=8)
    detected = staggered(data, estimand="simple", permutations=200, seed=1, **COLUMNS)
    assert detected.extras["fisher_p_value"] < 0.01
    null = simulate_staggered_panel(300, 6, (3, 4, 5, np.inf), effect=0.0, seed=8)
    not_detected = staggered(null, estimand="simple", permutations=200, seed=1, **COLUMNS)
    assert not_detected.extras["fisher_p_value"] > 0.05


def direct_callaway_santanna(data: pd.DataFrame, estimand: str, event_time=None) -> float:
    """CS with not-yet-treated controls and base period g - 1, straight from group means."""
    wide = data.pivot(index="unit", columns="period", values="outcome")
    cohort = data.groupby("unit")["cohort"].first().reindex(wide.index)
    sizes = cohort.value_counts()
    periods = list(wide.columns)
    last = cohort.max()
    cells = {}
    for g in sorted(c for c in sizes.index if c < last):
        for t in periods:
            if t >= last or g - 1 not in periods:
                continue
            treated = wide[cohort == g]
            controls = wide[cohort > max(g, t)]
            cells[(g, t)] = (treated[t] - treated[g - 1]).mean() - (
                controls[t] - controls[g - 1]
            ).mean()
    post = {cell: att for cell, att in cells.items() if cell[1] >= cell[0]}
    if estimand == "simple":
        weights = {cell: sizes[cell[0]] for cell in post}
        return sum(weights[c] * post[c] for c in post) / sum(weights.values())
    if estimand == "cohort":
        groups = sorted({g for g, _ in post})
        within = {g: np.mean([a for (h, _), a in post.items() if h == g]) for g in groups}
        return sum(sizes[g] * within[g] for g in groups) / sum(sizes[g] for g in groups)
    if estimand == "calendar":
        times = sorted({t for _, t in post})
        return np.mean(
            [
                sum(sizes[g] * a for (g, s), a in post.items() if s == t)
                / sum(sizes[g] for (g, s) in post if s == t)
                for t in times
            ]
        )
    chosen = {g: a for (g, t), a in cells.items() if t - g == event_time}
    return sum(sizes[g] * a for g, a in chosen.items()) / sum(sizes[g] for g in chosen)


@pytest.fixture(scope="module")
def small_rollout() -> pd.DataFrame:
    return simulate_staggered_panel(
        80, 7, (3, 4, 5, 6, np.inf), effect=lambda e: 1.0 + 0.5 * e, seed=4
    )


@pytest.mark.parametrize(
    ("estimand", "event_time"),
    [
        ("simple", None),
        ("cohort", None),
        ("calendar", None),
        ("eventstudy", 0),
        ("eventstudy", 2),
        ("eventstudy", -2),
    ],
)
def test_callaway_santanna_equals_the_direct_group_time_formula(
    small_rollout, estimand, event_time
):
    effect = staggered(
        small_rollout, estimand=estimand, event_time=event_time, estimator="cs", **COLUMNS
    )
    expected = direct_callaway_santanna(small_rollout, estimand, event_time)
    assert effect.estimate == pytest.approx(expected, rel=1e-12)


def csdid_aggregates(data: pd.DataFrame, control_group: str) -> dict:
    from csdid.att_gt import ATTgt

    recoded = data.assign(g=data["cohort"].replace(np.inf, 0).astype(int))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = ATTgt(
            yname="outcome",
            tname="period",
            idname="unit",
            gname="g",
            data=recoded,
            control_group=control_group,
        ).fit(est_method="reg", base_period="universal", bstrap=False)
        out = {}
        for name in ("simple", "group", "calendar", "dynamic"):
            aggregate = fitted.aggte(typec=name, bstrap=False).atte
            out[name] = aggregate["overall_att"]
            if name == "dynamic":
                out["event"] = dict(
                    zip(np.asarray(aggregate["egt"]).tolist(), aggregate["att_egt"], strict=True)
                )
    return out


@pytest.mark.filterwarnings("ignore")
def test_callaway_santanna_agrees_with_csdid(small_rollout, capsys):
    pytest.importorskip("csdid")
    reference = csdid_aggregates(small_rollout, "notyettreated")
    capsys.readouterr()  # csdid prints its summaries

    def cs(estimand, event_time=None):
        return staggered(
            small_rollout, estimand=estimand, event_time=event_time, estimator="cs", **COLUMNS
        ).estimate

    assert cs("simple") == pytest.approx(reference["simple"], rel=1e-10)
    assert cs("cohort") == pytest.approx(reference["group"], rel=1e-10)
    assert cs("calendar") == pytest.approx(reference["calendar"], rel=1e-10)
    # every eligible cohort (first one: 3) has period g + e for e >= -2
    for event_time in (-2, -1, 0, 1, 2, 3):
        expected = reference["event"][event_time]
        assert cs("eventstudy", event_time) == pytest.approx(expected, rel=1e-10, abs=1e-12)
    # e = -3: cohort 3 has no period 0; staggered keeps it in the normalisation, csdid does not
    assert cs("eventstudy", -3) != pytest.approx(reference["event"][-3], rel=1e-6)


@pytest.mark.filterwarnings("ignore")
def test_sun_abraham_agrees_with_csdid_never_treated_controls(small_rollout, capsys):
    pytest.importorskip("csdid")
    reference = csdid_aggregates(small_rollout, "nevertreated")
    capsys.readouterr()

    def sa(estimand, event_time=None):
        return staggered(
            small_rollout, estimand=estimand, event_time=event_time, estimator="sa", **COLUMNS
        ).estimate

    assert sa("simple") == pytest.approx(reference["simple"], rel=1e-10)
    assert sa("cohort") == pytest.approx(reference["group"], rel=1e-10)
    assert sa("calendar") == pytest.approx(reference["calendar"], rel=1e-10)
    for event_time in (0, 1, 2, 3):
        assert sa("eventstudy", event_time) == pytest.approx(
            reference["event"][event_time], rel=1e-10
        )


@pytest.mark.slow
@pytest.mark.parametrize("estimator", ["efficient", "cs"])
def test_intervals_cover_at_the_nominal_rate(estimator):
    covered = []
    for seed in range(400):
        data = simulate_staggered_panel(
            200, 6, (3, 4, 5, np.inf), effect=lambda e: 1.0 + 0.5 * e, seed=1000 + seed
        )
        effect = staggered(data, estimand="simple", estimator=estimator, **COLUMNS)
        truth = planted_value(data, "simple", None, estimator)
        covered.append(effect.ci_low <= truth <= effect.ci_high)
    assert 0.92 <= np.mean(covered) <= 0.99
