MODEL (
    name staging.stg_training_events,
    description 'raw.training_events is append-only: a corrected record arrives in a later batch, so keep the latest batch''s row per key (the last line of the file if a batch repeats a key)',
    kind VIEW,
    grain (department_id, officer_id, session_id),
    audits (
        not_null(columns := (department_id, officer_id, session_id, attended_on)),
        unique_combination_of_columns(columns := (department_id, officer_id, session_id)),
        accepted_range("column" := hours, min_v := 0, max_v := 200)
    )
);

SELECT
    department_id::TEXT AS department_id,
    officer_id::TEXT AS officer_id,
    session_id::TEXT AS session_id,
    curriculum::TEXT AS curriculum,
    attended_on::DATE AS attended_on,
    is_completed::BOOLEAN AS is_completed,
    hours::DOUBLE AS hours,
    _batch_id::INT AS batch_id
FROM raw.training_events
QUALIFY
    @latest_version(department_id, officer_id, session_id)
