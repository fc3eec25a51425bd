"""Cluster-robust covariance of a fitted linear or canonical-link GLM, with small-sample fixes.

* CR1: the sandwich times G/(G-1) x (N-1)/(N-K), what statsmodels' `cov_type="cluster"` gives.
* CR2 (Bell & McCaffrey 2002; for GLMs through the working weights, as in Pustejovsky & Tipton
  2018, JBES 36(4)): each cluster's residuals are scaled by (I - H_gg)^(-1/2), H_gg the
  cluster's block of the weighted hat matrix, which removes the sandwich's downward bias when
  the clusters are small or unequal. With one to a few clips per officer the CR1 intervals of
  binary items ran about 5% short (SD / SE 1.06-1.07 over simulated trials); CR2 is the default
  of the estimators that use this module.

For the canonical links (identity, logit, log) the score of observation i is x_i (y_i - mu_i)
and the information is X' W X with working weights w_i (1; mu(1 - mu); mu), which is all the
covariance needs.
"""

from __future__ import annotations

import numpy as np


def cluster_covariance(
    design: np.ndarray,
    residual: np.ndarray,
    weights: np.ndarray,
    groups: np.ndarray,
    *,
    kind: str = "CR2",
) -> np.ndarray:
    """The cluster-robust covariance of the coefficients (module docstring).

    `design` n x k, `residual` y - mu, `weights` the working weights (ones for least squares),
    `groups` integer cluster codes 0..G-1.
    """
    x = np.asarray(design, float)
    residual = np.asarray(residual, float)
    weights = np.asarray(weights, float)
    groups = np.asarray(groups)
    n, k = x.shape
    bread = np.linalg.pinv(x.T @ (x * weights[:, None]))
    n_groups = int(groups.max()) + 1
    if kind == "CR1":
        scores = np.zeros((n_groups, k))
        np.add.at(scores, groups, x * residual[:, None])
        correction = n_groups / (n_groups - 1.0) * (n - 1.0) / (n - k)
        return correction * bread @ (scores.T @ scores) @ bread
    if kind != "CR2":
        raise ValueError(f"kind must be 'CR1' or 'CR2', not {kind!r}")
    root = np.sqrt(weights)
    x_weighted = x * root[:, None]
    pearson = np.divide(residual, root, out=np.zeros_like(residual), where=root > 0)
    order = np.argsort(groups, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(groups[order]) != 0])
    scores = np.zeros((len(starts), k))
    for row, members in enumerate(np.split(order, starts[1:])):
        x_g = x_weighted[members]
        leverage = x_g @ bread @ x_g.T
        eigenvalues, eigenvectors = np.linalg.eigh(np.eye(len(members)) - leverage)
        # a cluster that fixes its own coefficient (leverage 1) gets no adjustment there
        inverse_root = np.where(eigenvalues > 1e-12, eigenvalues, 1.0) ** -0.5
        adjusted = eigenvectors @ (inverse_root * (eigenvectors.T @ pearson[members]))
        scores[row] = x_g.T @ adjusted
    return bread @ (scores.T @ scores) @ bread
