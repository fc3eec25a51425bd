"""`middlestep export`: a mart or an analysis panel to CSV, Parquet or Stata ``.dta``.

What can be exported:

* any mart of the build (``marts.<name>``, also one an analyst added), for one department;
* ``officer-months``: the trial's force panel, the officer-months of the primary estimate's
  window (analysis/force_ancova.py: from ``pre_months`` before the treatment arm's training to
  the month before the wait-list's, active months only) with the arm, block, calls, outcome
  counts, the post-period flag and each officer's log pre-period rate of force and complaints:
  everything the primary force estimate needs, so that R or Stata reproduce it
  (docs/exports.md);
* ``encounters``: every SSO-coded encounter with its arm and period (``marts.fct_encounters``);
* ``rollout``: a staggered roll-out's balanced officer x month panel (middlestep/panel.py).

Stata variable labels are the models' column descriptions (SQLMesh ``column_descriptions``,
which SQLMesh writes to the warehouse as column comments), the codebook's labels for the SSO
items, and this module's own for the panels' derived columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from middlestep.codebook import ITEMS
from middlestep.errors import PipelineError
from middlestep.snapshot import gated_snapshot
from middlestep.warehouse import Home, connect

PANELS = ("officer-months", "encounters", "rollout")
FORMATS = (".csv", ".parquet", ".dta")
STATA_LABEL_LENGTH = 80
PRE_MONTHS = 12  # the primary estimate's pre-period (analysis/force_ancova.py's default)

# the officer-months panel: the mart's columns it keeps, and the labels of those it derives
OFFICER_MONTH_COLUMNS = (
    "department_id",
    "officer_id",
    "trial_id",
    "block_id",
    "arm",
    "month_start",
    "period",
    "is_active",
    "calls_attended",
    "hours_on_scene",
    "force_reports",
    "force_reports_level_2_plus",
    "complaints",
    "sustained_complaints",
    "coded_encounters",
)
DERIVED_LABELS = {
    "treated_arm": "1 = treatment (immediate training) arm, 0 = control (wait-list)",
    "post": "1 = from the treatment arm's training month (the primary's estimation months)",
    "month": "calendar month YYYY-MM (the month fixed effect)",
    "pre_log_rate_force": "log((pre-period force reports + 0.5) / pre-period months)",
    "pre_missing_force": "1 = no pre-period months (covariate set to the mean)",
    "pre_log_rate_complaints": "log((pre-period complaints + 0.5) / pre-period months)",
    "pre_missing_complaints": "1 = no pre-period months (covariate set to the mean)",
    # the roll-out panel (middlestep/panel.py)
    "uid": "officer",
    "first_trained": "period of the officer's scheduled training month",
    "sustained": "sustained complaints in the month",
    "force": "force reports in the month",
    "assigned": "scheduled training month",
    "assigned_exact": "scheduled training date",
    "appointed": "date appointed",
    "resigned": "date separated",
}


@dataclass(frozen=True)
class Exported:
    what: str
    path: Path
    rows: int
    columns: tuple[str, ...]
    labels: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "path": str(self.path),
            "rows": self.rows,
            "columns": list(self.columns),
            "labels": self.labels,
            "notes": list(self.notes),
        }

    def text(self) -> str:
        lines = [
            f"wrote {self.rows} rows of {self.what} ({len(self.columns)} columns) to {self.path}"
        ]
        return "\n".join(lines + [f"note: {note}" for note in self.notes])


def export_table(
    home: Home,
    what: str,
    out: Path,
    *,
    department: str | None = None,
    sample: str = "full",
    trial_id: str | None = None,
    allow_ungated: bool = False,
) -> Exported:
    """Write ``what`` (a mart or one of :data:`PANELS`) to ``out`` (:data:`FORMATS`)."""
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise PipelineError(f"export to a .csv, .parquet or .dta file, not {out.name}")
    if not home.warehouse.exists():
        raise PipelineError(f"no warehouse at {home.warehouse}: run `middlestep ingest` first")
    notes: tuple[str, ...] = ()
    if what == "rollout":
        frame, labels = _rollout_panel(home, department, sample, trial_id)
    elif what in PANELS:
        snapshot = gated_snapshot(home, department, allow_ungated=allow_ungated)
        if not snapshot.is_gated:
            notes = (f"UNGATED: build {snapshot.build_id} has not passed the quality gate",)
        if what == "officer-months":
            frame, labels = officer_month_panel(home, snapshot.department_id)
        else:
            frame, labels = _mart(home, "fct_encounters", snapshot.department_id)
    else:
        frame, labels = _mart(home, what, department)
    write_frame(frame, out, labels)
    kept = {column: labels[column] for column in frame.columns if column in labels}
    return Exported(what, out, len(frame), tuple(frame.columns), kept, notes)


# --------------------------------------------------------------------------------------------
# what is exported


def _mart(home: Home, name: str, department: str | None) -> tuple[pd.DataFrame, dict[str, str]]:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise PipelineError(f"unknown export '{name}': a mart name, or one of {', '.join(PANELS)}")
    with connect(home.warehouse, read_only=True) as connection:
        marts = mart_names(connection)
        if name not in marts:
            raise PipelineError(
                f"no mart '{name}' in the build (marts: {', '.join(sorted(marts)) or 'none'}; "
                f"panels: {', '.join(PANELS)}); run `middlestep build` if you added it"
            )
        columns = _column_names(connection, name)
        query = f"select * from marts.{name}"
        if department and "department_id" in columns:
            frame = connection.execute(
                query + " where department_id = ? order by all", [department]
            ).df()
        else:
            frame = connection.execute(query + " order by all").df()
        labels = column_labels(connection, name)
    return frame, labels


def mart_names(connection) -> set[str]:
    rows = connection.execute(
        "select table_name from information_schema.tables where table_schema = 'marts'"
    ).fetchall()
    return {name for (name,) in rows}


def _column_names(connection, table: str) -> list[str]:
    rows = connection.execute(
        "select column_name from information_schema.columns "
        "where table_schema = 'marts' and table_name = ?",
        [table],
    ).fetchall()
    return [name for (name,) in rows]


def column_labels(connection, table: str) -> dict[str, str]:
    """Column -> label: the model's column description (a comment on the mart's column), else
    the codebook's label of an SSO item, else the derived columns' labels of this module."""
    comments = dict(
        connection.execute(
            "select column_name, comment from duckdb_columns() "
            "where schema_name = 'marts' and table_name = ? and comment is not null",
            [table],
        ).fetchall()
    )
    return {**DERIVED_LABELS, **{item.name: item.label for item in ITEMS}, **comments}


def officer_month_panel(home: Home, department_id: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """The trial's force panel (module docstring), one row per officer x window month."""
    from analysis.force_ancova import post_period_panel
    from analysis.force_window import window_panel
    from middlestep.warehouse.marts import load_marts

    try:
        marts = load_marts(home.warehouse, department_id)
        dates = marts.study_dates
    except (LookupError, ValueError) as error:
        raise PipelineError(f"no officer-month panel of {department_id}: {error}") from error
    window = {"trial_start": dates.trial_start_on, "control_start": dates.control_start_on}
    months = marts.officer_months
    carry = [column for column in OFFICER_MONTH_COLUMNS if column in months.columns]
    data, _, _ = window_panel(
        months, "force_reports", exposure=None, pre_months=PRE_MONTHS, carry=carry, **window
    )
    panel = data[[*carry, "treated_arm", "post", "month"]].copy()
    for outcome, name in (("force_reports", "force"), ("complaints", "complaints")):
        post, *_ = post_period_panel(
            months, outcome, block="block_id", pre_months=PRE_MONTHS, **window
        )
        covariates = post.groupby("cluster")[["pre_log_rate", "pre_missing"]].first()
        panel[f"pre_log_rate_{name}"] = panel["officer_id"].map(covariates["pre_log_rate"])
        panel[f"pre_missing_{name}"] = panel["officer_id"].map(covariates["pre_missing"])
    panel["treated_arm"] = panel["treated_arm"].astype("int8")
    panel["post"] = panel["post"].astype("int8")
    panel = panel.sort_values(["officer_id", "month_start"]).reset_index(drop=True)
    with connect(home.warehouse, read_only=True) as connection:
        labels = column_labels(connection, "fct_officer_months")
    return panel, labels


