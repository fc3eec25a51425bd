"""Wording of the report's open-box sections: a complier effect on a binary item is a difference
in proportions and reads in percentage points (with the first stage), names its estimator, and
the multiplicity sentence says it is about the difference-in-differences' one family."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from analysis.results import Effect
from middlestep.report.sections import compliance_sentences, multiplicity_sentences


def _complier_effect() -> Effect:
    return Effect(
        outcome="personal_conversation",
        estimator="2SLS (complier effect), encounters",
        estimate=0.156,
        std_error=0.05,
        ci_low=0.058,
        ci_high=0.254,
        p_value=0.002,
        n_units=300,
        n_obs=1200,
        scale="difference",
        extras={"first_stage": 0.83, "first_stage_f": 410.0, "itt_linear": 0.13},
    )


def test_a_complier_difference_in_proportions_reads_in_percentage_points():
    box = SimpleNamespace(complier_effects=[_complier_effect()])
    (sentence,) = compliance_sentences(box, [])
    assert "(2SLS (complier effect), encounters)" in sentence
    assert "+15.6 percentage points (95% CI 5.8 to 25.4)" in sentence
    assert "intent-to-treat effect (its reduced form) is +13 percentage points" in sentence
    assert "raised the share trained by 83 percentage points" in sentence
    assert "first-stage F 410" in sentence
    assert "0.156" not in sentence and "83%" not in sentence


def test_the_multiplicity_sentence_names_the_difference_in_differences_family():
    frame = pd.DataFrame(
        {
            "outcome": ["empathy", "respect", "calm_tone"],
            "p_value": [0.01, 0.2, 0.04],
            "rejected_holm": [True, False, False],
            "rejected_bh": [True, False, False],
        }
    )
    (sentence,) = multiplicity_sentences(
        SimpleNamespace(multiple_outcomes=frame, summary_index=None)
    )
    assert sentence.startswith("Difference-in-differences robustness check, its 3 communication")
    assert "without correction: empathy, calm tone." in sentence
    assert "Holm's correction (family-wise error 5%): empathy." in sentence
