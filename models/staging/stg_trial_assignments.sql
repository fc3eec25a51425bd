MODEL (
    name staging.stg_trial_assignments,
    description 'raw.trial_assignments is append-only: a corrected record arrives in a later batch, so keep the latest batch''s row per key (the last line of the file if a batch repeats a key)',
    kind VIEW,
    grain (department_id, trial_id, officer_id),
    audits (
        not_null(columns := (department_id, trial_id, officer_id, assigned_on)),
        unique_combination_of_columns(columns := (department_id, trial_id, officer_id)),
        accepted_values("column" := arm, is_in := @contract_codes(trial_assignments.arm)),
        assert_assigned_once_per_trial,
        assert_assignment_not_changed
    )
);

SELECT
    department_id::TEXT AS department_id,
    trial_id::TEXT AS trial_id,
    officer_id::TEXT AS officer_id,
    block_id::TEXT AS block_id,
    arm::TEXT AS arm,
    cohort_on::DATE AS cohort_on,
    assigned_on::DATE AS assigned_on,
    _batch_id::INT AS batch_id
FROM raw.trial_assignments
QUALIFY
    @latest_version(department_id, trial_id, officer_id)
