"""The data of the post-period ANCOVA (analysis/ancova.py): one row per post-period encounter of
the two arms with the officer's pre-period mean of the item as the covariate (binary: the share;
count: log(mean + 0.5); rating: in pre-period SD units), officers without pre-period clips given
the pooled pre-period value and a missing indicator; and the regressors. The randomization test
(analysis/randomization_ancova.py) and the block wild bootstrap (analysis/wild_bootstrap.py)
read the same data.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.inference import treatment_indicator

PRE_MISSING = "pre_missing"
COUNT_OFFSET = 0.5  # log(pre-period mean + 0.5): officers with no pre-period events stay finite


def post_frame(
    encounters: pd.DataFrame,
    outcome: str,
    kind: str,
    cluster: str,
    arm: str,
    period: str,
    block: str,
) -> tuple[pd.DataFrame, float, list[str]]:
    frame = pd.DataFrame(
        {
            "y": pd.to_numeric(encounters[outcome], errors="coerce").astype(float),
            "treated_arm": treatment_indicator(encounters[arm]),
            "period": encounters[period].astype("object"),
            "cluster": encounters[cluster],
            "block": encounters[block].astype("string").fillna("(none)"),
        }
    ).dropna(subset=["y", "treated_arm", "cluster"])
    pre = frame[frame["period"] == "pre"]
    post = frame[frame["period"] == "post"].reset_index(drop=True)
    if post["treated_arm"].nunique() < 2:
        raise ValueError(f"{outcome}: the post period does not have encounters of both arms")
    pre_sd = float(pre["y"].std(ddof=1)) if len(pre) > 1 else math.nan
    if kind == "rating" and not pre_sd > 0:
        raise ValueError(f"{outcome}: the pre-period ratings do not vary; no SD to scale by")
    officer_pre = pre.groupby("cluster")["y"].mean()
    pooled = float(pre["y"].mean()) if len(pre) else math.nan
    if kind == "count":
        officer_pre, pooled = np.log(officer_pre + COUNT_OFFSET), math.log(pooled + COUNT_OFFSET)
    elif kind == "rating":
        officer_pre, pooled = officer_pre / pre_sd, pooled / pre_sd
    post["pre_mean"] = post["cluster"].map(officer_pre).astype(float)
    missing = post["pre_mean"].isna()
    notes = []
    if missing.all():
        post = post.drop(columns="pre_mean")
        notes.append("no officer has pre-period clips: no pre-period covariate")
    else:
        post["pre_mean"] = post["pre_mean"].fillna(pooled)
        if missing.any():
            post[PRE_MISSING] = missing.astype(float)
        n_without = int(post.loc[missing, "cluster"].nunique())
        notes.append(
            f"covariate: the officer's pre-period mean; {n_without} officers without pre-period "
            "clips get the pooled pre-period value and a missing indicator"
        )
    return post, pre_sd, notes


def design_frame(data: pd.DataFrame) -> pd.DataFrame:
    """const, treated_arm, block dummies, pre-period covariates (those that vary)."""
    design = pd.DataFrame({"const": 1.0, "treated_arm": data["treated_arm"]}, index=data.index)
    blocks = pd.get_dummies(data["block"], prefix="block", drop_first=True, dtype=float)
    covariates = [c for c in ("pre_mean", PRE_MISSING) if c in data.columns]
    design = pd.concat([design, blocks, data[covariates]], axis=1)
    varies = design.std(ddof=0) > 0
    varies["const"] = True
    return design.loc[:, varies]
