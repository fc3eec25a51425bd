AUDIT (
    name assert_assignment_not_changed
);

/* randomization integrity: an assignment is never changed after it was made, so no officer's arm */ /* or block differs between the batches of raw.trial_assignments (a roll-out cohort date may be */ /* rescheduled; the arm and block may not) */
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
