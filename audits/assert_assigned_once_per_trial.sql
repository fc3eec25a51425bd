AUDIT (
    name assert_assigned_once_per_trial
);

/* randomization integrity: each officer is assigned once per trial (latest versions), to an arm or a cohort */
SELECT
    assignments.department_id,
    assignments.trial_id,
    assignments.officer_id,
    count(*) AS assignments,
    count(assignments.arm) + count(assignments.cohort_on) AS arms_or_cohorts
FROM @this_model AS assignments
GROUP BY
    assignments.department_id,
    assignments.trial_id,
    assignments.officer_id
HAVING
    count(*) > 1 OR count(assignments.arm) + count(assignments.cohort_on) = 0
