"""The CONSORT-style flow and the arm x period cell means, on a roster small enough to count."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from analysis.consort import cell_means, consort_flow

TRIAL_START, CONTROL_START = date(2024, 1, 1), date(2025, 1, 1)


def _officers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "officer_id": ["t1", "t2", "t3", "c1", "c2", "x1"],
            "arm": ["treatment", "treatment", "treatment", "control", "control", None],
            "first_trained_on": pd.to_datetime(
                ["2024-01-10", "2024-02-01", None, "2024-06-01", "2025-01-05", None]
            ),
            "separated_on": pd.to_datetime([None, "2024-05-01", None, None, "2026-01-01", None]),
        }
    )


def _encounters() -> pd.DataFrame:
    rows = [
        ("t1", "treatment", False, 1),
        ("t1", "treatment", True, 1),
        ("t2", "treatment", True, 0),
        ("c1", "control", False, 0),
        ("c1", "control", False, 1),
        ("c2", "control", True, 0),
        ("x1", None, True, 1),  # an officer outside the trial: no arm, not counted
    ]
    return pd.DataFrame(rows, columns=["officer_id", "arm", "is_post", "empathy"])


def _officer_months() -> pd.DataFrame:
    months = pd.date_range("2023-12-01", "2025-01-01", freq="MS")
    frame = pd.DataFrame(
        [(officer, month) for officer in ["t1", "t2", "t3", "c1", "c2"] for month in months],
        columns=["officer_id", "month_start"],
    )
    # t3 is never active inside the window; c2 only in the month before it starts
    frame["is_active"] = ~frame["officer_id"].eq("t3") & ~(
        frame["officer_id"].eq("c2") & (frame["month_start"] >= "2024-01-01")
    )
    return frame


def test_flow_counts_each_step_by_arm():
    flow = consort_flow(
        _officers(),
        _officer_months(),
        _encounters(),
        trial_start=TRIAL_START,
        control_start=CONTROL_START,
    ).set_index("step")
    expected = {
        "randomized": (3, 2),
        "completed training before the wait-list's training": (2, 1),  # c1 crossed over
        "separated before the comparison window ended": (1, 0),
        "with coded clips before training": (1, 1),
        "with coded clips after training": (2, 1),
        "with coded clips both before and after": (1, 0),
        "with no coded clip": (1, 0),
        "in the force analysis (active in the comparison window)": (2, 1),
        "coded clips before training": (1, 2),
        "coded clips after training": (2, 1),
    }
    assert list(flow.index) == list(expected)
    for step, (treatment, control) in expected.items():
        assert (flow.loc[step, "treatment"], flow.loc[step, "control"]) == (treatment, control)
        assert flow.loc[step, "total"] == treatment + control


def test_cell_means_per_arm_and_period():
    cells = cell_means(_encounters(), "empathy").set_index(["arm", "period"])
    assert cells.loc[("treatment", "before"), "mean"] == 1.0
    assert cells.loc[("treatment", "after"), "mean"] == 0.5
    assert cells.loc[("control", "before"), ["mean", "n_clips", "n_officers"]].tolist() == [
        0.5,
        2,
        1,
    ]
    assert cells.loc[("control", "after"), "n_officers"] == 1


def test_empty_cell_is_nan_not_an_error():
    encounters = _encounters()
    cells = cell_means(encounters[~encounters["is_post"]], "empathy")
    after = cells[cells["period"] == "after"]
    assert after["n_clips"].tolist() == [0, 0] and np.isnan(after["mean"]).all()


def _flow() -> pd.DataFrame:
    return consort_flow(
        _officers(),
        _officer_months(),
        _encounters(),
        trial_start=TRIAL_START,
        control_start=CONTROL_START,
    )


def test_flow_figure_draws_every_count_of_the_table_in_its_arms_column():
    from middlestep.report.plots import CONSORT_ARMS, consort_figure

    flow = _flow()
    figure = consort_figure(flow)
    drawn = [text.get_text() for text in figure.axes[0].texts if text.get_text()]  # no arrows
    assert drawn[0] == f"Officers randomized within blocks: {flow['total'].iloc[0]}"
    boxes = drawn[1:]
    per_arm = len(boxes) // 2
    for column, (arm, title) in enumerate(CONSORT_ARMS):
        column_text = "\n".join(boxes[column * per_arm : (column + 1) * per_arm])
        assert column_text.startswith(title)
        numbers = [
            int(line.rsplit(": ", 1)[1]) for line in column_text.splitlines() if ": " in line
        ]
        # every step of the table, in the table's order, with the table's count for this arm
        assert numbers == flow[arm].tolist()


def test_report_writes_the_flow_figure_beside_the_table(tmp_path):
    from middlestep.report import ReportContext, write_report
    from middlestep.report.design import CONSORT_FILE

    flow = _flow()
    paths = write_report(tmp_path, ReportContext("synthetic", "flow", consort=flow))
    figure = tmp_path / CONSORT_FILE
    assert figure.read_bytes().startswith(b"\x89PNG")
    markdown = paths.markdown.read_text()
    assert CONSORT_FILE in markdown
    assert "with coded clips both before and after" in markdown  # the table is still there
