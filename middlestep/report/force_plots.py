"""The plots of a department's force figures and trial planning (middlestep/report/department.py)
as PNG bytes: force per officer-month over time with its interval, the concentration of force
against a Poisson model, and the power curves of the two trial designs."""

from __future__ import annotations

import pandas as pd

from analysis.memo import memoized
from analysis.power import LOUISVILLE_RATE_RATIO, TARGET_POWER
from middlestep.report.plots import _png


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@memoized  # a plot takes a second to draw
def monthly_force_png(monthly: pd.DataFrame) -> bytes:
    """Force reports per 1,000 officer-months, month by month, with the 95% interval band."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7.5, 3.6))
    months = pd.to_datetime(monthly["month_start"])
    axis.fill_between(
        months, monthly["ci_low"], monthly["ci_high"], color="#aec7e8", label="95% interval"
    )
    axis.plot(months, monthly["rate_per_1000"], color="#1f77b4", marker="o", markersize=3)
    axis.set_ylabel("force reports per 1,000 officer-months")
    axis.set_ylim(bottom=0)
    axis.grid(color="#eeeeee")
    axis.legend(fontsize=8, frameon=False, loc="upper right")
    return _png(figure, dpi=130)


@memoized
def concentration_png(table: pd.DataFrame) -> bytes:
    """Share of reports by the top officers: observed bars, Poisson expectation with range."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6.0, 3.2))
    positions = range(len(table))
    axis.bar([p - 0.2 for p in positions], table["share_observed"], 0.4, label="observed")
    axis.bar(
        [p + 0.2 for p in positions],
        table["share_poisson"],
        0.4,
        yerr=[
            table["share_poisson"] - table["poisson_low"],
            table["poisson_high"] - table["share_poisson"],
        ],
        color="#bbbbbb",
        label="Poisson, same mean",
    )
    axis.set_xticks(list(positions), table["top_officers"])
    axis.set_ylabel("share of force reports")
    axis.set_ylim(0, 1)
    axis.legend(fontsize=8, frameon=False)
    return _png(figure, dpi=130)


@memoized
def planning_curves_png(curves: pd.DataFrame, target: float = TARGET_POWER) -> bytes:
    """Simulated power vs rate ratio of each design at the department's size."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7.5, 4.0))
    for design, group in curves.groupby("design", sort=False):
        axis.errorbar(
            group["rate_ratio"],
            group["power"],
            yerr=1.96 * group["power_mc_error"],
            marker="o",
            markersize=4,
            label=str(design),
        )
    axis.axhline(target, color="#999999", linestyle=":", linewidth=1)
    axis.axvline(LOUISVILLE_RATE_RATIO, color="#c0392b", linestyle="--", linewidth=1)
    axis.set_xlabel("rate ratio of force (1 = no effect)")
    axis.set_ylabel("power (5% two-sided, simulated)")
    axis.set_ylim(0, 1.02)
    axis.grid(color="#eeeeee")
    axis.legend(fontsize=8, frameon=False, loc="upper right")
    return _png(figure, dpi=130)
