"""The report's power sentences print the primary estimator's simulated power and detectable
rate ratio, and the difference-in-differences' beside it, each number from the result."""

from __future__ import annotations

from types import SimpleNamespace

from analysis.power import force_power, given_baseline, sample_size_table
from middlestep.report.sections import power_sentences


def test_power_sentences_name_the_primary_estimator_and_print_each_figure():
    baseline = given_baseline(0.03, dispersion=1.0, n_officers=300, n_months=12)
    result = force_power(baseline, rate_ratio=0.72, n_simulations=100, seed=2)
    table = sample_size_table(baseline)
    text = " ".join(power_sentences(SimpleNamespace(power=result, sample_size=table)))
    assert f"is {1 - result.mde_rate_ratio:.0%} (minimum detectable rate ratio" in text
    assert (
        f"minimum detectable rate ratio {result.mde_rate_ratio:.2f}, by simulation through "
        "the primary estimator" in text
    )
    assert f"detects a rate ratio of {result.mde_rate_ratio_did:.2f}" in text
    assert f"({result.mde_rate_ratio_analytic:.2f} by its analytic approximation)" in text
    assert f"was {result.power:.0%} (primary estimator" in text
    assert f"difference-in-differences {result.power_did:.0%})" in text
    row = table.iloc[0]
    assert "By the difference-in-differences' analytic approximation" in text
    assert f"about {int(row['officers_needed']):,} officers" in text
