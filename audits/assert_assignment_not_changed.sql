AUDIT (
    name assert_assignment_not_changed
);

/* randomization integrity: no officer's arm or block differs between batches (a cohort date may move) */
SELECT
    raw_assignments.department_id,
    raw_assignments.trial_id,
    raw_assignments.officer_id,
    count(DISTINCT coalesce(raw_assignments.arm, '<null>')) AS arms,
    count(DISTINCT coalesce(raw_assignments.block_id, '<null>')) AS blocks
FROM raw.trial_assignments AS raw_assignments
GROUP BY
    raw_assignments.department_id,
    raw_assignments.trial_id,
    raw_assignments.officer_id
HAVING
    count(DISTINCT coalesce(raw_assignments.arm, '<null>')) > 1
    OR count(DISTINCT coalesce(raw_assignments.block_id, '<null>')) > 1
