MODEL (
    name marts.dim_officers,
    description 'one row per officer on the roster: demographics, trial arm or roll-out cohort (NULL for officers in no trial), the unit (and its type) the officer served in when assigned, first completed training and the hours attended',
    kind FULL,
    grain (department_id, officer_id),
    column_descriptions (
        department_id = 'department',
        officer_id = 'officer (department''s id)',
        appointed_on = 'date appointed',
        separated_on = 'date separated (empty: serving)',
        birth_year = 'year of birth',
        sex = 'sex',
        race = 'race',
        rank = 'rank',
        unit = 'unit',
        trial_id = 'trial',
        block_id = 'randomization block',
        arm = 'randomized arm',
        assigned_on = 'date of assignment (randomization)',
        cohort_on = 'scheduled training date',
        cohort_month = 'scheduled training month',
        unit_at_assignment = 'unit at assignment',
        unit_type_at_assignment = 'unit type at assignment',
        first_trained_on = 'date training first completed',
        has_completed_training = 'completed training',
        training_hours = 'hours of training attended',
        tenure_years_at_assignment = 'years of service at assignment',
        age_at_assignment = 'age at assignment'
    ),
    audits (
        not_null(columns := (department_id, officer_id, has_completed_training, training_hours)),
        unique_combination_of_columns(columns := (department_id, officer_id)),
        accepted_values("column" := arm, is_in := @contract_codes(trial_assignments.arm)),
        accepted_values("column" := sex, is_in := @contract_codes(officers.sex)),
        accepted_values("column" := race, is_in := @contract_codes(officers.race)),
        accepted_range("column" := training_hours, min_v := 0),
        accepted_range("column" := age_at_assignment, min_v := 16, max_v := 90, blocking := FALSE),
        assert_officer_exists
    )
);

WITH officers AS (
    SELECT
        department_id,
        officer_id,
        appointed_on,
        separated_on,
        birth_year,
        sex,
        race,
        rank,
        unit
    FROM staging.stg_officers
), officer_assignments AS (
    SELECT
        department_id,
        officer_id,
        trial_id,
        block_id,
        arm,
        assigned_on,
        cohort_on,
        cohort_month,
        unit_at_assignment,
        unit_type_at_assignment
    FROM intermediate.int_officer_assignments
), officer_training AS (
    SELECT
        department_id,
        officer_id,
        first_trained_on,
        has_completed_training,
        training_hours
    FROM intermediate.int_officer_training
)
SELECT
    officers.department_id,
    officers.officer_id,
    officers.appointed_on,
    officers.separated_on,
    officers.birth_year,
    officers.sex,
    officers.race,
    officers.rank,
    officers.unit,
    officer_assignments.trial_id,
    officer_assignments.block_id,
    officer_assignments.arm,
    officer_assignments.assigned_on,
    officer_assignments.cohort_on,
    officer_assignments.cohort_month,
    officer_assignments.unit_at_assignment,
    officer_assignments.unit_type_at_assignment,
    officer_training.first_trained_on,
    coalesce(officer_training.has_completed_training, FALSE) AS has_completed_training,
    coalesce(officer_training.training_hours, 0)::DOUBLE AS training_hours,
    (
        @epoch_seconds(officer_assignments.assigned_on::TIMESTAMP) - @epoch_seconds(officers.appointed_on::TIMESTAMP)
    ) /* days between dates via epoch seconds (portable; date_diff('day', ...) is not) */ / 86400.0 / 365.25 AS tenure_years_at_assignment,
    year(officer_assignments.assigned_on) - officers.birth_year AS age_at_assignment
FROM officers
LEFT JOIN officer_assignments
    ON officer_assignments.department_id = officers.department_id
    AND officer_assignments.officer_id = officers.officer_id
LEFT JOIN officer_training
    ON officer_training.department_id = officers.department_id
    AND officer_training.officer_id = officers.officer_id