def _rollout_panel(
    home: Home, department: str | None, sample: str, trial_id: str | None
) -> tuple[pd.DataFrame, dict[str, str]]:
    from middlestep.panel import balanced_panel

    if not department:
        raise PipelineError("export rollout needs --department")
    frame = balanced_panel(home.warehouse, department, sample, trial_id=trial_id)
    with connect(home.warehouse, read_only=True) as connection:
        labels = column_labels(connection, "fct_officer_months")
    return frame, labels


# --------------------------------------------------------------------------------------------
# writing


def write_frame(frame: pd.DataFrame, out: Path, labels: dict[str, str] | None = None) -> Path:
    """Write ``frame`` as CSV, Parquet or Stata (by ``out``'s suffix); Stata with labels."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".parquet":
        frame.to_parquet(out, index=False)
    elif suffix == ".csv":
        frame.to_csv(out, index=False)
    elif suffix == ".dta":
        stata, dates = stata_frame(frame)
        variable_labels = {
            column: label[:STATA_LABEL_LENGTH]
            for column, label in (labels or {}).items()
            if column in stata.columns
        }
        stata.to_stata(
            out,
            write_index=False,
            version=118,  # Unicode strings, Stata 14 and later
            convert_dates=dates,
            variable_labels=variable_labels,
        )
    else:
        raise PipelineError(f"export to a .csv, .parquet or .dta file, not {out.name}")
    return out


def stata_frame(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """The frame in types Stata holds: booleans as 0/1, nullable integers as doubles where a
    value is missing, text as strings ("" for missing), dates as Stata dates (%td) and
    timestamps as Stata datetimes (%tc); and the date formats of the columns."""
    stata, dates = pd.DataFrame(index=frame.index), {}
    for column in frame.columns:
        values = frame[column]
        kind = str(values.dtype)
        if kind.startswith("date32") or _holds_dates(values):
            stata[column] = pd.to_datetime(values.astype("object"))
            dates[column] = "td"
        elif kind.startswith(("datetime64", "timestamp")):
            stamps = pd.to_datetime(values).dt.tz_localize(None)
            stata[column] = stamps
            # DuckDB's DATE columns arrive as midnight timestamps: Stata dates (%td) for them
            dates[column] = (
                "td" if (stamps.dropna() == stamps.dropna().dt.normalize()).all() else "tc"
            )
        elif kind in ("bool", "boolean") or kind.startswith("bool"):
            stata[column] = (
                values.astype("float64") if values.isna().any() else values.astype("int8")
            )
        elif pd.api.types.is_integer_dtype(values):
            stata[column] = (
                values.astype("float64") if values.isna().any() else values.astype("int64")
            )
        elif pd.api.types.is_float_dtype(values):
            stata[column] = values.astype("float64")
        else:
            stata[column] = values.astype("object").where(values.notna(), "").astype(str)
    return stata, dates


def _holds_dates(values: pd.Series) -> bool:
    """A column of Python dates (DuckDB's DATE read into pandas as objects)."""
    import datetime as dt

    if values.dtype != object:
        return False
    present = values.dropna()
    return bool(len(present)) and all(
        isinstance(value, dt.date) and not isinstance(value, dt.datetime) for value in present[:50]
    )
