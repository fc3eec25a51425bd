MODEL (
    name staging.stg_calls,
    description 'raw.calls is append-only: a corrected record arrives in a later batch, so keep the latest batch''s row per key (the last line of the file if a batch repeats a key). Incremental by calendar month of received_at (see int_calls_by_officer_month for the monthly cron and how new batches are restated): materialized, because every call model reads it and resolving versions over all of raw.calls is the costliest step of a nightly build. An interval reads only the versions of calls that have some version in it, so a correction that moves a call to another month is placed by its latest version (the restatement covers both months). received_month (the calendar month of received_at) is the partition column: on Spark, an interval overwrites the partitions it writes, and a TIMESTAMP cannot partition (nor should, one partition per call).',
    kind INCREMENTAL_BY_TIME_RANGE (
        time_column received_at,
        partition_by_time_column FALSE
    ),
    partitioned_by received_month,
    grain (department_id, call_id),
    cron '@monthly',
    audits (
        not_null(columns := (department_id, call_id, received_at)),
        unique_combination_of_columns(columns := (department_id, call_id)),
        accepted_range("column" := priority, min_v := 1, max_v := 9)
    )
);

WITH calls_in_interval AS (
    SELECT DISTINCT
        department_id,
        call_id
    FROM raw.calls
    WHERE
        received_at BETWEEN @start_ts AND @end_ts
), latest_versions AS (
    SELECT
        raw_calls.department_id::TEXT AS department_id,
        raw_calls.call_id::TEXT AS call_id,
        raw_calls.received_at::TIMESTAMP AS received_at,
        date_trunc('MONTH', raw_calls.received_at)::DATE AS received_month,
        raw_calls.dispatched_at::TIMESTAMP AS dispatched_at,
        raw_calls.arrived_at::TIMESTAMP AS arrived_at,
        raw_calls.cleared_at::TIMESTAMP AS cleared_at,
        raw_calls.call_type::TEXT AS call_type,
        raw_calls.priority::INT AS priority,
        raw_calls.is_self_initiated::BOOLEAN AS is_self_initiated,
        raw_calls.beat::TEXT AS beat,
        raw_calls.disposition::TEXT AS disposition,
        raw_calls._batch_id::INT AS batch_id
    FROM raw.calls AS raw_calls
    INNER JOIN calls_in_interval
        ON calls_in_interval.department_id = raw_calls.department_id
        AND calls_in_interval.call_id = raw_calls.call_id
    QUALIFY
        @latest_version(raw_calls.department_id, raw_calls.call_id)
)
SELECT
    latest_versions.department_id,
    latest_versions.call_id,
    latest_versions.received_at,
    latest_versions.received_month,
    latest_versions.dispatched_at,
    latest_versions.arrived_at,
    latest_versions.cleared_at,
    latest_versions.call_type,
    latest_versions.priority,
    latest_versions.is_self_initiated,
    latest_versions.beat,
    latest_versions.disposition,
    latest_versions.batch_id
FROM latest_versions
WHERE
    latest_versions.received_at BETWEEN @start_ts AND @end_ts
