"""The report section that checks the primary estimates' inference two ways the design allows:
the Fisher randomization p-value of each estimate (re-randomized within the actual blocks, undefined
draws counted as extreme) and the block-clustered wild cluster bootstrap row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from analysis.results import Effect
from middlestep.report.numbers import finite, num, outcome_label
from middlestep.report.sections import Section

TITLE = "Randomization and block-clustered checks of the primary estimates"


def design_inference_sections(
    primary_effects: Sequence[Effect],
    robustness_effects: Sequence[Effect],
    block_cluster_tests: Sequence[Any],
) -> list[Section]:
    """One section, or none when no primary estimate has either check."""
    effects = [*primary_effects, *robustness_effects]
    with_fisher = [effect for effect in effects if "fisher_p_value" in effect.extras]
    if not with_fisher and not block_cluster_tests:
        return []
    paragraphs = []
    if with_fisher:
        paragraphs.append(fisher_sentence(with_fisher))
    if block_cluster_tests:
        paragraphs.append(block_cluster_sentence(block_cluster_tests))
    return [
        Section(
            TITLE,
            paragraphs=tuple(paragraphs),
            tables=(("", inference_frame(effects, block_cluster_tests)),),
        )
    ]


def fisher_sentence(effects: Sequence[Effect]) -> str:
    """What the Fisher p-values are, how many draws were undefined, and where they disagree."""
    n = effects[0].extras.get("n_permutations")
    undefined = sum(int(effect.extras.get("n_permutations_undefined") or 0) for effect in effects)
    disagree = [
        outcome_label(effect.outcome)
        for effect in effects
        if finite(effect.p_value)
        and finite(effect.extras["fisher_p_value"])
        and (effect.p_value < 0.05) != (effect.extras["fisher_p_value"] < 0.05)
    ]
    line = (
        f"Fisher p: the arms re-drawn {n:,} times within the actual randomization blocks; the "
        "share of re-draws whose covariance-adjusted statistic is at least as far from no "
        "effect as the observed one. It rests on the randomization alone (no model). A re-draw "
        "whose statistic cannot be computed (an arm without events) counts as extreme, so the "
        f"p-value can only err on the large side; {undefined:,} such re-draws over "
        f"{len(effects)} estimates."
    )
    if disagree:
        return line + (
            " The model-based and Fisher p-values disagree about significance at 5% for: "
            + ", ".join(disagree)
            + "."
        )
    return line + " Both agree about which estimates are significant at 5%."


def block_cluster_sentence(tests: Sequence[Any]) -> str:
    n_clusters = sorted({test.n_clusters for test in tests})
    blocks = f"{n_clusters[0]}" if len(n_clusters) == 1 else f"{n_clusters[0]}-{n_clusters[-1]}"
    below = [
        outcome_label(test.outcome)
        for test in tests
        if finite(test.p_value) and test.p_value < 0.05
    ]
    return (
        "Block-clustered row: the linear version of each ANCOVA (binary items as a difference in "
        "probability, 0.10 = 10 points; ratings in pre-period SD units; counts as a difference "
        "in counts, per officer-month for force and complaints) with standard errors clustered "
        "by randomization "
        f"block ({blocks} blocks) instead of officer, in case officers who work together "
        "influence each other; with so few clusters its p-value comes from the wild cluster "
        f"bootstrap with the null imposed ({tests[0].n_draws:,} draws, Webb weights). "
        + (
            "Below 5% on it: " + ", ".join(below) + "."
            if below
            else "No estimate is below 5% on it."
        )
    )


def inference_frame(effects: Sequence[Effect], tests: Sequence[Any]) -> pd.DataFrame:
    """Per estimate: the primary p-value, the Fisher p-value with its undefined draws, and the
    block-clustered linear estimate with its wild bootstrap p-value."""
    by_outcome = {test.outcome: test for test in tests}
    rows = []
    for effect in effects:
        per_call = "per calls_attended" in effect.estimator
        test = None if per_call else by_outcome.get(effect.outcome)
        rows.append(
            {
                "outcome": effect.outcome + (" (per call)" if per_call else ""),
                "scale": effect.scale,
                "estimate": num(effect.estimate),
                "p_value": num(effect.p_value),
                "fisher_p_value": num(effect.extras.get("fisher_p_value", float("nan"))),
                "fisher_undefined_draws": effect.extras.get("n_permutations_undefined"),
                "block_linear_estimate": num(test.estimate) if test else None,
                "block_std_error": num(test.std_error) if test else None,
                "block_wild_bootstrap_p": num(test.p_value) if test else None,
                "n_blocks": test.n_clusters if test else None,
            }
        )
    return pd.DataFrame(rows)
