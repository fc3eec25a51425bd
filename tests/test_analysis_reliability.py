"""Reliability of the SSO codes: alpha as the krippendorff package and the mart compute it,
Cohen's kappa by its definition, bootstrap intervals, and the threshold flag."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.reliability import (
    coding_pairs,
    cohen_kappa,
    item_reliability,
    krippendorff_alpha,
    unreliable_items,
)


def _codings(first: np.ndarray, second: np.ndarray, item: str = "x") -> pd.DataFrame:
    n = len(first)
    return pd.DataFrame(
        {
            "video_id": np.concatenate([np.arange(n), np.arange(n), [n]]).astype(str),
            "coding_rank": np.concatenate([np.ones(n), 2 * np.ones(n), [1]]).astype(int),
            item: np.concatenate([first, second, [1]]),  # the last video is coded once
        }
    )


def test_alpha_matches_the_krippendorff_package_for_nominal_and_interval_codes():
    krippendorff = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(0)
    truth = rng.integers(1, 6, 200)
    pairs = np.column_stack([truth, np.clip(truth + rng.integers(-1, 2, 200), 1, 5)])
    for metric in ("nominal", "interval"):
        expected = krippendorff.alpha(reliability_data=pairs.T, level_of_measurement=metric)
        assert krippendorff_alpha(pairs.astype(float), metric) == pytest.approx(expected, 1e-10)


def test_kappa_matches_a_worked_example_and_quadratic_weights_credit_near_misses():
    # 2x2 table [[20, 5], [10, 15]]: po = 0.7, pe = 0.5 x 0.6 + 0.5 x 0.4 = 0.5, kappa = 0.4
    pairs = np.array([[1, 1]] * 20 + [[1, 0]] * 5 + [[0, 1]] * 10 + [[0, 0]] * 15, float)
    assert cohen_kappa(pairs) == pytest.approx(0.4)
    near = np.array([[k, min(k + 1, 5)] for k in range(1, 6)] * 20, float)
    assert cohen_kappa(near, "quadratic") > 0.7 > cohen_kappa(near)


def test_item_reliability_pairs_first_and_second_codings_and_flags_low_alpha():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 300)
    good = np.where(rng.random(300) < 0.03, 1 - truth, truth)
    bad = np.where(rng.random(300) < 0.3, 1 - truth, truth)
    codings = _codings(truth, good, "good").merge(
        _codings(truth, bad, "bad"), on=["video_id", "coding_rank"]
    )
    assert coding_pairs(codings, "good").shape == (300, 2)  # the single coding is left out
    table = item_reliability(codings, {"good": "binary", "bad": "binary"}, n_bootstrap=100)
    good_row, bad_row = table.set_index("item").loc["good"], table.set_index("item").loc["bad"]
    assert good_row["krippendorff_alpha"] > 0.9 and good_row["is_reliable"]
    assert bad_row["krippendorff_alpha"] < 0.667 and not bad_row["is_reliable"]
    for row in (good_row, bad_row):
        assert row["alpha_ci_low"] < row["krippendorff_alpha"] < row["alpha_ci_high"]
        assert row["kappa_ci_low"] < row["cohen_kappa"] < row["kappa_ci_high"]
    assert unreliable_items(table) == ["bad"]


def test_bootstrap_intervals_equal_those_of_resampled_videos():
    # the draws are computed from each draw's video counts; resampling rows must agree
    rng = np.random.default_rng(2)
    truth = rng.integers(1, 6, 150)
    second = np.clip(truth + rng.integers(-1, 2, 150), 1, 5)
    items = {"rated": "rating", "said": "binary"}
    codings = _codings(truth, second, "rated").merge(
        _codings(truth > 2, second > 2, "said"), on=["video_id", "coding_rank"]
    )
    table = item_reliability.__wrapped__(codings, items, n_bootstrap=50, seed=7)
    draws = np.random.default_rng(7)
    for item, kind in items.items():
        pairs = coding_pairs(codings, item)
        metric, weights = ("nominal", None) if kind == "binary" else ("interval", "quadratic")
        samples = [pairs[draws.integers(0, len(pairs), len(pairs))] for _ in range(50)]
        alphas = [krippendorff_alpha(sample, metric) for sample in samples]
        kappas = [cohen_kappa(sample, weights) for sample in samples]
        row = table.set_index("item").loc[item]
        expected = np.percentile([alphas, kappas], [2.5, 97.5], axis=1)
        actual = row[["alpha_ci_low", "kappa_ci_low", "alpha_ci_high", "kappa_ci_high"]]
        assert actual.to_numpy(float) == pytest.approx(expected.ravel(), abs=1e-12)
