"""The pre-registered analysis plan of a trial: the plan file (`spec`) and its registrations in
the warehouse (`registry`)."""

from middlestep.plan.spec import (
    AnalysisPlan,
    Deviation,
    Family,
    PlanError,
    PlanStatus,
    Registration,
    load_plan,
    plan_from_content,
    plan_path,
    plan_status,
)

__all__ = [
    "AnalysisPlan",
    "Deviation",
    "Family",
    "PlanError",
    "PlanStatus",
    "Registration",
    "load_plan",
    "plan_from_content",
    "plan_path",
    "plan_status",
]
