MODEL (
    name staging.stg_call_officers,
    description 'raw.call_officers is append-only: a corrected record arrives in a later batch, so keep the latest batch''s row per key (the last line of the file if a batch repeats a key). Incremental by the local calendar month of the call (call_received_on: the local date of the call''s received_at, from staging.stg_calls), like stg_calls; an officer of a call that was never delivered has no month and stays in raw until the call arrives (its batch then restates that month). arrived_at, cleared_at and call_received_at stay UTC. Partitioned by the call''s local month (call_received_month), as stg_calls.',
    kind INCREMENTAL_BY_TIME_RANGE (
        time_column call_received_on,
        partition_by_time_column FALSE
    ),
    partitioned_by call_received_month,
    grain (department_id, call_id, officer_id),
    cron '@monthly',
    audits (
        not_null(columns := (department_id, call_id, officer_id, call_received_at, call_received_on)),
        unique_combination_of_columns(columns := (department_id, call_id, officer_id)),
        accepted_values("column" := role, is_in := @contract_codes(call_officers.role))
    )
);

WITH calls AS (
    SELECT
        department_id,
        call_id,
        received_at,
        received_on,
        received_month
    FROM staging.stg_calls
    WHERE
        received_on BETWEEN @start_ds AND @end_ds
)
SELECT
    raw_call_officers.department_id::TEXT AS department_id,
    raw_call_officers.call_id::TEXT AS call_id,
    raw_call_officers.officer_id::TEXT AS officer_id,
    raw_call_officers.role::TEXT AS role,
    raw_call_officers.arrived_at::TIMESTAMP AS arrived_at,
    raw_call_officers.cleared_at::TIMESTAMP AS cleared_at,
    calls.received_at::TIMESTAMP AS call_received_at,
    calls.received_on AS call_received_on,
    calls.received_month AS call_received_month,
    raw_call_officers._batch_id::INT AS batch_id
FROM raw.call_officers AS raw_call_officers
INNER JOIN calls
    ON calls.department_id = raw_call_officers.department_id AND calls.call_id = raw_call_officers.call_id
QUALIFY
    @latest_version(raw_call_officers.department_id, raw_call_officers.call_id, raw_call_officers.officer_id)
