"""The frames and conditions an expectation may name: ``frame:`` validates a frame derived from
the mart (``DERIVED_FRAMES``), ``only_if:`` evaluates only when the warehouse meets a condition
(``CONDITIONS``, on the raw tables' row counts).

A derived frame is a query over the query of the mart's rows to validate: Great Expectations runs
its expectations inside DuckDB (gate/checkpoint.py), so no mart is read into memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping


def _assigned_officers(dim_officers: str) -> str:
    """Officers with a trial arm."""
    return f"select * from ({dim_officers}) as officers where arm is not null"


def _arm_balance(dim_officers: str) -> str:
    """Per department x trial: officers assigned, treated, and the share treated."""
    return (
        "select department_id, coalesce(trial_id, '(no trial)') as trial_id, "
        "count(*) as n_assigned, count(*) filter (where arm = 'treatment') as n_treatment, "
        "count(*) filter (where arm = 'treatment') / count(*) as share_treatment "
        f"from ({_assigned_officers(dim_officers)}) as assigned group by all"
    )


def _trial_officers(dim_officers: str) -> str:
    """Officers in a trial or roll-out (an arm or a cohort): the officers analyses estimate on."""
    return f"select * from ({dim_officers}) as officers where trial_id is not null"


def _officers_outside_trials(dim_officers: str) -> str:
    """Officers on the roster but in no trial or roll-out: no estimate uses them."""
    return f"select * from ({dim_officers}) as officers where trial_id is null"


# frame name -> the query of the frame, given the query of the mart's rows
DERIVED_FRAMES: dict[str, Callable[[str], str]] = {
    "assigned_officers": _assigned_officers,
    "arm_balance": _arm_balance,
    "trial_officers": _trial_officers,
    "officers_outside_trials": _officers_outside_trials,
}


def _sso_delivered(raw_rows: Mapping[str, int]) -> bool:
    return raw_rows.get("sso_codings", 0) > 0


# Conditions read only the raw tables' row counts: their outcomes are known before the marts are
# read, and are part of a mart's checks version (gate/months.py).
CONDITIONS: dict[str, Callable[[Mapping[str, int]], bool]] = {
    "sso_delivered": _sso_delivered,
}
