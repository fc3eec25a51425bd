"""The compliers' rate ratio on their own untreated base, with an interval that re-estimates the
base."""

from __future__ import annotations

import pytest

from analysis.complier_rate import complier_rate_ratio
from analysis.simulate import TrialScenario, simulate_trial

NON_COMPLIANT = TrialScenario(
    n_officers=3000,
    n_blocks=20,
    compliance=0.65,
    force_per_call=0.2 / 60.0,
    force_rate_ratio=0.6,
)


@pytest.fixture(scope="module")
def large_trial():
    return simulate_trial(NON_COMPLIANT, seed=22)


def test_recovers_the_planted_complier_rate_ratio(large_trial):
    effect = complier_rate_ratio(large_trial.officer_months, n_bootstrap=500)
    assert effect.extras["first_stage"] == pytest.approx(0.65, abs=0.03)
    assert effect.estimate == pytest.approx(0.6, abs=3 * effect.std_error)
    assert effect.ci_low < 0.6 < effect.ci_high
    # the ITT is diluted by the never-takers; the complier ratio is not
    itt = 1 + 0.65 * (0.6 - 1)
    assert abs(effect.estimate - 0.6) < abs(effect.estimate - itt)


def test_rate_difference_is_the_wald_ratio_of_the_arms_rates(large_trial):
    effect = complier_rate_ratio(large_trial.officer_months, n_bootstrap=50)
    months = large_trial.officer_months
    post = months[(months["month_start"] >= "2025-01-01") & (months["month_start"] < "2026-01-01")]
    rates = post.groupby("arm")["force_reports"].mean()
    trained = post.groupby("arm")["is_trained"].mean()
    wald = (rates["treatment"] - rates["control"]) / (trained["treatment"] - trained["control"])
    # 1:1 blocks of equal size: every officer weighs the same, so the means are plain means
    assert effect.extras["complier_rate_difference"] == pytest.approx(wald, rel=1e-9)
    assert effect.estimate == pytest.approx(
        effect.extras["complier_rate_trained"] / effect.extras["complier_rate_untreated"]
    )


def test_with_full_compliance_the_base_is_the_control_arms_rate():
    trial = simulate_trial(TrialScenario(n_officers=200, force_per_call=0.1 / 60.0), seed=4)
    effect = complier_rate_ratio(trial.officer_months, n_bootstrap=50)
    assert effect.extras["first_stage"] == pytest.approx(1.0)
    assert effect.extras["complier_rate_untreated"] == pytest.approx(
        effect.extras["control_post_rate"]
    )
    assert effect.estimate == pytest.approx(effect.extras["rate_ratio_on_control_base"])


def test_per_call_scale_uses_calls_as_exposure(large_trial):
    effect = complier_rate_ratio(
        large_trial.officer_months, exposure="calls_attended", n_bootstrap=200
    )
    assert "per calls_attended" in effect.estimator
    assert effect.extras["complier_rate_untreated"] < 0.01  # events per call, not per month
    assert effect.ci_low < 0.6 < effect.ci_high
