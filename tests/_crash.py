"""Run one `middlestep` command and SIGKILL this very process at a named point.

`python tests/_crash.py POINT -- <middlestep arguments>`: used by tests/test_faults.py to kill a
nightly run exactly inside an ingest transaction, a SQLMesh backfill, a half-applied SQLMesh
restatement, the recording of intervals in SQLMesh's state, or the gate. The kill is a real
SIGKILL: no exception handler, no `finally`, no flush.
"""

from __future__ import annotations

import os
import signal
import sys


def kill_on_call(owner, name: str, nth: int, *, after: bool = False) -> None:
    """Replace ``owner.name`` by a wrapper that kills the process on its ``nth`` call (before
    the call runs, or just after it returned)."""
    original = getattr(owner, name)
    calls = [0]

    def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == nth and not after:
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if calls[0] == nth and after:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, wrapper)


def arm(point: str) -> None:
    if point == "ingest":  # inside the second loaded file's transaction, its rows inserted
        import middlestep.ingest.load

        kill_on_call(middlestep.ingest.load, "_insert_rejects", 2)
    elif point == "backfill":  # SQLMesh has evaluated some models of the plan, not all
        from sqlmesh.core.snapshot.evaluator import SnapshotEvaluator

        kill_on_call(SnapshotEvaluator, "evaluate", 8)
    elif point == "intervals":  # SQLMesh recorded some computed intervals in its state
        from sqlmesh.core.state_sync.db.interval import IntervalState

        kill_on_call(IntervalState, "_push_snapshot_intervals", 6, after=True)
    elif point in ("restatement", "environment", "finalize"):  # after the backfill: the plan
        # restates other environments, then updates and finalizes the environment record
        from sqlmesh.core.plan.evaluator import BuiltInPlanEvaluator

        stage = {
            "restatement": "visit_restatement_stage",
            "environment": "visit_environment_record_update_stage",
            "finalize": "visit_finalize_environment_stage",
        }[point]
        kill_on_call(BuiltInPlanEvaluator, stage, 1, after=point == "environment")
    elif point == "gate":  # the gate ran, its result not yet recorded
        import middlestep.gate

        kill_on_call(middlestep.gate, "record_gate", 1)
    else:
        raise SystemExit(f"unknown kill point {point}")


if __name__ == "__main__":
    separator = sys.argv.index("--")
    arm(sys.argv[1])
    from middlestep.cli import main

    sys.exit(main(sys.argv[separator + 1 :]))
