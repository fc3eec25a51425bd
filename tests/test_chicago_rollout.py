"""Staggered roll-out effects through the warehouse: `middlestep rollout`, the Chicago gate and
report (the session's shared Chicago warehouse, tests/conftest.py), and the Fisher engine on
rare outcomes.

Published estimates: neither data/chicago_pj/README.md nor the estimator spec
(specs/staggered_rollout_estimators.md) lists Roth & Sant'Anna's published Chicago figures, so
no test compares with the paper. The warehouse route is compared with an independent one
instead: the panel built with pandas straight from the CSVs (benchmarks/staggered.py).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.staggered import staggered
from analysis.staggered.api import _slow_statistics, _statistics, _targets
from analysis.staggered.panel import prepare_panel
from middlestep import commands
from middlestep.cli import main
from middlestep.gate import (
    COMMUNICATION_EFFECTS,
    COMPLAINT_EFFECTS,
    FORCE_EFFECTS,
    ROLLOUT_EFFECTS,
    latest_gate,
)
from middlestep.warehouse import PROJECT_ROOT

JSON_FIELDS = {
    "estimate",
    "std_error",
    "std_error_neyman",
    "ci_low",
    "ci_high",
    "fisher_p_value",
    "n_permutations",
    "n_units",
}


def test_chicago_passes_the_gate_with_its_roster_errors_as_warnings(chicago_home):
    gate = latest_gate(chicago_home.warehouse)
    assert gate["passed"] is True, gate["failures"]
    warnings = "\n".join(gate["warnings"])
    # one roll-out officer aged 91 at training: a birth-year error, descriptive only
    assert "age_at_assignment" in warnings and "e.g. 91" in warnings
    # 13 officers separated before appointment, none in the roll-out
    assert "dim_officers.officers_outside_trials, column separated_on, appointed_on" in warnings
    assert "13 of 24980 rows unexpected" in warnings
    assert "1010 of 48053 rows of complaints rejected" in warnings
    supported = {
        row["analysis"]: row["supported"]
        for row in gate["analyses"]
        if row["department_id"] == "chicago"
    }
    assert supported[ROLLOUT_EFFECTS] and supported[FORCE_EFFECTS]
    assert supported[COMPLAINT_EFFECTS]
    assert not supported[COMMUNICATION_EFFECTS]


def test_rollout_command_prints_the_design_brief_fields(chicago_home, capsys):
    args = ["--home", str(chicago_home.root), "rollout", "--department", "chicago"]
    args += ["--outcome", "force", "--estimand", "simple", "--estimator", "efficient"]
    assert main([*args, "--sample", "main", "--permutations", "40", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert JSON_FIELDS <= set(result)
    assert result["n_units"] == 5537 and result["n_permutations"] == 40
    assert result["sample"] == "main" and result["gated"] is True
    assert result["ci_low"] < result["estimate"] < result["ci_high"] < 0
    assert 0 < result["std_error"] <= result["std_error_neyman"]
    assert 0 <= result["fisher_p_value"] <= 1

    # the same estimate from the panel built with pandas straight from the CSVs
    from benchmarks.staggered import chicago_main_sample

    panel = chicago_main_sample(PROJECT_ROOT / "data" / "chicago_pj")
    direct = staggered(panel, unit="unit", time="period", cohort="cohort", outcome="force")
    assert result["estimate"] == pytest.approx(direct.estimate, rel=1e-10)
    assert result["std_error"] == pytest.approx(direct.std_error, rel=1e-10)

    # plain text: estimate, both standard errors, interval, Fisher p-value, officers
    assert (
        main([*args, "--estimand", "eventstudy", "--event-time", "2", "--permutations", "0"]) == 0
    )
    text = capsys.readouterr().out
    for label in ("estimate", "std. error (Neyman)", "95% interval", "Fisher p-value", "6,110"):
        assert label in text
    assert "(main-itt sample" in text  # chicago's default sample: no retention conditioning
    # an event time without a not-yet-trained comparison is refused with a message
    assert main([*args, "--estimand", "eventstudy", "--event-time", "500"]) == 1
    assert "middlestep rollout" in capsys.readouterr().err


def test_chicago_report_shows_the_roll_out_not_the_trial(chicago_home):
    paths = commands.report(chicago_home, "chicago", permutations=20)
    results = json.loads(paths.json.read_text())
    assert results["gate"]["passed"] is True and results["is_publishable"] is True
    study = results["rollout"]
    # the default sample keeps the officers who left after assignment (tests/test_chicago_panel)
    assert study["sample"] == "main-itt" and study["n_units"] == 6110
    assert "no conditioning on retention" in study["sample_description"]
    estimates = {(e["outcome"], e["estimand"], e["estimator_key"]): e for e in study["estimates"]}
    assert set(estimates) == {
        (outcome, estimand, estimator)
        for outcome in ("complaints", "sustained", "force")
        for estimand in ("simple", "cohort", "calendar", "eventstudy")
        for estimator in ("efficient", "cs")
    }
    assert all(e["n_permutations"] == 20 for e in study["estimates"])
    event_studies = pd.DataFrame(study["event_studies"])
    assert len(event_studies) == 3 * 2 * 24
    assert set(event_studies["event_time"]) == set(range(24))
    assert set(study["balance"]) == {"complaints", "sustained", "force"}
    # headline effects: the simple estimand, both estimators, per officer-month
    assert {(e["outcome"], e["estimator_key"]) for e in results["effects"]} == {
        (outcome, estimator)
        for outcome in ("complaints", "sustained complaints", "force reports")
        for estimator in ("efficient", "cs")
    }
    html, markdown = paths.html.read_text(), paths.markdown.read_text()
    assert "UNGATED" not in html
    for outcome in ("complaints", "sustained", "force"):
        assert (paths.out_dir / f"event_study_{outcome}.png").read_bytes().startswith(b"\x89PNG")
        assert f"](event_study_{outcome}.png)" in markdown
    assert html.count("data:image/png;base64,") == 4  # forest plot + three event studies
    for title in ("Staggered roll-out effects", "Event studies", "Pre-trend balance checks"):
        assert f"## {title}" in markdown
    assert "efficient Fisher p" in markdown and "CS Fisher p" in markdown
    assert "no published figures" in markdown
    # no arms, no SSO: the trial's sections are left out, the gate says why
    assert "Balance of the randomized arms" not in markdown
    assert "## SSO reliability" not in markdown
    assert "Communication effects: not estimated" in markdown
    assert "per officer-month" in markdown


def test_fisher_engine_matches_direct_formulas_when_a_cohort_has_no_events():
    """A rare outcome leaves a small cohort without any event before training; the fast Fisher
    engine's refined SE must not invert the rounding noise of its moment formula there."""
    rng = np.random.default_rng(3)
    n, periods = 300, 10
    cohorts = rng.choice([4.0, 6.0, 8.0, np.inf], size=n, p=[0.02, 0.4, 0.4, 0.18])
    outcome = rng.poisson(0.02, size=(n, periods)).astype(float)
    outcome[cohorts == 4.0] = 0.0
    data = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n), periods),
            "t": np.tile(np.arange(1, periods + 1), n),
            "g": np.repeat(cohorts, periods),
            "y": outcome.ravel(),
        }
    )
    panel = prepare_panel(data, unit="unit", time="t", cohort="g", outcome="y")
    (target,), _ = _targets(
        panel, "simple", None, last_treated_only=False, use_did_a0=True, several=False
    )
    draws = np.stack([panel.labels] + [rng.permutation(panel.labels) for _ in range(20)])
    fast = _statistics(panel, target, None)(draws)
    slow = _slow_statistics(panel, target, None, draws)
    for fast_values, slow_values in zip(fast, slow, strict=True):
        np.testing.assert_allclose(fast_values, slow_values, rtol=1e-9, atol=1e-15)
