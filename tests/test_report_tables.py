"""One number rule for the report (analysis/numbers.py) and the tables both templates render
(middlestep/report/tables.py): no exponents, no false precision, p-values no finer than their
permutations, intervals in one cell, wide few-row tables turned on their side."""

from __future__ import annotations

import pandas as pd

from analysis.numbers import interval, p_value_text, signed, significant
from middlestep.report.tables import table
from middlestep.report.view import grouped_notes


def test_numbers_have_three_significant_digits_and_never_an_exponent():
    assert significant(-5.51e-05) == "-0.0000551"
    assert significant(402.311) == "402"
    assert significant(1006.0) == significant(1006.4) == "1006"
    assert significant(48053) == "48,053" and significant(2024) == "2024"
    assert significant(0.00722) == "0.00722" and significant(17.25) == "17.2"
    assert significant(float("nan")) == "n/a" and significant(None) == "n/a"
    assert signed(0.0781) == "+0.0781" and signed(-0.5) == "-0.5" and signed(0.0) == "0"
    assert interval(-0.0015, -0.0000012) == "-0.0015 to -0.0000012"


def test_p_values_are_no_finer_than_their_draws():
    assert p_value_text(0.0, draws=100) == "< 0.01"
    assert p_value_text(0.0, draws=500) == "< 0.002"
    assert p_value_text(0.03, draws=100) == "0.03"
    assert p_value_text(0.0004) == "< 0.001"
    assert p_value_text(0.17) == "0.17" and p_value_text(0.049) == "0.049"


def test_a_table_merges_intervals_words_its_headers_and_floors_fisher_p_values():
    frame = pd.DataFrame(
        {
            "outcome": ["force_reports", "complaints"],
            "estimate": [0.95, 1.2e-05],
            "ci_low": [0.606, -0.0015],
            "ci_high": [1.49, 0.0021],
            "p_value": [0.8221, 0.00001],
            "fisher_p_value": [0.0, 0.5],
            "n_obs": [3328.0, 48053],
        }
    )
    frame.attrs["permutations"] = 100
    shown = table(frame)
    assert shown.columns == [
        "outcome",
        "estimate",
        "95% CI",
        "p-value",
        "Fisher p",
        "observations (n)",
    ]
    assert shown.rows == [
        ["force_reports", "0.95", "0.606 to 1.49", "0.822", "< 0.01", "3328"],
        ["complaints", "0.000012", "-0.0015 to 0.0021", "< 0.001", "0.50", "48,053"],
    ]
    assert shown.numeric == [False, True, False, True, True, True]


def test_a_wide_table_of_few_rows_is_turned_on_its_side():
    frame = pd.DataFrame(
        [{"level": "officers", **{f"stat_{i}": i + 0.5 for i in range(12)}}, {"level": "clips"}]
    )
    shown = table(frame)
    assert shown.columns == ["level", "officers", "clips"]
    assert shown.rows[0] == ["stat 0", "0.5", ""] and len(shown.rows) == 12


def test_each_note_is_listed_once_with_the_estimates_it_applies_to():
    from analysis.results import Effect

    def effect(outcome, estimator, notes):
        return Effect(outcome, estimator, 0.1, 0.1, 0.0, 0.2, 0.5, 10, notes=notes)

    notes = grouped_notes(
        [
            effect("empathy", "OLS", ("clustered by officer", "SD units")),
            effect("respect", "OLS", ("clustered by officer", "SD units")),
            effect("force_reports", "Poisson", ("clustered by officer",)),
            effect("complaints", "Poisson", ()),
        ]
    )
    assert notes == [
        ("clustered by officer", "every OLS estimate; Poisson: force reports"),
        ("SD units", "every OLS estimate"),
    ]
