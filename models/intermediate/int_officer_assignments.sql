MODEL (
    name intermediate.int_officer_assignments,
    description 'one trial assignment per officer (the marts carry one arm per officer): an officer in more than one trial keeps the earliest assignment, then the lowest trial_id; with the unit the officer served in on assigned_on (staging.stg_officer_units; the latest-started record covering that date)',
    kind FULL,
    grain (department_id, officer_id),
    audits (
        not_null(columns := (department_id, officer_id, trial_id, assigned_on)),
        unique_combination_of_columns(columns := (department_id, officer_id)),
        accepted_values("column" := arm, is_in := @contract_codes(trial_assignments.arm)),
        assert_officer_exists(blocking := FALSE)
    )
);

WITH trial_assignments AS (
    SELECT
        department_id,
        trial_id,
        officer_id,
        block_id,
        arm,
        cohort_on,
        assigned_on
    FROM staging.stg_trial_assignments
), trial_dates AS (
    SELECT
        department_id,
        trial_id,
        trial_start_on,
        control_start_on
    FROM intermediate.int_trial_dates
), officer_units AS (
    SELECT
        department_id,
        officer_id,
        unit_id,
        unit_type,
        started_on,
        ended_on
    FROM staging.stg_officer_units
), first_assignments AS (
    SELECT
        department_id,
        trial_id,
        officer_id,
        block_id,
        arm,
        cohort_on,
        assigned_on
    FROM trial_assignments
    QUALIFY
        row_number() OVER (PARTITION BY department_id, officer_id ORDER BY assigned_on ASC, trial_id ASC) = 1
), units_at_assignment AS (
    SELECT
        first_assignments.department_id,
        first_assignments.officer_id,
        officer_units.unit_id,
        officer_units.unit_type
    FROM first_assignments
    INNER JOIN officer_units
        ON officer_units.department_id = first_assignments.department_id
        AND officer_units.officer_id = first_assignments.officer_id
        AND officer_units.started_on <= first_assignments.assigned_on
        AND coalesce(officer_units.ended_on, first_assignments.assigned_on) >= first_assignments.assigned_on
    QUALIFY
        row_number() OVER (
            PARTITION BY first_assignments.department_id, first_assignments.officer_id
            ORDER BY officer_units.started_on DESC
        ) = 1
)
SELECT
    first_assignments.department_id,
    first_assignments.officer_id,
    first_assignments.trial_id,
    first_assignments.block_id,
    first_assignments.arm,
    first_assignments.assigned_on,
    first_assignments.cohort_on,
    date_trunc('MONTH', first_assignments.cohort_on)::DATE AS cohort_month,
    trial_dates.trial_start_on,
    trial_dates.control_start_on,
    units_at_assignment.unit_id AS unit_at_assignment,
    units_at_assignment.unit_type AS unit_type_at_assignment
FROM first_assignments
LEFT JOIN trial_dates
    ON trial_dates.department_id = first_assignments.department_id
    AND trial_dates.trial_id = first_assignments.trial_id
LEFT JOIN units_at_assignment
    ON units_at_assignment.department_id = first_assignments.department_id
    AND units_at_assignment.officer_id = first_assignments.officer_id
