MODEL (
    name intermediate.int_officer_training,
    description 'per officer: the first completed session (the training date), and the hours of every session attended (the dose received, completed or not)',
    kind FULL,
    grain (department_id, officer_id),
    audits (
        not_null(columns := (department_id, officer_id, has_completed_training, training_hours)),
        unique_combination_of_columns(columns := (department_id, officer_id)),
        accepted_range("column" := training_hours, min_v := 0),
        assert_officer_exists(blocking := FALSE)
    )
);

WITH training_events AS (
    SELECT
        department_id,
        officer_id,
        session_id,
        attended_on,
        is_completed,
        hours
    FROM staging.stg_training_events
), training_by_officer AS (
    SELECT
        department_id,
        officer_id,
        min(attended_on) FILTER(WHERE
            is_completed) AS first_trained_on,
        count(DISTINCT session_id) AS sessions_attended,
        count(DISTINCT session_id) FILTER(WHERE
            is_completed) AS sessions_completed,
        coalesce(sum(hours), 0) AS training_hours
    FROM training_events
    GROUP BY
        department_id,
        officer_id
)
SELECT
    training_by_officer.department_id,
    training_by_officer.officer_id,
    training_by_officer.first_trained_on,
    date_trunc('MONTH', training_by_officer.first_trained_on)::DATE AS first_trained_month,
    NOT training_by_officer.first_trained_on IS NULL AS has_completed_training,
    training_by_officer.sessions_attended,
    training_by_officer.sessions_completed,
    training_by_officer.training_hours::DOUBLE AS training_hours
FROM training_by_officer
