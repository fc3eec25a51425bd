"""The report's "open the black box" sections, written for a department reader.

`open_box_sections(...)` turns the results of `analysis.open_box` (power, randomization
inference, many outcomes, compliance, mediation, reliability, subgroups) into sections that both
templates render the same way: a title, plain-language paragraphs, tables and plots. Every
number in them is also in results.json.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.results import Effect
from middlestep.report.numbers import p_value_text, signed, significant
from middlestep.report.plots import power_curve_png, subgroup_plot_png


@dataclass(frozen=True)
class Plot:
    file_name: str
    png: bytes
    alt: str


@dataclass(frozen=True)
class Section:
    title: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[tuple[str, pd.DataFrame], ...] = ()
    plots: tuple[Plot, ...] = ()
    notes: tuple[str, ...] = field(default=())


def _pct(value: float) -> str:
    return f"{value:.0%}" if _finite(value) else "n/a"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _num(value: Any, digits: int = 3) -> str:
    return significant(value, digits)


def _ci(low: float, high: float) -> str:
    return f"95% CI {_num(low)} to {_num(high)}"


def power_sentences(box, effects: Sequence[Effect] = ()) -> list[str]:
    """What the trial could and could not have detected about force."""
    result, table = box.power, box.sample_size
    if result is None:
        return []
    force = next((e for e in effects if e.outcome == result.outcome), None)
    force_significant = force is not None and _finite(force.p_value) and force.p_value < 0.05
    lines = [
        f"Before training the trial's officers had {result.baseline_rate:.3f} force reports per "
        f"officer-month ({_num(result.baseline_rate * 1000)} per 1,000 officer-months). With "
        f"{result.n_officers} officers observed {result.n_months} months before and "
        f"{result.n_months} months after training, the smallest reduction in force the trial "
        f"could detect with 80% power (5% two-sided test) is "
        f"{_pct(1 - result.mde_rate_ratio)} (minimum detectable rate ratio "
        f"{result.mde_rate_ratio:.2f}, by simulation through the primary estimator: the Poisson "
        f"ANCOVA of force per officer-month). The difference-in-differences kept as a "
        f"robustness check detects a rate ratio of {result.mde_rate_ratio_did:.2f} "
        f"({result.mde_rate_ratio_analytic:.2f} by its analytic approximation)."
    ]
    louisville = f"{_pct(1 - result.rate_ratio)} reduction"
    if result.power >= result.target_power:
        verdict = "so it could have seen an effect of that size"
    elif result.power >= 0.5:
        verdict = (
            "so it would have missed an effect of that size in about "
            + _pct(1 - result.power)
            + " of trials"
        )
    elif force_significant:
        verdict = (
            "so it could not reliably have seen an effect of that size; a significant estimate "
            "from a trial this small is likely to exaggerate the true effect (or to be a chance "
            "finding), so read the force estimate with caution"
        )
    else:
        verdict = "so it could not reliably have seen an effect of that size: a null result on "
        verdict += "force is not evidence that training has no effect on force"
    lines.append(
        f"Its power to detect a {louisville} (rate ratio {result.rate_ratio:.2f}"
        + (
            ", the size reported for Louisville's ICAT training"
            if result.rate_ratio == 0.72
            else ""
        )
        + f") was {_pct(result.power)} (primary estimator, simulated, Monte Carlo error "
        f"{_pct(result.power_mc_error)}; difference-in-differences {_pct(result.power_did)}), "
        f"{verdict}."
    )
    if table is not None and not table.empty:
        row = table.iloc[0]
        if row["officers_needed"] > 0:
            lines.append(
                f"By the difference-in-differences' analytic approximation, for 80% power at "
                f"rate ratio {row['rate_ratio']:.2f} a trial would need about "
                f"{int(row['officers_needed']):,} officers followed "
                f"{int(row['at_months_per_period'])} months before and after, or its "
                f"{int(row['with_officers'])} officers followed "
                f"{int(row['months_needed'])} months before and after."
            )
    lines.append(
        "These are intent-to-treat effects: officers who never finish the training, and the weeks "
        "before each officer's class, dilute an effect among trained officers towards no effect."
    )
    return lines


def randomization_sentences(effects: Sequence[Effect]) -> list[str]:
    with_fisher = [e for e in effects if "fisher_p_value" in e.extras]
    if not with_fisher:
        return []
    n = with_fisher[0].extras.get("n_permutations")
    disagree = [
        e.outcome.replace("_", " ")
        for e in with_fisher
        if _finite(e.p_value) and (e.p_value < 0.05) != (e.extras["fisher_p_value"] < 0.05)
    ]
    line = (
        f"Randomization inference re-drew the arms within the actual randomization blocks {n} "
        "times: the Fisher p-value is the share of re-draws with an effect at least as large as "
        "the observed one, and needs no model assumptions."
    )
    if disagree:
        line += " The model-based and Fisher p-values disagree about significance at 5% for: "
        line += ", ".join(disagree) + "."
    else:
        line += " It agrees with the model-based p-values about which effects are significant."
    return [line]


def multiplicity_sentences(box) -> list[str]:
    frame = box.multiple_outcomes
    lines = []
    if frame is not None and not frame.empty:
        raw = frame.loc[frame["p_value"] < 0.05, "outcome"].tolist()
        holm = frame.loc[frame["rejected_holm"].astype(bool), "outcome"].tolist()
        bh = frame.loc[frame["rejected_bh"].astype(bool), "outcome"].tolist()

        def names(values):
            return ", ".join(v.replace("_", " ") for v in values) or "none"

        lines.append(
            f"Difference-in-differences robustness check, its {len(frame)} communication items "
            "taken as one family (the plan's families and their adjusted p-values are those of "
            "the primary estimates). At p < 0.05 without correction: "
            f"{names(raw)}. After Holm's correction (family-wise error 5%): {names(holm)}. "
            f"After Benjamini-Hochberg (false discovery rate 5%): {names(bh)}."
        )
    index = box.summary_index
    if index is not None:
        verdict = "changed" if index.p_value < 0.05 else "did not detectably change"
        lines.append(
            f"The pre-specified summary index of de-escalation (Anderson 2008: every item signed "
            f"so that higher means more de-escalation, standardized, weighted by the inverse of "
            f"their correlations) {verdict}: {index.estimate:+.2f} standard deviations "
            f"({_ci(index.ci_low, index.ci_high)}, p = {p_value_text(index.p_value)})."
        )
    return lines


def compliance_sentences(box, effects: Sequence[Effect]) -> list[str]:
    itt = {e.outcome: e for e in effects}
    lines = []
    for effect in box.complier_effects:
        label = effect.outcome.replace("_", " ")
        first = effect.extras.get("first_stage", math.nan)
        # a difference in proportions reads in percentage points
        factor = 100.0 if effect.scale == "difference" else 1.0
        unit = {
            "difference": "percentage points",
            "sd": "standard deviations",
            "mean_difference": "per encounter",
        }.get(effect.scale, "")
        if effect.scale == "rate_ratio":
            value = f"rate ratio {effect.estimate:.2f} ({_ci(effect.ci_low, effect.ci_high)})"
            itt_value = (
                f"; for everyone assigned (ITT) rate ratio {itt[effect.outcome].estimate:.2f}"
                if effect.outcome in itt
                else ""
            )
        else:
            low, high = factor * effect.ci_low, factor * effect.ci_high
            value = f"{signed(factor * effect.estimate)} {unit} ({_ci(low, high)})"
            itt_linear = effect.extras.get("itt_linear", math.nan)
            itt_value = (
                f"; for everyone assigned, the same linear model's intent-to-treat effect (its "
                f"reduced form) is {signed(factor * itt_linear)} {unit}"
                if _finite(itt_linear)
                else ""
            )
        lines.append(
            f"{label[:1].upper()}{label[1:]} ({effect.estimator}): among officers who took the "
            f"training, {value}"
            f"{itt_value}. Assignment raised the share trained by "
            f"{_num(100 * first)} percentage points (first-stage F "
            f"{effect.extras.get('first_stage_f', math.nan):.0f})."
        )
    return lines


def mediation_sentences(box) -> list[str]:
    lines = []
    for result in box.mediation:
        mediator = result.mediator.replace("_", " ")
        outcome = result.outcome.replace("_", " ")
        lines.append(
            f"{result.level.capitalize()}: the part of the effect of assignment to training on "
            f"{outcome} that "
            f"runs through {mediator} (ACME) is {signed(result.acme)} "
            f"({_ci(*result.acme_ci)}); the direct part (ADE) {signed(result.ade)} "
            f"({_ci(*result.ade_ci)}); the total {signed(result.total)} ({_ci(*result.total_ci)}). "
            f"The mediated part would vanish if unmeasured features of "
            f"{'encounters' if result.level == 'encounters' else 'officers'} made the errors "
            f"of the communication and force models correlate at rho = "
            f"{result.rho_at_zero_acme:.2f}."
        )
    if lines:
        lines.append(
            "Mediation rests on an assumption randomization does not provide (sequential "
            "ignorability): among encounters with the same treatment status and the same civilian "
            "behaviour and condition, whether the officer talked with the civilian is as good as "
            "random. The rho sensitivity analysis says how much confounding would overturn it."
        )
    return lines


def reliability_sentences(
    reliability_items: pd.DataFrame | None, excluded: Sequence[str], threshold: float
) -> list[str]:
    lines = []
    if excluded:
        lines.append(
            "Left out of the confirmatory analysis because coders did not agree well enough "
            f"(Krippendorff's alpha below {threshold}): "
            + ", ".join(item.replace("_", " ") for item in excluded)
            + ". Their effects can still be estimated with --include-unreliable, as exploratory."
        )
    if reliability_items is not None and not reliability_items.empty:
        shaky = reliability_items[
            (reliability_items["krippendorff_alpha"] >= threshold)
            & (reliability_items["alpha_ci_low"] < threshold)
        ]["item"].tolist()
        if shaky:
            lines.append(
                "Items above the bar whose 95% interval reaches below it (few double-coded clips "
                "or rare codes): " + ", ".join(i.replace("_", " ") for i in shaky) + "."
            )
    return lines


def heterogeneity_sentences(box) -> list[str]:
    results = [r for r in box.heterogeneity if r.effects]
    if not results:
        return []
    differing = [
        r for r in results if _finite(r.interaction_p_value) and r.interaction_p_value < 0.05
    ]
    lines = []
    for result in differing:
        parts = ", ".join(f"{e.extras.get('level')}: {signed(e.estimate)}" for e in result.effects)
        lines.append(
            f"The effect on {result.outcome.replace('_', ' ')} differed by "
            f"{result.subgroup.replace('_', ' ')} (interaction p = "
            f"{p_value_text(result.interaction_p_value)}; {parts})."
        )
    lines.append(
        f"{len(results)} subgroup comparisons were made"
        + (
            f"; {len(differing)} showed a difference at p < 0.05"
            if differing
            else "; none showed a difference at p < 0.05"
        )
        + ". With this many comparisons about one in twenty differs by chance, and subgroup "
        "estimates have far less power than the overall effect: treat them as exploratory."
    )
    return lines


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def open_box_sections(
    box,
    effects: Sequence[Effect],
    reliability_items: pd.DataFrame | None,
    excluded: Sequence[str],
    threshold: float,
) -> list[Section]:
    """The report sections of the open-box analyses (empty parts are left out)."""
    sections: list[Section] = []
    if box is None:
        return sections
    if box.power is not None:
        plots = []
        if box.power_curve is not None:
            png = power_curve_png(box.power_curve, box.power_simulated, title="Power for force")
            plots.append(Plot("power_curve.png", png, "Power to detect a change in force"))
        tables = []
        if box.sample_size is not None:
            tables.append(("Trial size for 80% power (analytic)", box.sample_size))
        if box.power_simulated is not None:
            tables.append(("Power of this trial by simulation", box.power_simulated))
        sections.append(
            Section(
                "What the trial could detect: power for force",
                tuple(power_sentences(box, effects)),
                tuple(tables),
                tuple(plots),
                box.power.notes,
            )
        )
    fisher = randomization_sentences(effects)
    multiple = multiplicity_sentences(box)
    if fisher or multiple:
        tables = []
        if box.multiple_outcomes is not None:
            tables.append(
                ("Adjusted p-values across the communication items", box.multiple_outcomes)
            )
        if box.summary_index is not None:
            index = box.summary_index
            tables.append(
                (
                    "Summary index weights",
                    _frame(
                        [
                            {"item": key.removeprefix("weight_"), "weight": value}
                            for key, value in index.extras.items()
                            if key.startswith("weight_")
                        ]
                    ),
                )
            )
        sections.append(
            Section(
                "Randomization inference and many outcomes", tuple(fisher + multiple), tuple(tables)
            )
        )
    compliance = compliance_sentences(box, effects)
    if compliance:
        table = _frame(
            [
                {
                    "outcome": e.outcome,
                    "scale": e.scale,
                    "complier_effect": e.estimate,
                    "ci_low": e.ci_low,
                    "ci_high": e.ci_high,
                    "p_value": e.p_value,
                    "itt_linear": e.extras.get("itt_linear"),
                    "first_stage": e.extras.get("first_stage"),
                    "first_stage_f": e.extras.get("first_stage_f"),
                }
                for e in box.complier_effects
            ]
        )
        sections.append(
            Section(
                "Officers who took the training (compliance, 2SLS)",
                (
                    "Assignment is the instrument: the effect of completing the training among "
                    "officers who completed it because they were assigned (compliers), assuming "
                    "assignment changed behaviour only through the training.",
                    *compliance,
                ),
                (("Complier effects beside the ITT", table),),
            )
        )
    mediation = mediation_sentences(box)
    if mediation:
        table = _frame(
            [
                {
                    k: v
                    for k, v in r.to_dict().items()
                    if k not in ("sensitivity", "assumption", "notes", "covariates")
                }
                for r in box.mediation
            ]
        )
        sensitivity = pd.concat(
            [r.sensitivity.assign(level=r.level) for r in box.mediation], ignore_index=True
        )
        sensitivity = sensitivity[
            sensitivity["rho"].round(2).isin([-0.6, -0.4, -0.2, 0.0, 0.2, 0.4, 0.6])
        ]
        sections.append(
            Section(
                "Does communication carry through to force? (mediation)",
                tuple(mediation),
                (("Mediation estimates", table), ("ACME as a function of rho", sensitivity)),
            )
        )
    reliability = reliability_sentences(reliability_items, excluded, threshold)
    if reliability_items is not None and not reliability_items.empty:
        sections.append(
            Section(
                "Are the codes reliable? (kappa and alpha with intervals)",
                tuple(reliability) or ("Every confirmatory item reached the reliability bar.",),
                (("Reliability per item (bootstrap over videos)", reliability_items),),
            )
        )
    heterogeneity = heterogeneity_sentences(box)
    if heterogeneity:
        png = subgroup_plot_png(box.heterogeneity)
        table = pd.concat([r.frame() for r in box.heterogeneity if r.effects], ignore_index=True)
        sections.append(
            Section(
                "Where does de-escalation work? (subgroups)",
                tuple(heterogeneity),
                (("Effects by subgroup", table),),
                (Plot("subgroups.png", png, "Effects by subgroup"),) if png else (),
            )
        )
    return sections
