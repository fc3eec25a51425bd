"""The balanced officer x month panel of a staggered roll-out, read from the marts.

The published analyses of the Chicago procedural-justice roll-out (Wood, Tyler & Papachristos 2020;
Roth & Sant'Anna 2023; data/chicago_pj/README.md) estimate on a balanced panel: every officer of
the roll-out still serving at the end of the study window x every month of the window, with the
month's complaints, sustained complaints and force reports, and the officer's cohort (the period
of the month the officer was scheduled to be trained). :func:`balanced_panel` builds it from
``marts.dim_officers`` and ``marts.fct_officer_months`` over a read-only connection.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import pyarrow as pa

from middlestep.errors import PipelineError
from middlestep.warehouse import connect

PANEL_COLUMNS = (
    "uid",
    "month",
    "period",
    "first_trained",
    "complaints",
    "sustained",
    "force",
    "assigned",
    "assigned_exact",
    "appointed",
    "resigned",
    "birth_year",
)


class PanelError(PipelineError):
    """The warehouse cannot give the panel asked for; the message says why."""


@dataclass(frozen=True)
class Sample:
    name: str
    description: str
    excluded_unit_types: tuple[str, ...] | None = None  # None: no unit restriction
    first_trained_above: int | None = None
    first_trained_at_most: int | None = None
    # True: only officers still serving after the window (the published panels); False: every
    # officer serving when the window began, whether or not they left later (intent-to-treat)
    retained_only: bool = True


# The estimation samples of Roth & Sant'Anna (2023) for the Chicago roll-out. They keep only the
# officers still serving after the study window: whether an officer stays may itself respond to
# training, so that conditions on a post-assignment variable. Each has an intent-to-treat twin
# ("-itt") that does not: every officer of the roll-out serving when the window began stays in
# the cohort assigned, and the months after an officer left count as zero events (the spine of
# marts.fct_officer_months covers every month of the window).
_PUBLISHED = (
    Sample("full", "every officer of the roll-out still serving after the study window"),
    Sample(
        "main",
        "unit type at assignment known and not special; the two pilot cohorts "
        "(first_trained <= 14) dropped; officers still serving after the study window",
        excluded_unit_types=("special",),
        first_trained_above=14,
    ),
    Sample(
        "omit-late",
        "the main sample without the late cohorts (first_trained > 60)",
        excluded_unit_types=("special",),
        first_trained_above=14,
        first_trained_at_most=60,
    ),
)
ITT_DESCRIPTION = (
    "every officer of the roll-out serving when the study window began, including those who "
    "left later (they stay in the cohort assigned; their months after leaving count as zero "
    "events): no conditioning on retention"
)
SAMPLES: dict[str, Sample] = {
    sample.name: sample
    for published in _PUBLISHED
    for sample in (
        published,
        replace(
            published,
            name=f"{published.name}-itt",
            description=(
                ITT_DESCRIPTION
                if published.name == "full"
                else published.description.split("; officers still")[0] + "; " + ITT_DESCRIPTION
            ),
            retained_only=False,
        ),
    )
}

_PANEL_SQL = """
with departments as (
    select department_id, study_start_on, study_end_on
    from staging.stg_departments
    where department_id = $department_id
),

rollout_officers as (
    select
        officers.department_id,
        officers.officer_id,
        officers.trial_id,
        officers.cohort_on,
        officers.assigned_on,
        officers.appointed_on,
        officers.separated_on,
        officers.birth_year,
        officers.unit_type_at_assignment,
        -- still serving after the window: not separated on or before its last day
        (
            officers.separated_on is null or officers.separated_on > departments.study_end_on
        ) as is_retained
    from marts.dim_officers as officers
    inner join departments
        on departments.department_id = officers.department_id
    where officers.trial_id = $trial_id
        and officers.cohort_on is not null
        -- serving when the window began (a fact before any training)
        and (officers.separated_on is null or officers.separated_on >= departments.study_start_on)
)

