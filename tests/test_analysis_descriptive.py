"""The force figures of a department without a trial (analysis/descriptive.py) and the
planning of a trial from them (analysis/planning.py), on frames whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.descriptive import (
    force_breakdown,
    force_concentration,
    monthly_force_rates,
    poisson_interval,
    repeat_subjects,
)
from analysis.planning import (
    PlanningBaseline,
    detectable_rate_ratio,
    officers_needed,
    planning_baseline,
    stepped_wedge_cohorts,
    stepped_wedge_power,
    waitlist_power,
    waitlist_power_result,
)


def officer_months(counts: np.ndarray, active: np.ndarray | None = None) -> pd.DataFrame:
    """A panel of officers (rows of `counts`) x months (its columns) from 2024-01."""
    n_officers, n_months = counts.shape
    months = pd.date_range("2024-01-01", periods=n_months, freq="MS")
    return pd.DataFrame(
        {
            "officer_id": np.repeat([f"o{i}" for i in range(n_officers)], n_months),
            "month_start": np.tile(months.date, n_officers),
            "force_reports": counts.ravel(),
            "is_active": (np.ones_like(counts) if active is None else active).ravel() > 0,
        }
    )


def test_poisson_interval_is_the_exact_garwood_interval():
    low, high = poisson_interval([0, 10])
    assert low[0] == 0 and high[0] == pytest.approx(3.689, abs=1e-3)
    assert (low[1], high[1]) == pytest.approx((4.795, 18.390), abs=1e-3)


def test_monthly_rates_count_only_months_served():
    counts = np.array([[1, 0, 2], [0, 0, 9]])
    active = np.array([[1, 1, 1], [1, 1, 0]])  # the second officer left before month 3
    monthly = monthly_force_rates(officer_months(counts, active))
    assert monthly["officers"].tolist() == [2, 2, 1]
    assert monthly["reports"].tolist() == [1, 0, 2]
    assert monthly["rate_per_1000"].tolist() == [500.0, 0.0, 2000.0]
    assert (monthly["ci_low"] <= monthly["rate_per_1000"]).all()
    assert (monthly["rate_per_1000"] <= monthly["ci_high"]).all()


def test_breakdown_by_unit_has_the_exposure_of_each_unit():
    reports = pd.DataFrame(
        {"report_id": ["r1", "r2", "r3"], "officer_id": ["o0", "o0", "o1"], "force_level": 1}
    )
    officers = pd.DataFrame({"officer_id": ["o0", "o1"], "unit": ["north", None]})
    table = force_breakdown(
        reports, "unit", officer_months=officer_months(np.zeros((2, 4))), officers=officers
    )
    north = table.set_index("unit").loc["north"]
    assert north["reports"] == 2 and north["officer_months"] == 4
    assert north["rate_per_1000"] == pytest.approx(500.0)
    assert table.set_index("unit").loc["(not recorded)", "reports"] == 1
    assert force_breakdown(reports, "unit", officers=officers.assign(unit=None)).empty


def test_concentration_is_flagged_only_where_it_exceeds_poisson():
    rng = np.random.default_rng(1)
    alike = force_concentration(officer_months(rng.poisson(0.2, (200, 12))), n_simulations=400)
    row = alike.table.set_index("top_officers").loc["top 10%"]
    assert row["poisson_low"] <= row["share_observed"] <= row["poisson_high"]
    counts = np.zeros((200, 12), dtype=int)
    counts[:10] = rng.poisson(4.0, (10, 12))  # 5% of officers file every report
    concentrated = force_concentration(officer_months(counts), n_simulations=400)
    top = concentrated.table.set_index("top_officers").loc["top 5%"]
    assert top["share_observed"] == 1.0 and top["poisson_high"] < 0.5
    assert concentrated.share_with_any_observed == pytest.approx(0.05)
    assert force_concentration(officer_months(np.zeros((5, 3), dtype=int))) is None


def test_repeat_subjects_count_distinct_reports_per_key():
    subjects = pd.DataFrame(
        {
            "report_id": ["r1", "r2", "r2", "r3", "r4", "r5", "r6"],
            "subject_key": ["a", "a", "a", "b", "c", "c", "c"],  # r2 named a twice
        }
    )
    table = repeat_subjects(subjects).set_index("reports_per_subject")
    assert table.loc["1", "subjects"] == 1 and table.loc["2", "subjects"] == 1
    assert table.loc["3 or more", "reports"] == 3
    assert repeat_subjects(subjects.assign(subject_key=None)).empty


def test_planning_baseline_takes_rate_dispersion_and_turnover_from_the_data():
    rng = np.random.default_rng(2)
    propensity = rng.gamma(2.0, 0.5, 400)  # NB2 alpha 0.5
    counts = rng.poisson(0.1 * propensity[:, None], (400, 24))
    officers = pd.DataFrame(
        {
            "officer_id": [f"o{i}" for i in range(400)],
            "separated_on": [pd.Timestamp("2025-06-15") if i < 24 else pd.NaT for i in range(400)],
        }
    )
    baseline = planning_baseline(officer_months(counts), officers, window_months=12)
    assert baseline.rate_per_officer_month == pytest.approx(0.1, rel=0.1)
    assert baseline.dispersion == pytest.approx(0.5, abs=0.25)
    assert baseline.monthly_separation == pytest.approx(24 / (400 * 12))
    assert baseline.n_officers == 400 and "24 officers left" in baseline.turnover_source
    unknown = planning_baseline(officer_months(counts), officers.assign(separated_on=pd.NaT))
    assert unknown.monthly_separation == 0 and "no separations" in unknown.turnover_source
    with pytest.raises(ValueError, match="no officer-months"):
        planning_baseline(officer_months(counts, np.zeros_like(counts)))


BASELINE = PlanningBaseline(0.05, 1.0, 0.01, 300, 12, 180, "given")


def test_waitlist_simulation_holds_its_size_and_agrees_with_the_analytic_power():
    result, _ = waitlist_power_result(
        BASELINE, rate_ratio=0.6, n_officers=300, n_months=12, n_simulations=400
    )
    for estimator, planned in (("primary", result.power), ("did", result.power_did)):
        curve = waitlist_power(
            BASELINE,
            [0.6, 1.0],
            n_officers=300,
            n_months=12,
            n_simulations=400,
            estimator=estimator,
        )
        power = curve.set_index("rate_ratio")["power"]
        assert 0.02 <= power[1.0] <= 0.09, estimator  # a 5% test under no effect
        assert abs(planned - power[0.6]) < 4 * result.power_mc_error  # other draws, same trial
    # the analytic approximation is the difference-in-differences'
    assert abs(result.power_did - result.power_analytic) < 4 * result.power_mc_error + 0.05


def test_stepped_wedge_cohorts_are_spread_and_its_test_holds_its_size():
    first = stepped_wedge_cohorts(12, 24, 6)
    assert sorted(set(first)) == [4.0, 8.0, 11.0, 15.0, 18.0, 22.0]
    curve = stepped_wedge_power(
        BASELINE, [0.5, 1.0], n_officers=300, n_months=24, n_simulations=100
    )
    power = curve.set_index("rate_ratio")["power"]
    assert power[1.0] <= 0.12 and power[0.5] > power[1.0] + 0.3


def test_interpolations_on_power_curves():
    curve = pd.DataFrame({"rate_ratio": [0.5, 0.7, 0.9, 1.0], "power": [0.95, 0.7, 0.2, 0.05]})
    mde = detectable_rate_ratio(curve)
    assert 0.5 < mde < 0.7
    assert math.isnan(detectable_rate_ratio(curve.assign(power=0.1)))
    sizes = pd.DataFrame({"n_officers": [100, 200, 400], "power": [0.3, 0.6, 0.9]})
    assert 200 < officers_needed(sizes) < 400
    assert math.isnan(officers_needed(sizes.assign(power=0.5)))


def test_a_department_without_force_reports_has_no_trial_to_plan():
    from analysis.planning import plan_trials

    baseline = planning_baseline(officer_months(np.zeros((20, 12), dtype=int)))
    assert baseline.rate_per_officer_month == 0 and baseline.n_reports == 0
    with pytest.raises(ValueError, match="no force reports"):
        plan_trials(baseline)
    with pytest.raises(ValueError, match="no force reports"):
        waitlist_power_result(baseline)
