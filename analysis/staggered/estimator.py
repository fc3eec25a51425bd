"""The estimator class theta_beta = theta_0 - X'beta and its two standard errors (sections 3, 6, 7).

Inputs are the cohort summaries (sizes N_g, means, covariances with denominator N_g - 1), the
target weights A_theta (K x T) and the pre-period contrasts A_0 (K x R x T).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from analysis.staggered.panel import CohortSummaries

SQRT_EPS = 1.4901161193847656e-08  # MASS::ginv's tolerance, sqrt(.Machine$double.eps)
DBL_MIN = np.finfo(float).tiny


class ZeroBetaError(ValueError):
    """The plug-in beta is exactly 0 (R's `staggered` 1.2.3 errors here)."""


@dataclass(frozen=True)
class Estimate:
    estimate: float
    std_error: float
    std_error_neyman: float
    beta: np.ndarray
    theta_0: float
    pre_contrast: np.ndarray


def ginv(matrix: np.ndarray) -> np.ndarray:
    """Moore-Penrose inverse with MASS::ginv's rule (singular values <= sqrt(eps) * max are 0)."""
    u, singular, vt = np.linalg.svd(matrix)
    if singular.size == 0 or singular[0] <= 0:
        return np.zeros(matrix.shape[::-1])
    keep = singular > SQRT_EPS * singular[0]
    return (vt[keep].T / singular[keep]) @ u[:, keep].T


def batched_symmetric_ginv(matrices: np.ndarray) -> np.ndarray:
    """`ginv` of a stack of symmetric matrices, via their eigendecomposition."""
    values, vectors = np.linalg.eigh(matrices)
    magnitude = np.abs(values)
    largest = magnitude.max(axis=-1, keepdims=True)
    keep = (magnitude > SQRT_EPS * largest) & (largest > 0)
    inverse_values = np.where(keep, 1.0 / np.where(keep, values, 1.0), 0.0)
    return (vectors * inverse_values[..., None, :]) @ np.swapaxes(vectors, -1, -2)


def symmetric_ginv_solve(matrices: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """`ginv(S) @ c` for a stack of symmetric positive semi-definite S (... x m x m), fast.

    Periods with (numerically) zero variance are split off exactly: their rows and columns are
    zero up to rounding, so ginv acts on them as 0 (they are replaced by a unit diagonal and a
    zero right-hand side). The rest is inverted directly where the bound
    ||S||_F ||S^-1||_F >= cond(S) is far below MASS::ginv's cut-off 1 / sqrt(eps); only the
    remaining near-singular matrices go through the eigendecomposition.
    """
    size = matrices.shape[-1]
    diagonal = np.diagonal(matrices, axis1=-2, axis2=-1)
    largest = diagonal.max(axis=-1, keepdims=True)
    degenerate = diagonal <= 1e-12 * largest
    reduced = matrices
    right = vectors
    if degenerate.any():
        keep = ~degenerate
        reduced = matrices * (keep[..., :, None] & keep[..., None, :])
        filler = np.where(degenerate, np.where(largest > 0, largest, 1.0), 0.0)
        reduced = reduced + filler[..., :, None] * np.eye(size)
        right = np.where(keep, vectors, 0.0)
    # a batched inverse raises on any exactly singular matrix: screen those out first
    sign, _ = np.linalg.slogdet(reduced)
    safe = sign > 0
    solved = np.zeros_like(vectors)
    if safe.any():
        candidates = reduced[safe]
        inverse = np.linalg.inv(candidates)
        bound = np.sqrt(
            np.einsum("...ij,...ij->...", candidates, candidates)
            * np.einsum("...ij,...ij->...", inverse, inverse)
        )
        good = np.isfinite(bound) & (bound < 1e-2 / SQRT_EPS)
        solved[safe] = np.einsum("...ij,...j->...i", inverse, right[safe])
        safe[safe] = good
    if not safe.all():
        solved[~safe] = np.einsum(
            "...ij,...j->...i", batched_symmetric_ginv(matrices[~safe]), vectors[~safe]
        )
    return solved


def solve_beta(v_x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """beta* solving V_X beta = C through the normal equations, as the package does.

    For a scalar X the package's LDL^T treats a pivot |V_X^2| <= DBL_MIN as zero and returns 0.
    With a non-singular V_X this is V_X^-1 C; a singular V_X (a full A_0 with more contrasts than
    units) has many solutions: the least-squares one is returned, which gives the same standard
    errors as R's but, as in R, a point estimate that depends on the choice.
    """
    if v_x.shape == (1, 1):
        pivot = v_x[0, 0] * v_x[0, 0]
        return np.array([0.0 if abs(pivot) <= DBL_MIN else c[0] / v_x[0, 0]])
    normal, right = v_x.T @ v_x, v_x.T @ c
    try:
        if np.linalg.cond(normal) < 1e12:
            return np.linalg.solve(normal, right)
    except np.linalg.LinAlgError:
        pass
    return np.linalg.lstsq(v_x, c, rcond=None)[0]


def first_targeted_cohort(a_theta: np.ndarray) -> int | None:
    """Index of gMin: the first cohort whose row of A_theta is not identically zero."""
    rows = np.flatnonzero(np.any(a_theta != 0.0, axis=1))
    return int(rows[0]) if rows.size else None


def pre_period_count(cohorts: np.ndarray, periods: np.ndarray, g_min_index: int | None) -> int:
    """m = gMin - t_1 (0 means no refinement), capped at T as R's selection matrix is."""
    if g_min_index is None or cohorts[g_min_index] <= periods[0]:
        return 0
    return int(min(cohorts[g_min_index] - periods[0], len(periods)))


def refinement_terms(
    summaries: CohortSummaries, a_thetas: list[np.ndarray], g_min_index: int, m: int
) -> tuple[np.ndarray, np.ndarray]:
    """B (J x m, one b per target) and S_pre-bar (m x m) of the refined variance (7.2 / 7.3)."""
    plus = range(g_min_index, len(summaries.sizes))
    pre = summaries.covariances[g_min_index:, :m, :m]
    pre_inverse = batched_symmetric_ginv(pre)
    b = np.zeros((len(a_thetas), m))
    for j, a_theta in enumerate(a_thetas):
        for offset, k in enumerate(plus):
            cross = summaries.covariances[k, :m, :] @ a_theta[k]
            b[j] += pre_inverse[offset] @ cross
    return b, pre.mean(axis=0)


def estimate(
    summaries: CohortSummaries,
    a_theta: np.ndarray,
    a_zero: np.ndarray,
    *,
    cohorts: np.ndarray,
    periods: np.ndarray,
    beta: float | np.ndarray | None = None,
) -> Estimate:
    """Point estimate, refined design-based SE and Neyman SE of one target."""
    sizes = summaries.sizes.astype(float)
    means, covariances = summaries.means, summaries.covariances
    if a_zero.ndim == 2:
        a_zero = a_zero[:, None, :]
    theta_0 = float(np.einsum("kt,kt->", a_theta, means))
    pre_contrast = np.einsum("krt,kt->r", a_zero, means)
    if beta is None:
        zero_s = np.einsum("krt,kts->krs", a_zero, covariances)
        v_x = np.einsum("krs,kqs,k->rq", zero_s, a_zero, 1.0 / sizes)
        c = np.einsum("krs,ks,k->r", zero_s, a_theta, 1.0 / sizes)
        beta_hat = solve_beta(v_x, c)
        if beta_hat.shape == (1,) and beta_hat[0] == 0.0:
            raise ZeroBetaError("the plug-in beta is exactly 0")
    else:
        beta_hat = np.broadcast_to(np.asarray(beta, dtype=float), pre_contrast.shape).copy()
    combined = a_theta - np.einsum("r,krt->kt", beta_hat, a_zero)
    variance = float(np.einsum("kt,kts,ks,k->", combined, covariances, combined, 1.0 / sizes))
    if variance < 0:
        warnings.warn("the Neyman variance is negative; its SE is set to 0", stacklevel=2)
        variance = 0.0
    refined = variance
    g_min = first_targeted_cohort(a_theta)
    m = pre_period_count(cohorts, periods, g_min)
    if m > 0:
        b, pre_mean = refinement_terms(summaries, [a_theta], g_min, m)
        refined = variance - float(b[0] @ pre_mean @ b[0]) / sizes.sum()
        if refined < 0:
            if variance > 0:
                warnings.warn("the refined variance is negative; its SE is set to 0", stacklevel=2)
            refined = 0.0
    return Estimate(
        estimate=float(theta_0 - pre_contrast @ beta_hat),
        std_error=float(np.sqrt(refined)),
        std_error_neyman=float(np.sqrt(variance)),
        beta=beta_hat,
        theta_0=theta_0,
        pre_contrast=pre_contrast,
    )


def joint_covariance(
    summaries: CohortSummaries,
    targets: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    cohorts: np.ndarray,
    periods: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """vcv and vcv_neyman of several targets (A_theta, A_0, beta), with one common gMin (7.3)."""
    sizes = summaries.sizes.astype(float)
    rows = np.stack(
        [
            a_theta - np.einsum("r,krt->kt", beta, a_zero.reshape(len(sizes), -1, a_theta.shape[1]))
            for a_theta, a_zero, beta in targets
        ],
        axis=1,
    )  # K x J x T
    neyman = np.einsum("kjt,kts,kis,k->ji", rows, summaries.covariances, rows, 1.0 / sizes)
    g_mins = [first_targeted_cohort(a_theta) for a_theta, _, _ in targets]
    g_mins = [g for g in g_mins if g is not None]
    vcv = neyman.copy()
    if g_mins:
        g_min = min(g_mins)
        m = pre_period_count(cohorts, periods, g_min)
        if m > 0:
            a_thetas = [a_theta for a_theta, _, _ in targets]
            b, pre_mean = refinement_terms(summaries, a_thetas, g_min, m)
            vcv = neyman - b @ pre_mean @ b.T / sizes.sum()
    negative = np.flatnonzero(np.diag(vcv) < 0)
    vcv[np.ix_(negative, negative)] = 0.0
    return vcv, neyman