select
    rollout_officers.officer_id as uid,
    officer_months.month_start as month,
    officer_months.period,
    officer_months.cohort_period as first_trained,
    officer_months.complaints,
    officer_months.sustained_complaints as sustained,
    officer_months.force_reports as force,
    rollout_officers.cohort_on as assigned,
    rollout_officers.assigned_on as assigned_exact,
    rollout_officers.appointed_on as appointed,
    rollout_officers.separated_on as resigned,
    rollout_officers.birth_year,
    rollout_officers.unit_type_at_assignment,
    rollout_officers.is_retained
from rollout_officers
inner join marts.fct_officer_months as officer_months
    on officer_months.department_id = rollout_officers.department_id
    and officer_months.officer_id = rollout_officers.officer_id
order by rollout_officers.officer_id, officer_months.period
"""


def balanced_panel(
    warehouse: Path,
    department_id: str,
    sample: str = "full",
    *,
    trial_id: str | None = None,
) -> pd.DataFrame:
    """The balanced officer x month panel of a roll-out (columns :data:`PANEL_COLUMNS`).

    Officers: those with a roll-out cohort in ``trial_id`` (the department's only trial if
    None) serving when the study window began; the published samples keep only those not
    separated by the end of the window, the "-itt" samples every one of them (:data:`SAMPLES`);
    months: every month of the window.
    ``sample`` is one of :data:`SAMPLES`.
    """
    if sample not in SAMPLES:
        raise PanelError(f"unknown sample '{sample}' (known: {', '.join(SAMPLES)})")
    with connect(Path(warehouse), read_only=True) as connection:
        _require_marts(connection, department_id)
        trial_id = trial_id or _only_trial(connection, department_id)
        panel = connection.execute(
            _PANEL_SQL, {"department_id": department_id, "trial_id": trial_id}
        ).df()
    if panel.empty:
        raise PanelError(f"trial {trial_id} of department {department_id} has no officer-months")
    panel = _restrict(panel, SAMPLES[sample])
    return _typed(panel)


def _require_marts(connection, department_id: str) -> None:
    built = {
        name
        for (name,) in connection.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
    }
    missing = {"dim_officers", "fct_officer_months"} - built
    if missing:
        raise PanelError(
            f"the warehouse has no marts.{', marts.'.join(sorted(missing))}: "
            "run `middlestep build` first"
        )
    known = connection.execute(
        "select count(*) from marts.dim_officers where department_id = ?", [department_id]
    ).fetchone()[0]
    if not known:
        raise PanelError(f"the marts hold no officers of department '{department_id}'")


def _only_trial(connection, department_id: str) -> str:
    trials = [
        trial
        for (trial,) in connection.execute(
            "select distinct trial_id from marts.dim_officers "
            "where department_id = ? and trial_id is not null order by 1",
            [department_id],
        ).fetchall()
    ]
    if len(trials) != 1:
        found = ", ".join(trials) or "none"
        raise PanelError(f"department {department_id} needs one trial to choose (found: {found})")
    return trials[0]


def _restrict(panel: pd.DataFrame, sample: Sample) -> pd.DataFrame:
    keep = pd.Series(True, index=panel.index)
    if sample.retained_only:
        keep &= panel["is_retained"].astype(bool)
    if sample.excluded_unit_types is not None:
        unit_type = panel["unit_type_at_assignment"]
        keep &= unit_type.notna() & ~unit_type.isin(sample.excluded_unit_types)
    if sample.first_trained_above is not None:
        keep &= panel["first_trained"] > sample.first_trained_above
    if sample.first_trained_at_most is not None:
        keep &= panel["first_trained"] <= sample.first_trained_at_most
    return panel.loc[keep.fillna(False)].reset_index(drop=True)


def _typed(panel: pd.DataFrame) -> pd.DataFrame:
    panel = panel.loc[:, list(PANEL_COLUMNS)].copy()
    panel["uid"] = panel["uid"].astype("string")
    for column in ("period", "complaints", "sustained", "force"):
        panel[column] = panel[column].astype("int64")
    for column in ("first_trained", "birth_year"):
        panel[column] = panel[column].astype("Int64")
    for column in ("month", "assigned", "assigned_exact", "appointed", "resigned"):
        # calendar dates (Arrow date32): ISO 8601 in a CSV, DATE in Parquet
        panel[column] = pd.to_datetime(panel[column]).astype(pd.ArrowDtype(pa.date32()))
    return panel
