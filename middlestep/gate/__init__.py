"""The quality gate: Great Expectations on the marts, plus the integrity of the input batches.

The expectations live in the project's ``expectations/<mart>.yaml`` (beside ``models/``), one
list per mart; every mart of the warehouse is gated, and one without a file is a warning naming
it. Each entry names a Great Expectations class (snake or Camel case), its ``kwargs`` and
``meta.why``, and may add:

* ``columns: [..]``: the same expectation once per column (the kwargs get ``column``);
* ``severity: warning``: a failure is recorded but does not fail the gate;
* ``frame: <name>``: validate a frame derived from the mart (``DERIVED_FRAMES``), for example the
  share of treated officers per trial;
* ``only_if: <name>``: evaluate only when the warehouse meets a condition (``CONDITIONS``, on
  the raw tables' row counts), for example "SSO codings were delivered".

``run_gate`` reads the marts and ``raw._batches`` / ``raw._rejects`` through a read-only
connection, runs one Great Expectations checkpoint (ephemeral context, a pandas data source, one
validation definition per mart or derived frame), checks that every batch adds up
(``rows_read = rows_loaded + rows_rejected``) and that no table lost more than a set share of its
rows, and says which analyses the data supports. A mart unchanged since the last passed gate
keeps that gate's verdicts, and a changed monthly mart is validated in its changed months
(``months.py``). ``record_gate`` stores the result in ``meta.gate_results``;
``latest_gate`` reads it back. Great Expectations' Data Docs of the run are written under the
home (``<home>/gate/data_docs/index.html``) when the caller asks for them.

Great Expectations is imported inside the functions that need it: it takes seconds to import,
and a night that changed no mart does not need it.

One job per module: ``specs`` (the YAML files), ``frames`` (derived frames and conditions),
``facts`` (the warehouse read), ``verdicts`` and ``checkpoint`` (the expectations, Great
Expectations), ``batches`` (the integrity of the input batches), ``support`` (which analyses the
data supports), ``results``, ``records`` (``meta.gate_results``) and ``months`` (incremental
validation). The names callers need are importable from the package.
"""

from middlestep.gate.records import ensure_meta_tables, latest_gate, record_gate
from middlestep.gate.results import (
    DEFAULT_MAX_REJECT_SHARE,
    AnalysisSupport,
    CheckResult,
    GateResult,
)
from middlestep.gate.run import run_gate
from middlestep.gate.specs import (
    EXPECTATIONS_DIR,
    MARTS,
    ExpectationSpec,
    camel_case,
    load_expectations,
    snake_case,
)
from middlestep.gate.support import (
    ANALYSES,
    COMMUNICATION_EFFECTS,
    COMPLAINT_EFFECTS,
    FORCE_EFFECTS,
    RANDOMIZATION_BALANCE,
    ROLLOUT_EFFECTS,
    SSO_RELIABILITY,
)

__all__ = [
    "ANALYSES",
    "COMMUNICATION_EFFECTS",
    "COMPLAINT_EFFECTS",
    "DEFAULT_MAX_REJECT_SHARE",
    "EXPECTATIONS_DIR",
    "FORCE_EFFECTS",
    "MARTS",
    "RANDOMIZATION_BALANCE",
    "ROLLOUT_EFFECTS",
    "SSO_RELIABILITY",
    "AnalysisSupport",
    "CheckResult",
    "ExpectationSpec",
    "GateResult",
    "camel_case",
    "ensure_meta_tables",
    "latest_gate",
    "load_expectations",
    "record_gate",
    "run_gate",
    "snake_case",
]
