MODEL (
    name marts.fct_calls,
    description 'one row per call for service: the officers who attended, and the minutes from the first arrival to clearing (NULL when either is unknown or they are out of order). Incremental by the local calendar month of the call (received_on: the date of received_at in the department''s time zone), like its staging models: a nightly build recomputes only the months its new batches touch.',
    kind INCREMENTAL_BY_TIME_RANGE (
        time_column month_start
    ),
    grain (department_id, call_id),
    column_descriptions (
        department_id = 'department',
        call_id = 'call for service',
        received_at = 'call received (UTC)',
        received_on = 'date the call was received (local)',
        arrived_at = 'first officer arrived (UTC)',
        cleared_at = 'call cleared (UTC)',
        month_start = 'calendar month of received_on (local)',
        call_type = 'call type',
        priority = 'priority',
        is_self_initiated = 'officer-initiated',
        beat = 'beat',
        disposition = 'disposition',
        n_officers = 'officers who attended',
        minutes_on_scene = 'minutes on scene'
    ),
    cron '@monthly',
    audits (
        not_null(columns := (department_id, call_id, received_at, received_on, month_start, n_officers)),
        unique_combination_of_columns(columns := (department_id, call_id)),
        accepted_range("column" := n_officers, min_v := 0),
        accepted_range("column" := minutes_on_scene, min_v := 0),
        accepted_range("column" := priority, min_v := 1, max_v := 9)
    )
);

WITH calls AS (
    SELECT
        department_id,
        call_id,
        received_at,
        received_on,
        received_month,
        arrived_at,
        cleared_at,
        call_type,
        priority,
        is_self_initiated,
        beat,
        disposition
    FROM staging.stg_calls
    WHERE
        received_on BETWEEN @start_ds AND @end_ds
), call_officers AS (
    SELECT
        department_id,
        call_id,
        officer_id
    FROM staging.stg_call_officers
    WHERE
        call_received_on BETWEEN @start_ds AND @end_ds
), officers_by_call AS (
    SELECT
        department_id,
        call_id,
        count(DISTINCT officer_id) AS n_officers
    FROM call_officers
    GROUP BY
        department_id,
        call_id
)
SELECT
    calls.department_id,
    calls.call_id,
    calls.received_at,
    calls.received_on,
    calls.arrived_at,
    calls.cleared_at,
    calls.received_month AS month_start,
    calls.call_type,
    calls.priority,
    calls.is_self_initiated,
    calls.beat,
    calls.disposition,
    coalesce(officers_by_call.n_officers, 0) AS n_officers,
    CASE
        WHEN calls.cleared_at >= calls.arrived_at
        THEN (
            @epoch_seconds(calls.cleared_at) - @epoch_seconds(calls.arrived_at)
        ) / 60.0
    END::DOUBLE AS minutes_on_scene
FROM calls
LEFT JOIN officers_by_call
    ON officers_by_call.department_id = calls.department_id AND officers_by_call.call_id = calls.call_id
