"""The summary says only what was estimated, found in an early nightly drop's report: a
zero-width interval (an outcome constant in an arm) was a null that 'rules out increases larger
than 0 percentage points', or a finding at p < 0.001; primary outcomes the analysis had to leave
out were missing from 'What the data could not answer'; items left out of the
difference-in-differences as unreliable were said to be left out of the confirmatory analysis,
beside a finding on one of them from the primary estimates, which keep them."""

from __future__ import annotations

from dataclasses import replace

from test_report import context

from analysis.results import Effect
from middlestep.report.summary import summary_sentences


def _binary(outcome: str, estimate: float, low: float, high: float, se: float, p: float):
    return Effect(
        outcome=outcome,
        estimator="ITT post-period ANCOVA, logit AME (probability scale)",
        estimate=estimate,
        std_error=se,
        ci_low=low,
        ci_high=high,
        p_value=p,
        n_units=40,
        scale="difference",
    )


def test_a_zero_width_interval_is_neither_a_null_nor_a_finding():
    flat = _binary("force_used", 0.0, 0.0, 0.0, 0.0, 1.0)
    certain = _binary("arrest", -0.1, -0.1, -0.1, 0.0, 0.0)
    real = _binary("empathy", 0.05, -0.1, 0.2, 0.076, 0.5)
    summary = summary_sentences(context(effects=(flat, certain, real), primary_effects=()))
    said = " ".join(summary["found"] + summary["not_found"] + summary["not_findings"])
    assert "force used" not in said and "arrest" not in said
    assert "larger than 0 percentage points" not in said
    assert any(s.startswith("Force used: not estimated") for s in summary["not_analysed"])
    assert any(s.startswith("Arrest: not estimated") for s in summary["not_analysed"])
    assert any("empathy" in s for s in summary["not_found"])


def test_what_the_analysis_left_out_is_in_the_summary_too():
    rows = (
        {"analysis": "primary SSO estimate: personal_conversation", "reason": "no clips"},
        {"analysis": "force by unit", "reason": "the roster maps no unit"},
    )
    summary = summary_sentences(context(not_estimated=rows))
    assert (
        "Primary SSO estimate: personal_conversation: not estimated, no clips."
        in (summary["not_analysed"])
    )
    assert "Force by unit: not estimated, the roster maps no unit." in summary["not_analysed"]


def test_items_left_out_as_unreliable_are_said_to_be_left_out_of_the_robustness_check():
    base = context(excluded_items=("explained_reason",))
    primary = tuple(replace(e, estimator=f"primary {e.estimator}") for e in base.effects)
    with_primary = summary_sentences(replace(base, primary_effects=primary))["caveats"]
    assert any(
        c.startswith("Left out of the difference-in-differences (the robustness check)")
        and "kept in the primary estimates" in c
        for c in with_primary
    )
    assert not any("confirmatory analysis" in c for c in with_primary)
    without = summary_sentences(base)["caveats"]
    assert "Left out of the estimates as unreliable: explained reason." in without
