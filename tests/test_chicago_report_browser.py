"""The Chicago roll-out report in a real browser (Chromium at 1280 and 390 px, and in print):
tables fit, plots load, no console error, the roll-out estimates of results.json in the text, each
summary sentence naming its estimator (tests/browser_support.py)."""

from __future__ import annotations

import json

import pytest
from browser_support import browser_missing, chromium, report_in_browser

from middlestep import commands


@pytest.fixture(scope="module")
def chicago_report(chicago_home):
    return commands.report(chicago_home, "chicago", permutations=20)


def test_the_chicago_report_reads_in_a_real_browser(chicago_report):
    missing = browser_missing()
    if missing:
        pytest.skip(missing)
    results = json.loads(chicago_report.json.read_text())
    with chromium() as browser:
        seen = report_in_browser(browser, chicago_report.html, results)
    for width in ("desktop", "phone", "print"):
        assert seen[width].overflows == [], width
        assert seen[width].console_errors == [], width
    for width in ("desktop", "phone"):
        assert seen[width].n_tables >= 5 and seen[width].n_images >= 4  # 3 event studies
        assert seen[width].broken_images == [], width
        assert seen[width].missing_numbers == [], width
    assert seen["print"].pdf_bytes > 10_000


def test_the_summary_names_the_estimator_of_each_sentence(chicago_report):
    summary = json.loads(chicago_report.json.read_text())["summary"]
    force = [line for lines in summary.values() for line in lines if "force reports by" in line]
    assert len(force) == 2
    assert "(Roth & Sant'Anna efficient (simple): 95% CI" in force[0]
    assert "(Callaway & Sant'Anna (simple): 95% CI" in force[1]
    assert all(line.startswith("Training (staggered roll-out") for line in force)


def test_fisher_p_values_are_no_finer_than_their_draws(chicago_report):
    html = chicago_report.html.read_text()
    assert "&lt; 0.05" in html  # 20 draws: a Fisher p below 1/20 cannot be told apart
    assert "0.000<" not in html and "e-0" not in html
