"""The control arm's exposure to trained officers on shared calls."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from analysis.spillover import spillover_exposure

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's benchmarks/

from benchmarks.planted import cached_department  # noqa: E402


def test_counts_shared_calls_by_the_other_officers_arm():
    officers = pd.DataFrame(
        {
            "officer_id": ["t1", "t2", "c1", "c2"],
            "arm": ["treatment", "treatment", "control", "control"],
        }
    )
    call_officers = pd.DataFrame(
        {
            "call_id": ["a", "a", "b", "b", "c", "d", "d", "e"],
            "officer_id": ["c1", "t1", "c1", "c2", "c2", "t1", "t2", "c1"],
            "arrived_at": pd.to_datetime(["2025-02-01"] * 7 + ["2024-06-01"]),
        }
    )
    exposure = spillover_exposure(
        call_officers, officers, start=date(2025, 1, 1), end=date(2026, 1, 1)
    )
    # control attendances in the window: c1 on a (with t1), c1 on b, c2 on b, c2 on c
    assert exposure.n_control_attendances == 4
    assert exposure.share_control_with_treated == pytest.approx(1 / 4)
    # treatment attendances: t1 on a (no other treated), t1 and t2 on d (each with the other)
    assert exposure.share_treatment_with_other_treated == pytest.approx(2 / 3)
    assert exposure.n_control_officers == 2
    assert exposure.control_officer_share_median == pytest.approx(0.25)


def test_generator_department_shares_calls_across_arms():
    department = cached_department("default")
    exposure = spillover_exposure(
        department["simulated"].call_officers,
        department["officers"],
        start=date(2024, 1, 1),
        end=date(2025, 1, 1),
    )
    # about half the calls have a second officer, half of whom are in the treatment arm
    assert 0.05 < exposure.share_control_with_treated < 0.6
    assert exposure.n_control_officers > 100
