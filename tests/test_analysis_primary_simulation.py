"""Known truth: the primary ITT estimators recover planted effects and their intervals cover, on
departments simulated with planted effects (a quick version; the 400-department study on the
project's generator is `make slow`, tests/test_primary_coverage_slow.py), and they are more
precise than the difference in differences on the same departments."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's benchmarks/

from benchmarks.coverage import simple_department  # noqa: E402
from benchmarks.efficiency import efficiency_table  # noqa: E402
from benchmarks.primary_coverage import primary_coverage_study, simple_trial  # noqa: E402

N_DEPARTMENTS = 24
# their estimates are summarised on the log scale
RATIO_ESTIMATORS = {"ancova_count", "poisson_ancova_month", "per_call", "complier_rate_ratio"}


@pytest.fixture(scope="module")
def coverage():
    return primary_coverage_study(simple_trial, range(N_DEPARTMENTS), fisher=False)


def test_every_primary_estimator_is_centred_on_its_planted_estimand(coverage):
    for row in coverage.itertuples():
        target = math.log(row.truth) if row.estimator in RATIO_ESTIMATORS else row.truth
        # four Monte Carlo standard errors of the mean over the departments
        tolerance = 4 * row.sd_estimate / math.sqrt(row.n_departments)
        assert abs(row.mean_estimate - target) < tolerance, (row.outcome, row.estimator)


def test_intervals_cover_in_a_few_departments(coverage):
    assert (coverage["n_departments"] == N_DEPARTMENTS).all()
    # a correct interval covers at least 19 of 24 with probability 0.99
    assert (coverage["coverage"] >= 19 / 24).all(), coverage[["outcome", "coverage"]]
    pooled = coverage["coverage"].mean()
    assert 0.89 <= pooled <= 0.99


def test_standard_errors_match_the_spread_of_the_estimates(coverage):
    # SD / SE over 24 departments has a sampling SD of about 0.15
    assert coverage["sd_over_se"].between(0.6, 1.5).all(), coverage[["outcome", "sd_over_se"]]
    assert 0.85 <= coverage["sd_over_se"].median() <= 1.2


def test_primary_standard_errors_are_smaller_than_the_difference_in_differences():
    table = efficiency_table(simple_department, range(8))
    print("\n" + table.round(3).to_string(index=False))
    assert (table["se_ratio"] < 0.95).all(), table[["outcome", "se_ratio"]]
    assert table["se_ratio"].median() < 0.85
