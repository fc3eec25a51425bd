"""The report sections of the design's own estimators (the analysis plan's primary): the
post-period ANCOVA estimates with block fixed effects, the randomization balance test, the flow
of officers and clips, and the arm x period means of the primary SSO items."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from middlestep.report.context import ReportContext
from middlestep.report.design_inference import design_inference_sections
from middlestep.report.numbers import effects_frame, num, p_value_text
from middlestep.report.plots import consort_flow_png
from middlestep.report.sections import Plot, Section

CONSORT_FILE = "consort_flow.png"

PRIMARY_METHOD = (
    "Effects of assignment to training (intent-to-treat), estimated as the analysis plan "
    "specifies: the arms compared after the immediate arm's training, with block fixed effects "
    "(officers were randomized within blocks) and the officer's pre-period mean as covariate "
    "(an indicator where an officer has no pre-period data), standard errors clustered by "
    "officer (CR2). Binary items: logit average marginal effect in percentage points; counts: "
    "Poisson rate ratio; ratings: OLS in pre-period SD units; force reports and complaints: "
    "Poisson per officer-month with block and calendar-month effects and the officer's "
    "pre-period rate (the per-call rows are the secondary scale: calls attended may themselves "
    "respond to assignment). The section 'Difference-in-differences' is a robustness check of "
    "the same estimand."
)


COMPLIER_METHOD = (
    "The effect of completing the training among the officers who complete it when assigned "
    "(compliers): their trained rate over their own untreated rate (instrumental-variable "
    "decomposition with assignment as the instrument, officers weighted within blocks), with an "
    "officer bootstrap that re-estimates the untreated base. It rests on assignment changing "
    "force only through training; the intent-to-treat estimates above rest on randomization "
    "alone."
)


def design_sections(context: ReportContext) -> list[Section]:
    """The sections, each left out when its estimate is absent."""
    sections = []
    if context.primary_effects:
        frame = effects_frame([*context.primary_effects, *context.robustness_effects])
        sections.append(
            Section(
                "Primary estimates (pre-specified: post-period comparison within blocks)",
                paragraphs=(PRIMARY_METHOD,),
                tables=(("", frame),),
            )
        )
    sections += design_inference_sections(
        context.primary_effects, context.robustness_effects, context.block_cluster_tests
    )
    if context.complier_effects:
        sections.append(
            Section(
                "Complier effects of completing training (not intent-to-treat)",
                paragraphs=(COMPLIER_METHOD,),
                tables=(("", effects_frame(context.complier_effects)),),
            )
        )
    if context.balance_test is not None:
        sections.append(
            Section(
                "Joint balance of the arms", paragraphs=(balance_sentence(context.balance_test),)
            )
        )
    if context.consort is not None:
        png = consort_flow_png(context.consort)
        sections.append(
            Section(
                "Flow of officers and clips",
                paragraphs=(
                    "Officers randomized, trained, separated and coded, by arm (a CONSORT-style "
                    "flow): who the estimates speak of.",
                ),
                tables=(("", context.consort),),
                plots=(Plot(CONSORT_FILE, png, "Flow of officers and clips by arm"),)
                if png
                else (),
            )
        )
    means = _primary_cell_means(context.cell_means, context.plan)
    if means is not None and len(means):
        sections.append(
            Section(
                "Arm x period means of the primary communication outcomes",
                paragraphs=("The raw means under every comparison, with clips and officers.",),
                tables=(("", means),),
            )
        )
    return sections


def balance_sentence(test: Any) -> str:
    record = test.to_dict() if hasattr(test, "to_dict") else dict(test)
    return (
        f"Taken together, the differences between the arms in the {len(record['covariates'])} "
        f"baseline covariates are of a size re-randomization within the blocks often produces "
        f"(a test of chance imbalance, not proof of balance): stratified "
        f"Mahalanobis statistic {num(record['statistic'])} on {record['df']} degrees of freedom, "
        f"randomization p {p_value_text(record['p_value'], record['n_permutations'])} over "
        f"{record['n_permutations']:,} "
        f"re-randomizations within {record['n_blocks']} blocks (chi-square approximation "
        f"p {p_value_text(record['p_value_chi2'])})."
        if record["p_value"] >= 0.05
        else f"The baseline covariates differ between the arms more than re-randomization "
        f"within the blocks would make them: statistic {num(record['statistic'])} on "
        f"{record['df']} degrees of freedom, randomization p "
        f"{p_value_text(record['p_value'], record['n_permutations'])} over "
        f"{record['n_permutations']:,} re-randomizations; the ANCOVA's covariates adjust for it."
    )


def _primary_cell_means(
    means: pd.DataFrame | None, plan: Mapping[str, Any] | None
) -> pd.DataFrame | None:
    if means is None or plan is None:
        return means
    primary = next(
        (f["outcomes"] for f in plan.get("families", []) if f["role"] == "confirmatory"), []
    )
    return means[means["outcome"].isin(primary)]
