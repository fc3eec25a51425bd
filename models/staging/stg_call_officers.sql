MODEL (
    name staging.stg_call_officers,
    description 'raw.call_officers is append-only: a corrected record arrives in a later batch, so keep the latest batch''s row per key (the last line of the file if a batch repeats a key)',
    kind VIEW,
    grain (department_id, call_id, officer_id),
    audits (
        not_null(columns := (department_id, call_id, officer_id)),
        unique_combination_of_columns(columns := (department_id, call_id, officer_id)),
        accepted_values("column" := role, is_in := ('primary', 'backup'))
    )
);

WITH raw_call_officers AS (
    SELECT
        department_id,
        call_id,
        officer_id,
        role,
        arrived_at,
        cleared_at,
        _batch_id,
        _source_line
    FROM raw.call_officers
), latest_versions AS (
    SELECT
        department_id,
        call_id,
        officer_id,
        role,
        arrived_at,
        cleared_at,
        _batch_id,
        row_number() OVER (PARTITION BY department_id, call_id, officer_id ORDER BY _batch_id DESC, _source_line DESC) AS version_rank
    FROM raw_call_officers
)
SELECT
    department_id::TEXT AS department_id,
    call_id::TEXT AS call_id,
    officer_id::TEXT AS officer_id,
    role::TEXT AS role,
    arrived_at::TIMESTAMP AS arrived_at,
    cleared_at::TIMESTAMP AS cleared_at,
    _batch_id::INT AS batch_id
FROM latest_versions
WHERE
    version_rank = 1
