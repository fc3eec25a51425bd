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

import numpy as np
import pandas as pd

from analysis.inference import bootstrap_counts
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


def coding_pairs(
    codings: pd.DataFrame, item: str, *, video: str = "video_id", rank: str = "coding_rank"
) -> np.ndarray:
    """(videos, 2) array of the first and second coding of `item` on double-coded videos."""
    values = codings[[video, rank, item]].dropna()
    first, second = (
        values[values[rank] == r].drop_duplicates(video).set_index(video)[item] for r in (1, 2)
    )
    both = pd.concat([first, second], axis=1, join="inner").sort_index()
    return both.to_numpy(float).reshape(-1, 2)


def krippendorff_alpha(pairs: np.ndarray, metric: str) -> float:
    """Alpha of two codings per unit (no missing values): 'nominal' or 'interval'."""
    if len(pairs) < 2:
        return float("nan")
    levels, tables = _agreement_tables(pairs, np.ones((1, len(pairs))))
    return float(_alpha(tables, levels, metric, len(pairs))[0])


def cohen_kappa(pairs: np.ndarray, weights: str | None = None) -> float:
    """Cohen's kappa of the two columns; `weights="quadratic"` for ordered codes."""
    if len(pairs) < 2:
        return float("nan")
    levels, tables = _agreement_tables(pairs, np.ones((1, len(pairs))))
    return float(_kappa(tables, levels, weights)[0])


def _agreement_tables(pairs: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The codes and, per row of `counts` (how often each video is taken: 1s for the sample,
    a bootstrap draw's multiplicities), the first x second coding table as proportions. Both
    statistics are functions of this table, so one matrix product gives those of every draw."""
    levels, index = np.unique(pairs, return_inverse=True)
    index = index.reshape(pairs.shape)
    k = len(levels)
    cells = np.zeros((len(pairs), k * k))
    cells[np.arange(len(pairs)), index[:, 0] * k + index[:, 1]] = 1.0
    tables = (counts @ cells).reshape(-1, k, k)
    return levels, tables / tables.sum(axis=(1, 2), keepdims=True)


def _alpha(tables: np.ndarray, levels: np.ndarray, metric: str, n_units: int) -> np.ndarray:
    """Krippendorff's alpha of each table: D_o within videos, D_e between all 2n codings."""
    n = 2 * n_units
    shares = (tables.sum(axis=2) + tables.sum(axis=1)) / 2  # of each code among all codings
    if metric == "nominal":
        observed = 1.0 - np.trace(tables, axis1=1, axis2=2)
        expected = (n**2 - ((n * shares) ** 2).sum(axis=1)) / (n * (n - 1))
    else:
        observed = (tables * (levels[:, None] - levels[None, :]) ** 2).sum(axis=(1, 2))
        variance = shares @ levels**2 - (shares @ levels) ** 2  # of all codings, over n
        expected = 2.0 * n * variance / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(expected > 0, 1.0 - observed / expected, np.nan)


def _kappa(tables: np.ndarray, levels: np.ndarray, weights: str | None) -> np.ndarray:
    """Cohen's kappa of each table, unweighted or with quadratic disagreement weights."""
    if weights == "quadratic":
        disagreement = (levels[:, None] - levels[None, :]) ** 2
    else:
        disagreement = 1.0 - np.eye(len(levels))
    expected = tables.sum(axis=2)[:, :, None] * tables.sum(axis=1)[:, None, :]
    denominator = (disagreement * expected).sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = 1.0 - (disagreement * tables).sum(axis=(1, 2)) / denominator
    return np.where(denominator > 0, kappa, np.nan)


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
            counts = bootstrap_counts(rng, len(pairs), n_bootstrap)
            levels, tables = _agreement_tables(pairs, counts)
            draws[:, 0] = _alpha(tables, levels, metric, len(pairs))
            draws[:, 1] = _kappa(tables, levels, weights)
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
