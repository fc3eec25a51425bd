"""Many outcomes: Holm and Benjamini-Hochberg adjustments and the Anderson summary index."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.communication import itt_effects
from analysis.multiplicity import (
    adjusted_p_values,
    summary_index,
    summary_index_effect,
)
from analysis.results import Effect
from analysis.simulate import DEFAULT_ITEMS, ItemSpec, TrialScenario, simulate_trial


def _effect(name: str, p_value: float) -> Effect:
    return Effect(name, "test", 0.1, 0.05, 0.0, 0.2, p_value, 10)


def test_holm_and_bh_match_their_definitions():
    p = [0.01, 0.04, 0.03, 0.20]
    table = adjusted_p_values([_effect(f"item{i}", v) for i, v in enumerate(p)])
    # Holm: sorted 0.01, 0.03, 0.04, 0.2 times 4, 3, 2, 1, running maximum
    assert table["p_holm"].tolist() == pytest.approx([0.04, 0.09, 0.09, 0.2])
    # BH: p * m / rank, running minimum from the top
    # BH: sorted p x 4 / rank = 0.04, 0.06, 0.0533, 0.2, running minimum from the largest
    assert table["p_bh"].tolist() == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert table["rejected_holm"].tolist() == [True, False, False, False]
    assert table["rejected_bh"].tolist() == [True, False, False, False]


def test_index_weights_sum_to_one_and_downweight_correlated_items():
    rng = np.random.default_rng(0)
    n = 4000
    common = rng.normal(size=n)
    import pandas as pd

    frame = pd.DataFrame(
        {
            "a": common + 0.3 * rng.normal(size=n),
            "b": common + 0.3 * rng.normal(size=n),  # a and b nearly duplicate each other
            "c": rng.normal(size=n),
            "arm": np.where(np.arange(n) % 2 == 0, "treatment", "control"),
            "study_period": np.where(np.arange(n) % 4 < 2, "pre", "post"),
        }
    )
    index = summary_index(frame, ["a", "b", "c"], signs={"a": 1, "b": 1, "c": 1})
    assert sum(index.weights.values()) == pytest.approx(1.0)
    assert index.weights["c"] > index.weights["a"] + 0.1
    control_pre = (frame["arm"] == "control") & (frame["study_period"] == "pre")
    assert index.values[control_pre].std() == pytest.approx(1.0, abs=1e-9)


def test_index_effect_is_positive_when_items_move_towards_de_escalation_and_null_otherwise():
    trial = simulate_trial(TrialScenario(n_officers=1000, clips_per_officer_period=3.0), seed=2)
    items = list(DEFAULT_ITEMS)
    effect = summary_index_effect(trial.encounters, items)
    assert effect.estimate > 0 and effect.p_value < 0.05
    null_items = {
        name: ItemSpec(spec.kind, spec.baseline, 1.0 if spec.kind == "count" else 0.0, spec.trend)
        for name, spec in DEFAULT_ITEMS.items()
    }
    null = simulate_trial(
        TrialScenario(n_officers=1000, clips_per_officer_period=3.0, items=null_items), seed=2
    )
    effect_null = summary_index_effect(null.encounters, items)
    assert effect_null.ci_low < 0 < effect_null.ci_high
    # the index has more power than the average item: its z exceeds most items' |z|
    z = [
        abs(e.estimate - (1 if e.scale == "rate_ratio" else 0)) / e.std_error
        for e in itt_effects(trial.encounters, {k: v.kind for k, v in DEFAULT_ITEMS.items()})
    ]
    assert effect.estimate / effect.std_error > np.median(z)
