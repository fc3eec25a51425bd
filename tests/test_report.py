"""The report: three files, the plot embedded, the gate status and every effect field kept."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace

import pandas as pd
import pytest

from analysis.results import Effect
from middlestep.provenance import code_version
from middlestep.report import (
    UNGATED_LABEL,
    ReportContext,
    describe_effect,
    forest_plot_png,
    write_report,
)

PASSED_GATE = {
    "passed": True,
    "build_id": "build-42",
    "checked_at": "2024-04-02T03:10:00+00:00",
    "n_expectations": 97,
    "n_failed": 0,
    "failures": [],
    "warnings": [
        "rpt_sso_reliability, column krippendorff_alpha: expect_column_values_to_be_between("
        "column=krippendorff_alpha, min_value=0.667) failed: 1 of 3 rows unexpected, e.g. 0.5"
    ],
    "analyses": [
        {"department_id": "synthetic", "analysis": "communication effects", "supported": True},
        {
            "department_id": "synthetic",
            "analysis": "complaint effects",
            "supported": False,
            "reason": "no complaints delivered",
        },
    ],
}


def effects() -> list[Effect]:
    return [
        Effect(
            outcome="personal_conversation",
            estimator="itt_difference_in_means",
            estimate=0.12,
            std_error=0.04,
            ci_low=0.04,
            ci_high=0.20,
            p_value=0.003,
            n_units=120,
            n_obs=800,
            scale="difference",
            extras={"std_error_neyman": 0.041, "fisher_p_value": 0.004, "n_permutations": 2000},
            notes=("clustered by officer",),
        ),
        Effect(
            outcome="respect",
            estimator="itt_standardized",
            estimate=0.05,
            std_error=0.06,
            ci_low=-0.07,
            ci_high=0.17,
            p_value=0.41,
            n_units=120,
            scale="sd",
        ),
        Effect(
            outcome="force_reports",
            estimator="poisson_rate_ratio",
            estimate=0.93,
            std_error=0.08,
            ci_low=0.78,
            ci_high=1.11,
            p_value=0.42,
            n_units=240,
            n_obs=8640,
            scale="rate_ratio",
        ),
        Effect(
            outcome="arrest",
            estimator="logit_odds_ratio",
            estimate=0.70,
            std_error=0.10,
            ci_low=0.55,
            ci_high=0.89,
            p_value=0.004,
            n_units=120,
            scale="odds_ratio",
        ),
    ]


def context(**changes) -> ReportContext:
    base = ReportContext(
        department_id="synthetic",
        title="De-escalation training: synthetic department",
        effects=effects(),
        balance=pd.DataFrame(
            {
                "covariate": ["tenure_years", "age", "female"],
                "mean_treatment": [8.1, 36.2, 0.21],
                "mean_control": [8.4, 35.9, 0.19],
                "smd": [-0.04, 0.03, 0.05],
            }
        ),
        gate=PASSED_GATE,
        reliability=pd.DataFrame(
            {
                "department_id": ["synthetic"] * 2,
                "item": ["personal_conversation", "empathy"],
                "item_kind": ["binary", "rating"],
                "n_double_coded": [80, 80],
                "percent_agreement": [91.0, 70.0],
                "krippendorff_alpha": [0.82, 0.55],
            }
        ),
        rejects=pd.DataFrame(
            {
                "table": ["force_reports"],
                "file": ["uof_2024.csv"],
                "reason": ["unknown code"],
                "rows": [3],
            }
        ),
        provenance={
            "build_id": "build-42",
            "code_version": "0123abcd",
            "seed": 7,
            "scenario": "default",
            "input_files": [
                {"file": "uof_2024.csv", "sha256": "ab" * 32, "rows_read": 403, "rows_loaded": 400}
            ],
            "models": {"marts.fct_encounters": "v3", "marts.dim_officers": "v1"},
        },
        is_gated=True,
        truth={"personal_conversation": {"planted": 0.10, "estimand": 0.11}, "force_reports": 1.0},
    )
    return replace(base, **changes)


@pytest.fixture(scope="module")
def gated_report(tmp_path_factory):
    return write_report(tmp_path_factory.mktemp("gated"), context())


def test_writes_three_files_and_the_plot(gated_report):
    for path in (gated_report.html, gated_report.markdown, gated_report.json):
        assert path.is_file() and path.stat().st_size > 0
    assert gated_report.forest_plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_embeds_the_plot_and_shows_the_gate_status(gated_report):
    html = gated_report.html.read_text()
    match = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert match is not None
    assert base64.b64decode(match.group(1)) == gated_report.forest_plot.read_bytes()
    assert "PASSED" in html and "build-42" in html
    assert "complaint effects" in html and "no complaints delivered" in html
    assert UNGATED_LABEL not in html
    assert "http://" not in html and "https://" not in html  # self-contained


def test_summary_says_what_was_found_in_plain_words(gated_report):
    html = gated_report.html.read_text()
    assert (
        "Assignment to training (intent-to-treat) increased personal conversation by 0.12 "
        "points (itt_difference_in_means: 95% CI 0.04 to 0.2); Holm-adjusted p 0.012 over the "
        "all outcomes." in html
    )
    assert (
        "Assignment to training (intent-to-treat): no detectable change in force reports; the "
        "interval rules out reductions larger than 22% and increases larger than 11% "
        "(poisson_rate_ratio: rate ratio 0.93, 95% CI 0.78 to 1.11)." in html
    )
    assert "Assignment to training (intent-to-treat) reduced the odds of arrest by 30%" in html
    assert "Complaint effects: not estimated, no complaints delivered." in html
    assert "empathy (alpha 0.55)" in html


def test_json_round_trips_every_effect_field(gated_report):
    document = json.loads(gated_report.json.read_text())
    assert document["status"] == "GATED: quality gate passed"
    assert document["is_gated"] is True
    assert document["effects"] == [effect.to_dict() for effect in effects()]
    first = document["effects"][0]
    assert (first["estimate"], first["ci_low"], first["ci_high"], first["n_units"]) == (
        0.12,
        0.04,
        0.20,
        120,
    )
    assert first["fisher_p_value"] == 0.004 and first["notes"] == ["clustered by officer"]
    assert document["gate"]["build_id"] == "build-42"
    assert document["rejects"] == [
        {"table": "force_reports", "file": "uof_2024.csv", "reason": "unknown code", "rows": 3}
    ]
    assert document["provenance"]["input_files"][0]["sha256"] == "ab" * 32
    assert "generated_at" in document["provenance"]


def test_markdown_has_the_tables_and_links_the_plot(gated_report):
    markdown = gated_report.markdown.read_text()
    assert "![Forest plot" in markdown and "(forest_plot.png)" in markdown
    assert "| covariate | mean treatment | mean control | smd |" in markdown
    assert "| force_reports | uof_2024.csv | unknown code | 3 |" in markdown
    assert UNGATED_LABEL not in markdown


def test_ungated_context_is_marked_ungated_in_all_three_outputs(tmp_path):
    paths = write_report(tmp_path, context(is_gated=False))

    assert paths.html.read_text().count(UNGATED_LABEL) >= 3  # title, top and bottom banners
    assert paths.markdown.read_text().startswith(f"> **{UNGATED_LABEL}**")
    document = json.loads(paths.json.read_text())
    assert document["status"] == UNGATED_LABEL
    assert document["is_gated"] is False
    assert document["ungated_reason"] == "the estimates were computed without the quality gate"


def test_failed_or_missing_gate_is_never_reported_as_gated(tmp_path):
    failed = write_report(tmp_path / "failed", context(gate={**PASSED_GATE, "passed": False}))
    missing = write_report(tmp_path / "missing", context(gate=None))

    assert json.loads(failed.json.read_text())["status"] == UNGATED_LABEL
    assert "FAILED" in failed.html.read_text()
    assert json.loads(missing.json.read_text())["status"] == UNGATED_LABEL
    assert "NO GATE RESULT" in missing.markdown.read_text()


def test_report_without_effects_has_no_plot(tmp_path):
    paths = write_report(tmp_path, context(effects=(), truth=None))

    assert paths.forest_plot is None
    assert "No effects were estimated." in paths.html.read_text()
    assert json.loads(paths.json.read_text())["effects"] == []


def test_forest_plot_skips_ratios_that_cannot_sit_on_a_log_axis():
    broken = Effect(
        "force_reports", "poisson", float("nan"), 0.1, 0.0, 2.0, 0.5, 10, scale="rate_ratio"
    )
    assert forest_plot_png([broken]) is not None
    assert describe_effect(broken) == (
        "The effect on force reports could not be estimated (poisson)."
    )


def test_truth_in_the_synthetic_generators_format_is_shown_beside_the_estimate(tmp_path):
    truth = {
        "seed": 7,
        "outcomes": {"force_reports": {"planted_effect": 0.8, "estimand": 0.86}},
    }
    paths = write_report(tmp_path, context(truth=truth))

    markdown = paths.markdown.read_text()
    assert "truth estimand | truth planted |" in markdown
    assert "| force_reports | poisson_rate_ratio | rate ratio | 0.93 |" in markdown
    assert "| 240 | 8640 | 0.86 | 0.8 |" in markdown
    assert json.loads(paths.json.read_text())["truth"]["outcomes"]["force_reports"] == {
        "planted_effect": 0.8,
        "estimand": 0.86,
    }


def test_code_version_reads_the_commit_without_running_git(tmp_path):
    commit = "0123456789abcdef0123456789abcdef01234567"
    (tmp_path / ".git" / "refs" / "heads").mkdir(parents=True)
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / ".git" / "refs" / "heads" / "main").write_text(commit + "\n")

    assert code_version(tmp_path) == commit
    assert code_version(tmp_path / "elsewhere").startswith("middlestep ")


def test_the_gate_line_says_how_many_checks_were_kept_on_unchanged_data(tmp_path):
    carried = write_report(tmp_path, context(gate={**PASSED_GATE, "n_carried": 62}))
    for text in (carried.html.read_text(), carried.markdown.read_text()):
        assert "(62 kept from the last passed gate: their data did not change)" in text
    assert (
        "kept from the last passed gate"
        not in write_report(tmp_path / "all", context()).markdown.read_text()
    )


def _effect(outcome: str, p_value: float, **fields) -> Effect:
    values = dict(estimate=0.8, std_error=0.1, ci_low=0.66, ci_high=0.97, n_units=200)
    values.update(fields)
    return Effect(
        outcome=outcome, estimator="poisson", p_value=p_value, scale="rate_ratio", **values
    )


def _plan_document() -> dict:
    """The synthetic trial's plan as the report gets it, with one deviation."""
    from middlestep.plan import load_plan, plan_path, plan_status

    document = plan_status(load_plan(plan_path("synthetic")), [], outcomes_seen_now=0).to_dict()
    document["deviations"] = ["families.primary.outcomes: registered [a], used [b]"]
    return document


