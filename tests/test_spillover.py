"""The spillover exposure from the warehouse's per officer x period counts, the low-exposure split
of the sensitivity analysis, and the report section: every number it prints is in results.json."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from analysis.numbers import significant
from analysis.results import Effect
from analysis.spillover import (
    low_exposure_split,
    sharing_by_month,
    spillover_summary,
    without_officers,
)
from middlestep.report import ReportContext, write_report
from middlestep.report.spillover import TITLE
from middlestep.spillover import SENSITIVITY_LABEL, SpilloverAnalysis


def sharing() -> pd.DataFrame:
    """Two control officers (k1, k2), one treatment officer (t1); pre and post counts."""
    rows = [
        # officer, arm, period, attendances, with a treatment-arm officer, with a trained officer
        ("k1", "control", "pre", 10, 1, 0),
        ("k2", "control", "pre", 10, 6, 0),
        ("k3", "control", "pre", 0, 0, 0),
        ("t1", "treatment", "pre", 20, 4, 0),
        ("k1", "control", "post", 20, 4, 3),
        ("k2", "control", "post", 30, 12, 9),
        ("t1", "treatment", "post", 40, 10, 8),
        ("k1", "control", "late", 5, 5, 5),
    ]
    columns = ["officer_id", "arm", "study_period", "attendances"]
    return pd.DataFrame(rows, columns=[*columns, "with_treatment_arm", "with_trained"])


def test_summary_counts_the_post_period_and_keeps_the_pre_period_apart():
    summary = spillover_summary(sharing())
    assert summary.share_control_with_assigned == pytest.approx(16 / 50)
    assert summary.share_control_with_trained == pytest.approx(12 / 50)
    assert summary.share_treatment_with_other_assigned == pytest.approx(10 / 40)
    assert summary.n_control_attendances == 50 and summary.n_control_officers == 2
    # per control officer with a trained officer: 3/20 and 9/30
    assert summary.control_officer_share_median == pytest.approx((0.15 + 0.3) / 2)
    assert summary.pre_share_control_with_assigned == pytest.approx(7 / 20)


def test_low_exposure_split_uses_the_pre_period_and_leaves_out_officers_without_calls():
    split = low_exposure_split(sharing())
    assert split.basis == "pre"
    assert split.threshold == pytest.approx((0.1 + 0.6) / 2)
    assert split.low_exposure_control == {"k1"}
    assert split.high_exposure_control == {"k2"}  # k3 had no pre-period call: in neither half


def test_without_a_pre_period_the_split_is_post_assignment_and_says_so():
    post_only = sharing()[lambda f: f["study_period"] != "pre"]
    split = low_exposure_split(post_only)
    assert split.basis == "post"
    assert split.low_exposure_control == {"k1"} and split.high_exposure_control == {"k2"}


def test_without_officers_drops_only_their_rows():
    frame = pd.DataFrame({"officer_id": ["k1", "k2", "t1", "k2"], "y": [1, 2, 3, 4]})
    kept = without_officers(frame, frozenset({"k2"}))
    assert list(kept["officer_id"]) == ["k1", "t1"] and list(kept["y"]) == [1, 3]


def effect(outcome: str, estimate: float, n: int, *, sensitivity: bool = False) -> Effect:
    scale = "rate_ratio" if outcome == "force_reports" else "percentage_points"
    return Effect(
        outcome=outcome,
        estimator="ITT post-period ANCOVA",
        estimate=estimate,
        std_error=0.1,
        ci_low=estimate - 0.25,
        ci_high=estimate + 0.3125,
        p_value=0.2,
        n_units=n,
        scale=scale,
        extras={"sensitivity": SENSITIVITY_LABEL} if sensitivity else {},
    )


def numbers_in(text: str) -> list[str]:
    """Every number written in `text` (thousands separators kept, a % dropped)."""
    return re.findall(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?", text)


def written_forms(value) -> set[str]:
    """How the report may write a number of results.json: as is, or a share in percent."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return set()
    forms = {significant(value), significant(100 * value)}
    return forms | {form.lstrip("-") for form in forms}


def leaves(value) -> list:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaves(item)]
    return [value]


