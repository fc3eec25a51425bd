MODEL (
    name intermediate.int_trial_dates,
    description 'the study dates of a trial: trial_start_on = the treatment arm''s earliest cohort date (the immediate arm''s training), control_start_on = the control arm''s (the wait-list training)',
    kind FULL,
    grain (department_id, trial_id),
    audits (
        not_null(columns := (department_id, trial_id)),
        unique_combination_of_columns(columns := (department_id, trial_id)),
        forall(
            criteria := (
                control_start_on IS NULL OR trial_start_on IS NULL OR control_start_on >= trial_start_on
            )
        )
    )
);

WITH trial_assignments AS (
    SELECT
        department_id,
        trial_id,
        officer_id,
        arm,
        cohort_on
    FROM staging.stg_trial_assignments
), trial_dates AS (
    SELECT
        department_id,
        trial_id,
        min(cohort_on) FILTER(WHERE
            arm = 'treatment') AS trial_start_on,
        min(cohort_on) FILTER(WHERE
            arm = 'control') AS control_start_on,
        count(DISTINCT officer_id) FILTER(WHERE
            arm = 'treatment') AS treatment_officers,
        count(DISTINCT officer_id) FILTER(WHERE
            arm = 'control') AS control_officers
    FROM trial_assignments
    GROUP BY
        department_id,
        trial_id
)
SELECT
    trial_dates.department_id,
    trial_dates.trial_id,
    trial_dates.trial_start_on,
    trial_dates.control_start_on,
    trial_dates.treatment_officers,
    trial_dates.control_officers
FROM trial_dates