PLAN = _plan_document()


def test_a_finding_needs_its_family_adjusted_p_and_exploratory_is_never_one():
    from middlestep.report.summary import summary_sentences

    effects = [
        _effect("force_reports", 0.01),  # Holm over 2: 0.02, a finding
        _effect("empathy", 0.04),  # Holm: 0.04 * 1 after the first... max(0.02, 0.04) = 0.04
        _effect("arrest", 0.001),  # exploratory: never a finding, however small its p
    ]
    summary = summary_sentences(context(effects=effects, plan=PLAN))
    assert [line.split(" by ")[0] for line in summary["found"]] == [
        "Assignment to training (intent-to-treat) reduced force reports",
        "Assignment to training (intent-to-treat) reduced empathy",
    ]
    assert "Holm-adjusted p 0.02 over the primary family" in summary["found"][0]
    (arrest,) = summary["not_findings"]
    assert "arrest" in arrest and arrest.endswith("unadjusted p 0.001, exploratory outcome.")
    assert any("Deviation from the registered analysis plan" in c for c in summary["caveats"])


def test_nominal_p_below_5_percent_is_not_a_finding_once_adjusted():
    from middlestep.report.summary import summary_sentences

    effects = [_effect(name, p) for name, p in [("a", 0.04), ("b", 0.5), ("c", 0.6)]]
    summary = summary_sentences(context(effects=effects, plan=None))
    assert summary["found"] == []
    assert "not significant after adjustment (Holm-adjusted p 0.12" in summary["not_findings"][0]
    assert any("No pre-registered analysis plan" in c for c in summary["caveats"])


