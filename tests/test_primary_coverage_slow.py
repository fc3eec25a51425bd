"""Coverage of the primary ITT estimators over 400 departments of the project's generator (slow:
`make slow`): every codebook item, force (planted rate ratio 0.75) and complaints (null) per
officer-month and per call, and the compliers' force rate ratio; and on the same departments the
report's other estimators (`benchmarks.open_box_coverage`): the 2SLS complier effects, the
negative binomial check of the force DiD, the summary index (at its null) and mediation's ACME.

Over 400 departments the Monte Carlo SE of one coverage share is 1.1 points: per outcome and
estimator we require 91-99% (3.7 SE), and 93-97% pooled. The Fisher tests' rejection rate over
the outcomes without an effect is their size: 5% within Monte Carlo error.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's benchmarks/

from benchmarks.coverage import generator_available  # noqa: E402
from benchmarks.primary_coverage import SOURCES, primary_coverage_study  # noqa: E402

N_DEPARTMENTS = 400
OPEN_BOX_ESTIMATORS = ("complier_2sls", "nb_did", "summary_index_null", "mediation_acme")


@pytest.mark.slow
def test_primary_intervals_cover_the_estimands_in_95_percent_of_400_departments():
    source = "generator" if generator_available() else "simple"
    table = primary_coverage_study(SOURCES[source], range(N_DEPARTMENTS), jobs=2, open_box=True)
    print(f"\nprimary estimators over {N_DEPARTMENTS} departments ({source}):")
    print(table.round(4).to_string(index=False))
    assert (table["n_departments"] >= 0.98 * N_DEPARTMENTS).all()
    # the report's other estimators: none may under-cover; an over-covering one is reported, not
    # failed (their 400-department figures are not measured yet: docs/primary_estimators.md)
    others = table[table["estimator"].isin(OPEN_BOX_ESTIMATORS)]
    assert set(others["estimator"]) == set(OPEN_BOX_ESTIMATORS)
    for row in others.itertuples():
        assert row.coverage >= 0.91, (row.outcome, row.estimator, row.coverage)
    table = table[~table["estimator"].isin(OPEN_BOX_ESTIMATORS)]
    for row in table.itertuples():
        assert 0.91 <= row.coverage <= 0.99, (row.outcome, row.estimator, row.coverage)
    pooled = (table["coverage"] * table["n_departments"]).sum() / table["n_departments"].sum()
    print(f"pooled coverage: {pooled:.4f}")
    assert 0.93 <= pooled <= 0.97
    nulls = table[(table["truth"] == 0.0) | (table["truth"] == 1.0)]
    fisher_size = nulls["fisher_rejection_rate"].dropna().mean()
    print(f"Fisher size over the null outcomes: {fisher_size:.4f}")
    assert 0.03 <= fisher_size <= 0.07
