MODEL (
    name staging.stg_calls,
    description 'raw.calls is append-only: a corrected record arrives in a later batch, so keep the latest batch''s row per key (the last line of the file if a batch repeats a key). Incremental by calendar month of the department''s local calendar: received_on is the local date of received_at (stg_departments.timezone; received_at and the other `_at` columns stay UTC), so an interval is a local month, whose UTC times reach up to 14 hours into the months either side. An interval therefore reads raw calls 14 hours either side of it and keeps those whose latest version falls on a local date inside it: a restated month neither loses nor repeats the calls near its edges. See int_calls_by_officer_month for the monthly cron and how new batches are restated. Materialized, because every call model reads it and resolving versions over all of raw.calls is the costliest step of a nightly build. An interval reads only the versions of calls that have some version near it, so a correction that moves a call to another month is placed by its latest version (the restatement covers both months). received_month (the local calendar month) is the partition column: on Spark, an interval overwrites the partitions it writes, and a TIMESTAMP cannot partition (nor should, one partition per call).',
    kind INCREMENTAL_BY_TIME_RANGE (
        time_column received_on,
        partition_by_time_column FALSE
    ),
    partitioned_by received_month,
    grain (department_id, call_id),
    cron '@monthly',
    audits (
        not_null(columns := (department_id, call_id, received_at, received_on, received_month)),
        unique_combination_of_columns(columns := (department_id, call_id)),
        accepted_range("column" := priority, min_v := 1, max_v := 9)
    )
);

WITH calls_near_interval AS (
    /* UTC offsets run from -12 to +14 hours: 14 hours either side hold every local date of the interval */
    SELECT DISTINCT
        department_id,
        call_id
    FROM raw.calls
    WHERE
        received_at BETWEEN @start_ts::TIMESTAMP - INTERVAL '14' HOUR AND @end_ts::TIMESTAMP + INTERVAL '14' HOUR
), latest_versions AS (
    SELECT
        raw_calls.department_id::TEXT AS department_id,
        raw_calls.call_id::TEXT AS call_id,
        raw_calls.received_at::TIMESTAMP AS received_at,
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
    INNER JOIN calls_near_interval
        ON calls_near_interval.department_id = raw_calls.department_id
        AND calls_near_interval.call_id = raw_calls.call_id
    QUALIFY
        @latest_version(raw_calls.department_id, raw_calls.call_id)
), departments AS (
    SELECT
        department_id,
        timezone
    FROM staging.stg_departments
), local_dates AS (
    SELECT
        latest_versions.department_id,
        latest_versions.call_id,
        latest_versions.received_at,
        @local_date(latest_versions.received_at, departments.timezone) AS received_on,
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
    LEFT JOIN departments
        ON departments.department_id = latest_versions.department_id
)
SELECT
    local_dates.department_id,
    local_dates.call_id,
    local_dates.received_at,
    local_dates.received_on,
    date_trunc('MONTH', local_dates.received_on)::DATE AS received_month,
    local_dates.dispatched_at,
    local_dates.arrived_at,
    local_dates.cleared_at,
    local_dates.call_type,
    local_dates.priority,
    local_dates.is_self_initiated,
    local_dates.beat,
    local_dates.disposition,
    local_dates.batch_id
FROM local_dates
WHERE
    local_dates.received_on BETWEEN @start_ds AND @end_ds