def test_probability_differences_read_as_percentage_points_and_nulls_say_what_they_exclude():
    binary = Effect(
        outcome="personal_conversation",
        estimator="ITT diff-in-diff, logit (probability scale)",
        estimate=0.13,
        std_error=0.07,
        ci_low=-0.0155,
        ci_high=0.275,
        p_value=0.08,
        n_units=241,
        scale="difference",
    )
    assert describe_effect(binary) == (
        "Assignment to training (intent-to-treat): no detectable change in personal "
        "conversation; the interval rules out decreases larger than 1.55 percentage points and "
        "increases larger than 27.5 percentage points (ITT diff-in-diff, logit (probability "
        "scale): difference +13 percentage points, 95% CI -1.55 to 27.5)."
    )


def test_results_json_and_html_carry_the_plan(tmp_path):
    paths = write_report(tmp_path, context(plan=PLAN))
    document = json.loads(paths.json.read_text())
    assert document["plan"]["sha256"] == PLAN["sha256"] and len(PLAN["sha256"]) == 64
    html = paths.html.read_text()
    assert "Analysis plan" in html and "Deviations from the registered plan" in html
    assert "<strong>primary</strong> (confirmatory; multiplicity: holm)" in html


def test_balance_sentence_reports_the_randomization_test_without_claiming_balance():
    from middlestep.report.design import balance_sentence

    record = {
        "covariates": ["age"] * 13,
        "statistic": 15.0,
        "df": 11,
        "p_value": 0.17,
        "n_permutations": 2000,
        "n_blocks": 12,
        "p_value_chi2": 0.18,
    }
    sentence = balance_sentence(record)
    assert "not proof of balance" in sentence
    assert "randomization p 0.17 over 2,000 re-randomizations within 12 blocks" in sentence
    imbalanced = balance_sentence({**record, "p_value": 0.01})
    assert imbalanced.startswith("The baseline covariates differ between the arms more than")
