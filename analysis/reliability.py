"""Are the SSO codes reliable enough to believe? Agreement of two coders on double-coded clips.

Per codebook item, over the videos coded twice (`intermediate.int_encounter_codings`, the
primary coding = rank 1 against the second = rank 2):

* Krippendorff's alpha, 1 - D_o / D_e (Krippendorff 2004, Content Analysis, ch. 11): D_o the mean
  disagreement within videos, D_e the mean disagreement between any two of all the pooled
  codings; the nominal metric for binary items, the interval metric (squared difference) for
  counts and ratings, as `marts.rpt_sso_reliability` computes it;
* Cohen's kappa of the two codings: unweighted for binary items, quadratic-weighted for counts
  and ratings (which then equals an intraclass correlation). The second coder of a video is not
  the same person every time, so kappa here treats "first" and "second" coding as the raters.

Intervals: percentile bootstrap resampling videos (`n_bootstrap`, seeded).

An item whose alpha is below `threshold` (default 0.667, the lowest alpha Krippendorff accepts
for tentative conclusions; Elkins-Brown et al. 2023 report 0.67-0.96 for BWC coding) is flagged
as unreliable: the pipeline leaves it out of the confirmatory analysis unless told otherwise.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from analysis.memo import memoized

DEFAULT_THRESHOLD = 0.667
DEFAULT_BOOTSTRAP = 200
RELIABILITY_COLUMNS = [
    "item",
    "item_kind",
    "n_double_coded",
    "percent_agreement",
    "krippendorff_alpha",
    "alpha_ci_low",
    "alpha_ci_high",
    "cohen_kappa",
    "kappa_ci_low",
    "kappa_ci_high",
    "is_reliable",
]


def load_codings(warehouse: Path, department_id: str | None = None) -> pd.DataFrame:
    """Every coding of every video (`intermediate.int_encounter_codings`), read-only, in a
    fixed order (by all columns: the bootstrap resamples rows, so the same codings must give the
    same intervals however the table was built)."""
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        query = "select * from intermediate.int_encounter_codings"
        if department_id is None:
            return connection.execute(query + " order by all").df()
        return connection.execute(
            query + " where department_id = ? order by all", [department_id]
        ).df()
    finally:
        connection.close()


def coding_pairs(
    codings: pd.DataFrame, item: str, *, video: str = "video_id", rank: str = "coding_rank"
) -> np.ndarray:
    """(videos, 2) array of the first and second coding of `item` on double-coded videos."""
    values = codings[[video, rank, item]].dropna()
    values = values[values[rank].isin([1, 2])]
    wide = values.pivot_table(index=video, columns=rank, values=item, aggfunc="first").dropna()
    if wide.shape[1] < 2:
        return np.empty((0, 2))
    return wide[[1, 2]].to_numpy(float)


def krippendorff_alpha(pairs: np.ndarray, metric: str) -> float:
    """Alpha of two codings per unit (no missing values): 'nominal' or 'interval'."""
    if len(pairs) < 2:
        return float("nan")
    values = pairs.ravel()
    n = len(values)
    if metric == "nominal":
        observed = float(np.mean(pairs[:, 0] != pairs[:, 1]))
        _, counts = np.unique(values, return_counts=True)
        expected = (n**2 - float((counts**2).sum())) / (n * (n - 1))
    else:
        observed = float(np.mean((pairs[:, 0] - pairs[:, 1]) ** 2))
        expected = 2.0 * float(((values - values.mean()) ** 2).sum()) / (n - 1)
    return 1.0 - observed / expected if expected > 0 else float("nan")


def cohen_kappa(pairs: np.ndarray, weights: str | None = None) -> float:
    """Cohen's kappa of the two columns; `weights="quadratic"` for ordered codes."""
    if len(pairs) < 2:
        return float("nan")
    levels = np.unique(pairs)
    index = np.searchsorted(levels, pairs)
    k = len(levels)
    table = np.zeros((k, k))
    np.add.at(table, (index[:, 0], index[:, 1]), 1.0)
    table /= table.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0))
    if weights == "quadratic":
        grid = levels[:, None] - levels[None, :]
        disagreement = grid**2
    else:
        disagreement = 1.0 - np.eye(k)
    denominator = float((disagreement * expected).sum())
    if denominator <= 0:
        return float("nan")
    return 1.0 - float((disagreement * table).sum()) / denominator


@memoized
def item_reliability(
    codings: pd.DataFrame,
    items: dict[str, str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per item (columns `RELIABILITY_COLUMNS`): agreement, alpha and kappa with
    bootstrap intervals (videos resampled), and whether alpha reaches `threshold`."""
    rng = np.random.default_rng(seed)
    rows = []
    for item, kind in items.items():
        if item not in codings.columns:
            continue
        pairs = coding_pairs(codings, item)
        metric = "nominal" if kind == "binary" else "interval"
        weights = None if kind == "binary" else "quadratic"
        alpha = krippendorff_alpha(pairs, metric)
        kappa = cohen_kappa(pairs, weights)
        draws = np.full((n_bootstrap, 2), np.nan)
        if len(pairs) >= 2:
            for b in range(n_bootstrap):
                sample = pairs[rng.integers(0, len(pairs), len(pairs))]
                draws[b] = krippendorff_alpha(sample, metric), cohen_kappa(sample, weights)
        low, high = (
            np.nanpercentile(draws, [2.5, 97.5], axis=0)
            if np.isfinite(draws).any()
            else np.full((2, 2), np.nan)
        )
        rows.append(
            {
                "item": item,
                "item_kind": kind,
                "n_double_coded": len(pairs),
                "percent_agreement": 100.0 * float(np.mean(pairs[:, 0] == pairs[:, 1]))
                if len(pairs)
                else np.nan,
                "krippendorff_alpha": alpha,
                "alpha_ci_low": low[0],
                "alpha_ci_high": high[0],
                "cohen_kappa": kappa,
                "kappa_ci_low": low[1],
                "kappa_ci_high": high[1],
                "is_reliable": bool(alpha >= threshold) if np.isfinite(alpha) else False,
            }
        )
    return pd.DataFrame(rows, columns=RELIABILITY_COLUMNS)


def unreliable_items(reliability: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD) -> list[str]:
    """Items whose Krippendorff's alpha is below `threshold` (items without an alpha are not
    flagged here: the gate reports missing double coding)."""
    if reliability is None or reliability.empty or "krippendorff_alpha" not in reliability:
        return []
    alpha = pd.to_numeric(reliability["krippendorff_alpha"], errors="coerce")
    return reliability.loc[alpha < threshold, "item"].astype(str).tolist()
