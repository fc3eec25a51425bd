"""Subgroup effects: planted heterogeneity by the civilian's mental illness is found, and no
difference is claimed where none was planted."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.heterogeneity import encounter_subgroups, subgroup_effects
from benchmarks.planted import cached_department
from middlestep.report.plots import subgroup_plot_png


def test_planted_heterogeneity_by_mental_illness_is_detected():
    department = cached_department("planted", seed=5)
    frame = encounter_subgroups(department["encounters"])
    result = subgroup_effects(
        frame, outcome="personal_conversation", kind="binary", subgroup="civilian_mental_illness"
    )
    effects = {effect.extras["level"]: effect for effect in result.effects}
    difference = effects["yes"].estimate - effects["no"].estimate
    # planted: +30 points more with mental illness, diluted by compliance x timing (0.62),
    # coder error (x 0.9) and misclassified mental illness
    assert 0.08 < difference < 0.35
    assert result.interaction_p_value < 0.05 and result.interaction_df == 1
    assert result.to_dict()["effects"][0]["level"] in ("no", "yes")


def test_no_interaction_where_no_heterogeneity_was_planted():
    department = cached_department("planted", seed=5)
    frame = encounter_subgroups(department["encounters"])
    result = subgroup_effects(
        frame, outcome="personal_conversation", kind="binary", subgroup="civilian_intoxicated"
    )
    assert result.interaction_p_value > 0.05


def test_subgroups_are_built_from_call_types_and_civilian_codes():
    encounters = pd.DataFrame(
        {
            "call_type": ["domestic", "traffic_stop", "mental_health", "bank_robbery"],
            "civilian_resistance": [1.0, 2.5, 1.5, None],
            "civilian_intoxicated": [0, 1, 0, 0],
            "civilian_mental_illness": [0, 0, 1, 0],
        }
    )
    groups = {"domestic": "domestic", "traffic stop": "traffic", "mental health": "mental_health"}
    frame = encounter_subgroups(encounters, groups)
    assert frame["call_type_group"].tolist() == ["domestic", "traffic", "mental_health", "other"]
    assert frame["civilian_resistance_level"].tolist() == ["low", "high", "low", None]
    assert frame["civilian_mental_illness_level"].tolist() == ["no", "no", "yes", "no"]


def test_plot_is_a_png():
    department = cached_department("planted", seed=5)
    frame = encounter_subgroups(department["encounters"])
    result = subgroup_effects(
        frame, outcome="personal_conversation", kind="binary", subgroup="civilian_resistance"
    )
    assert subgroup_plot_png([result]).startswith(b"\x89PNG")
    assert pytest.approx(sum(e.n_obs for e in result.effects)) == len(
        frame[frame["study_period"].isin(["pre", "post"])]
    )