def test_every_number_of_the_section_is_in_results_json(tmp_path):
    by_officer = sharing()
    by_month = pd.DataFrame(
        {
            "month_start": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-02-01"]),
            "arm": ["control", "treatment", "control"],
            "attendances": [40, 60, 7],
            "with_treatment_arm": [10, 12, 3],
            "with_trained": [8, 9, 0],
        }
    )
    primary = [effect("personal_conversation", 6.5, 180), effect("force_reports", 0.875, 282)]
    sensitivity = (
        effect("personal_conversation", 7.25, 141, sensitivity=True),
        effect("force_reports", 0.8125, 214, sensitivity=True),
    )
    analysis = SpilloverAnalysis(
        spillover_summary(by_officer), sharing_by_month(by_month), sensitivity
    )
    context = ReportContext("synthetic", "spillover", primary_effects=primary, spillover=analysis)
    paths = write_report(tmp_path, context)
    results = json.loads(paths.json.read_text())
    markdown = paths.markdown.read_text()
    section = markdown.split(f"## {TITLE}")[1].split("\n## ")[0]
    assert "Sensitivity analysis, not the randomized comparison" in section
    assert "biased towards no effect" in section
    covered = set()
    for value in leaves(results["spillover"]) + leaves(results["primary_effects"]):
        covered |= written_forms(value)
    # words that hold digits but no result: month labels, the interval's level, the percentile
    words = re.sub(r"\d{4}-\d{2}|95% CI|90th percentile", "", section)
    printed = numbers_in(words)
    assert len(printed) > 20, "the section prints its numbers"
    assert [number for number in printed if number.lstrip("-") not in covered] == []
    # the numbers that matter are there: the shares, the threshold, the sensitivity estimates
    assert "32%" in section and "35%" in section  # 16 / 50 and the pre-period median
    assert "7.25" in section and "0.812" in section and "214" in section
    assert results["spillover"]["exposure_basis"] == "pre"


def test_no_section_without_a_spillover_analysis(tmp_path):
    paths = write_report(tmp_path, ReportContext("synthetic", "none"))
    assert TITLE not in paths.markdown.read_text()
    assert json.loads(paths.json.read_text())["spillover"] is None


def test_sensitivity_rows_leave_out_the_high_exposure_control_officers_and_say_what_failed():
    """The primary estimators on the marts without the high-exposure half of the control arm;
    an outcome the data cannot support (no post-period clip) is a note, the others still run."""
    from types import SimpleNamespace

    from analysis.ancova import ancova_itt_effect
    from analysis.force_ancova import force_ancova_effect
    from analysis.marts import StudyDates
    from analysis.simulate import TrialScenario, simulate_trial
    from analysis.spillover import ExposureSplit
    from middlestep.spillover import sensitivity_effects

    trial = simulate_trial(TrialScenario(n_officers=240, n_blocks=8), seed=5)
    control = sorted(trial.officers.loc[trial.officers["arm"] == "control", "officer_id"])
    high = frozenset(map(str, control[::2]))
    split = ExposureSplit("pre", 0.3, frozenset(map(str, control[1::2])), high)
    marts = SimpleNamespace(
        encounters=trial.encounters,
        officer_months=trial.officer_months,
        study_dates=StudyDates(None, None),
    )
    outcomes = ("personal_conversation", "force_reports")
    effects, notes = sensitivity_effects(marts, split, outcomes)
    assert notes == [] and [effect.outcome for effect in effects] == list(outcomes)
    kept = trial.encounters[~trial.encounters["officer_id"].astype(str).isin(high)]
    expected = ancova_itt_effect(kept, outcome="personal_conversation", kind="binary")
    assert effects[0].estimate == pytest.approx(expected.estimate)
    full = force_ancova_effect(trial.officer_months, outcome="force_reports")
    assert effects[1].n_units == full.n_units - len(high)
    for effect in effects:
        assert effect.extras["sensitivity"] == SENSITIVITY_LABEL
        assert effect.extras["n_control_officers_left_out"] == len(high)
        assert "not the randomized comparison" in effect.notes[0]

    pre_only = SimpleNamespace(
        encounters=trial.encounters[trial.encounters["study_period"] == "pre"],
        officer_months=trial.officer_months,
        study_dates=StudyDates(None, None),
    )
    effects, notes = sensitivity_effects(pre_only, split, outcomes)
    assert [effect.outcome for effect in effects] == ["force_reports"]
    assert len(notes) == 1 and "personal_conversation not estimated" in notes[0]
