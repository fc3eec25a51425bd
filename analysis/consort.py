"""The trial's flow of officers and clips (a CONSORT-style table) and the 2 x 2 cell means.

* `consort_flow`: per arm, the officers randomized, those who completed training before the
  wait-list arm's training (the treatment arm's compliance; the control arm's cross-overs),
  those separated before the comparison window ended, those with coded clips before, after, both
  or neither, the clips per period, and the officers in the force analysis (active in a month of
  the comparison window). What a reader needs to judge attrition and who the estimates speak of.
* `cell_means`: for one outcome, the mean per arm x period with its clips and officers: the
  raw numbers under every difference-in-differences and post-period comparison.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

ARMS = ("treatment", "control")


def consort_flow(
    officers: pd.DataFrame,
    officer_months: pd.DataFrame,
    encounters: pd.DataFrame,
    *,
    trial_start: date,
    control_start: date | None,
) -> pd.DataFrame:
    """One row per step of the flow, columns `step`, `treatment`, `control`, `total`.

    `officers` is `marts.dim_officers`, `officer_months` `marts.fct_officer_months` and
    `encounters` `marts.fct_encounters`, for one department. The comparison window runs from
    `trial_start` to `control_start` (the wait-list's training; open-ended when None).
    """
    randomized = officers[officers["arm"].isin(ARMS)]
    window_end = pd.Timestamp(control_start) if control_start is not None else pd.Timestamp.max
    trained = pd.to_datetime(randomized["first_trained_on"])
    separated = pd.to_datetime(randomized["separated_on"])
    clips = encounters[encounters["arm"].isin(ARMS)]
    clip_periods = clips.groupby("officer_id")["is_post"].agg(["any", "all"])
    has_post = clip_periods["any"]
    has_pre = ~clip_periods["all"]
    months = pd.to_datetime(officer_months["month_start"])
    in_window = (months >= pd.Timestamp(trial_start).replace(day=1)) & (months < window_end)
    force_officers = set(
        officer_months.loc[in_window & officer_months["is_active"].astype(bool), "officer_id"]
    )

    def by_arm(mask: pd.Series) -> dict[str, int]:
        counts = randomized.loc[mask, "arm"].value_counts()
        return {arm: int(counts.get(arm, 0)) for arm in ARMS}

    officer_ids = randomized["officer_id"]
    pre_ids = set(has_pre.index[has_pre])
    post_ids = set(has_post.index[has_post])
    steps = {
        "randomized": by_arm(pd.Series(True, index=randomized.index)),
        "completed training before the wait-list's training": by_arm(trained < window_end),
        "separated before the comparison window ended": by_arm(separated < window_end),
        "with coded clips before training": by_arm(officer_ids.isin(pre_ids)),
        "with coded clips after training": by_arm(officer_ids.isin(post_ids)),
        "with coded clips both before and after": by_arm(officer_ids.isin(pre_ids & post_ids)),
        "with no coded clip": by_arm(~officer_ids.isin(pre_ids | post_ids)),
        "in the force analysis (active in the comparison window)": by_arm(
            officer_ids.isin(force_officers)
        ),
    }
    for period, is_post in (("before", False), ("after", True)):
        counts = clips.loc[clips["is_post"] == is_post, "arm"].value_counts()
        steps[f"coded clips {period} training"] = {arm: int(counts.get(arm, 0)) for arm in ARMS}
    frame = pd.DataFrame(
        [{"step": step, **counts} for step, counts in steps.items()], columns=["step", *ARMS]
    )
    frame["total"] = frame["treatment"] + frame["control"]
    return frame


def cell_means(encounters: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Mean of `outcome` per arm x period (before / after training), with clips and officers."""
    clips = encounters[encounters["arm"].isin(ARMS) & encounters[outcome].notna()]
    rows = []
    for arm in ARMS:
        for period, is_post in (("before", False), ("after", True)):
            cell = clips[(clips["arm"] == arm) & (clips["is_post"] == is_post)]
            rows.append(
                {
                    "outcome": outcome,
                    "arm": arm,
                    "period": period,
                    "mean": float(cell[outcome].mean()) if len(cell) else float("nan"),
                    "n_clips": int(len(cell)),
                    "n_officers": int(cell["officer_id"].nunique()),
                }
            )
    return pd.DataFrame(rows)
