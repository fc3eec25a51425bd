"""The synthetic department: a Virginia-Beach-like de-escalation trial, simulated.

Data-generating process (every number is a parameter of the scenario, default_scenario.yaml):

1. Officers. ``n_trial`` patrol officers (times ``scale``) spread evenly over precinct x shift
   blocks, plus ``n_non_trial`` sergeants on the same shifts who are in no trial. Demographics,
   tenure and rank are drawn independently; each officer leaves the department after an
   exponential time (``separation_rate_per_year``) and is active until then.
2. Randomization. Within each block, half of the trial officers (a coin decides an odd one) are
   assigned to the immediate arm ('treatment', trained in ``treatment_cohort_on``'s month) and
   half to the wait-list ('control', trained a year later). Assignment is made on
   ``randomized_on``.
3. Training. Each assigned officer is a complier with probability 1 - ``non_compliance``;
   compliers still employed on the day of their class complete it (one session, Tuesdays and
   Thursdays of the cohort month). Some non-compliers have an incomplete record, the others
   none. An officer is *treated* on every shift day after the class day.
4. Calls. For every active officer-month, the officer is dispatched to (or starts) a Poisson
   number of calls with mean ``per_officer_month / (1 + E[backups])`` times a gamma officer
   multiplier and a shift multiplier; each call takes 0, 1 or 2 backup officers from the same
   precinct and shift, so the calls attended per officer-month average ``per_officer_month``.
   Times fall in the officer's shift; dispatch, travel and on-scene times follow the call's
   priority. Chains of times never touch 01:00-02:59 local on DST change days.
5. Force and complaints. Every call an officer attends produces a Poisson number of force
   reports with rate ``per_officer_month / calls per_officer_month`` times a gamma officer
   multiplier (overdispersion) times ``rate_ratio`` if the officer was treated that day; each
   report belongs to that call and officer. Complaints the same way, received after a lag,
   pending if received shortly before the export, else sustained with ``share_sustained``.
6. Body-worn-camera clips. From the trial officers' call attendances in the 12 pre months and
   the 12 post months (before the wait-list is trained) a sampling frame of
   (1 + ``uncoded_per_coded``) x the coded sample is drawn at random per period, and a random
   half of ``coded_clips`` (times ``scale``) per period is coded. Each coded clip is an
   encounter whose true state comes from middlestep/synth/encounters.py (officer random
   effects, civilian conditions, call type, treated flag); one coder (of ``n_coders``) codes
   it, a second, different coder codes ``double_coded_share`` of the clips, each with their
   own coder error.

The frames of a ``SimulatedDepartment`` are in the canonical raw contract's form
(middlestep/contract.py): canonical names and codes, timestamps in UTC. ``write_export``
(middlestep/synth/export.py) writes them in the department's own format, and
``compute_truth`` (middlestep/synth/truth.py) the planted effects and estimands.

The department is drawn in one seeded sequence, `simulate_department`, each step from its own
named random stream; the steps are in middlestep/synth/roster.py (1-3), calls.py (4),
incidents.py (5) and videos.py (6), and tables.py assembles the frames.
"""

from __future__ import annotations

import logging

import numpy as np

from middlestep.synth.calls import simulate_calls
from middlestep.synth.incidents import simulate_complaints, simulate_force
from middlestep.synth.roster import assign_arms, simulate_officers, train_arms
from middlestep.synth.scenario import validate_scenario
from middlestep.synth.study import Study, session_days
from middlestep.synth.tables import SimulatedDepartment, assemble
from middlestep.synth.videos import simulate_videos

log = logging.getLogger(__name__)

# the names other modules import from here
__all__ = ["SimulatedDepartment", "session_days", "simulate_department"]

STREAMS = (
    "officers",
    "assignment",
    "training",
    "calls",
    "backups",
    "force",
    "complaints",
    "videos",
    "encounters",
    "coding",
)


def _streams(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {
        name: np.random.default_rng(child) for name, child in zip(STREAMS, children, strict=True)
    }


def simulate_department(scenario: dict, seed: int, scale: float = 1.0) -> SimulatedDepartment:
    """Simulate a department under ``scenario`` (see the module docstring). Deterministic in
    (scenario, seed, scale). ``scale`` multiplies the officers and the coded clips."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    validate_scenario(scenario)
    study = Study(scenario, scale)
    rngs = _streams(seed)
    log.info("synth: %s officers (seed %s, scale %s)", study.n_officers, seed, scale)
    officers = simulate_officers(scenario, study, rngs)
    assign_arms(scenario, study, officers, rngs["assignment"])
    training = train_arms(scenario, study, officers, rngs["training"])
    log.info("synth: calls")
    calls, attendance = simulate_calls(scenario, study, officers, rngs)
    log.info("synth: %s calls, %s attendances", len(calls["received"]), len(attendance["call"]))
    force = simulate_force(scenario, study, officers, attendance, rngs["force"])
    complaints = simulate_complaints(scenario, study, officers, attendance, rngs["complaints"])
    log.info("synth: videos and SSO codings")
    videos, codings, encounters = simulate_videos(
        scenario, study, officers, calls, attendance, rngs
    )
    log.info("synth: assembling the canonical tables")
    return assemble(
        scenario,
        seed,
        scale,
        study,
        officers,
        training,
        calls,
        attendance,
        force,
        complaints,
        videos,
        codings,
        encounters,
    )
