"""The result of a mediation analysis (analysis/mediation.py): ACME, ADE and total effect with
their bootstrap intervals, the rho sensitivity curve, and the assumption they rest on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis.results import json_number

SEQUENTIAL_IGNORABILITY = (
    "sequential ignorability: assignment is random (by design), and among encounters with the "
    "same treatment status and civilian state the mediator is as good as random (no unmeasured "
    "feature of the encounter moves both communication and force); not testable, see rho"
)


@dataclass(frozen=True)
class MediationResult:
    """ACME, ADE and total effect with bootstrap intervals, and the rho sensitivity curve."""

    level: str
    mediator: str
    outcome: str
    acme: float
    acme_ci: tuple[float, float]
    ade: float
    ade_ci: tuple[float, float]
    total: float
    total_ci: tuple[float, float]
    proportion_mediated: float
    acme_p_value: float
    rho_at_zero_acme: float
    sensitivity: pd.DataFrame = field(repr=False, compare=False)
    n_units: int = 0
    n_obs: int = 0
    n_bootstrap: int = 0
    covariates: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        record = {
            "level": self.level,
            "mediator": self.mediator,
            "outcome": self.outcome,
            "acme": self.acme,
            "acme_ci_low": self.acme_ci[0],
            "acme_ci_high": self.acme_ci[1],
            "acme_p_value": self.acme_p_value,
            "ade": self.ade,
            "ade_ci_low": self.ade_ci[0],
            "ade_ci_high": self.ade_ci[1],
            "total": self.total,
            "total_ci_low": self.total_ci[0],
            "total_ci_high": self.total_ci[1],
            "proportion_mediated": self.proportion_mediated,
            "rho_at_zero_acme": self.rho_at_zero_acme,
            "n_units": self.n_units,
            "n_obs": self.n_obs,
            "n_bootstrap": self.n_bootstrap,
            "covariates": list(self.covariates),
            "assumption": SEQUENTIAL_IGNORABILITY,
            "notes": list(self.notes),
            "sensitivity": [
                {"rho": float(r), "acme": json_number(a)}
                for r, a in zip(self.sensitivity["rho"], self.sensitivity["acme"], strict=True)
            ],
        }
        return {k: json_number(v) for k, v in record.items()}

    def summary(self) -> str:
        width = 78
        rows = [
            ("ACME (through the mediator)", self.acme, self.acme_ci),
            ("ADE (direct)", self.ade, self.ade_ci),
            ("total effect", self.total, self.total_ci),
        ]
        lines = [
            f"Mediation ({self.level}): {self.mediator} -> {self.outcome}".center(width),
            "=" * width,
            f"{'':<32}{'estimate':>12}{'[0.025':>12}{'0.975]':>12}",
            "-" * width,
            *[f"{name:<32}{v:>12.4f}{ci[0]:>12.4f}{ci[1]:>12.4f}" for name, v, ci in rows],
            "-" * width,
            f"proportion mediated: {self.proportion_mediated:.3g}   ACME = 0 at rho = "
            f"{self.rho_at_zero_acme:.3f}",
            f"units (officers): {self.n_units}   observations: {self.n_obs}   "
            f"bootstrap draws: {self.n_bootstrap}",
            f"assumption: {SEQUENTIAL_IGNORABILITY}",
        ]
        lines += [f"note: {note}" for note in self.notes]
        lines.append("=" * width)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()
