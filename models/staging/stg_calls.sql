MODEL (
    name staging.stg_calls,
    description 'raw.calls is append-only: a corrected record arrives in a later batch, so keep the latest batch''s row per key (the last line of the file if a batch repeats a key)',
    kind VIEW,
    grain (department_id, call_id),
    audits (
        not_null(columns := (department_id, call_id, received_at)),
        unique_combination_of_columns(columns := (department_id, call_id)),
        accepted_range("column" := priority, min_v := 1, max_v := 9)
    )
);

WITH raw_calls AS (
    SELECT
        department_id,
        call_id,
        received_at,
        dispatched_at,
        arrived_at,
        cleared_at,
        call_type,
        priority,
        is_self_initiated,
        beat,
        disposition,
        _batch_id,
        _source_line
    FROM raw.calls
), latest_versions AS (
    SELECT
        department_id,
        call_id,
        received_at,
        dispatched_at,
        arrived_at,
        cleared_at,
        call_type,
        priority,
        is_self_initiated,
        beat,
        disposition,
        _batch_id,
        row_number() OVER (PARTITION BY department_id, call_id ORDER BY _batch_id DESC, _source_line DESC) AS version_rank
    FROM raw_calls
)
SELECT
    department_id::TEXT AS department_id,
    call_id::TEXT AS call_id,
    received_at::TIMESTAMP AS received_at,
    dispatched_at::TIMESTAMP AS dispatched_at,
    arrived_at::TIMESTAMP AS arrived_at,
    cleared_at::TIMESTAMP AS cleared_at,
    call_type::TEXT AS call_type,
    priority::INT AS priority,
    is_self_initiated::BOOLEAN AS is_self_initiated,
    beat::TEXT AS beat,
    disposition::TEXT AS disposition,
    _batch_id::INT AS batch_id
FROM latest_versions
WHERE
    version_rank = 1
