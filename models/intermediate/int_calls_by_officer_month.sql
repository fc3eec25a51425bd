MODEL (
    name intermediate.int_calls_by_officer_month,
    description 'Incremental by the local calendar month of the call (stg_calls.received_month: the month of received_at''s date in the department''s time zone; a DATE time column, so Spark partitions by it). One interval = one month: cron ''@monthly'' makes SQLMesh''s intervals line up with month_start (a daily interval could never hold a month_start). The start is the calendar spine''s first month, and without a batch size the first plan on an empty warehouse fills the whole history in one query. Raw is append-only and batches can correct past months, which SQLMesh cannot see: middlestep.build.run() restates this model (and all downstream) over the months the new batches touch, so nothing is missed.',
    kind INCREMENTAL_BY_TIME_RANGE (
        time_column month_start
    ),
    grain (department_id, officer_id, month_start),
    cron '@monthly',
    audits (
        not_null(columns := (department_id, officer_id, month_start, calls_attended, hours_on_scene)),
        unique_combination_of_columns(columns := (department_id, officer_id, month_start)),
        accepted_range("column" := calls_attended, min_v := 1),
        accepted_range("column" := hours_on_scene, min_v := 0),
        assert_officer_exists(blocking := FALSE)
    )
);

WITH calls AS (
    SELECT
        department_id,
        call_id,
        received_month,
        arrived_at,
        cleared_at
    FROM staging.stg_calls
    WHERE
        received_on BETWEEN @start_ds AND @end_ds
), call_officers AS (
    SELECT
        department_id,
        call_id,
        officer_id,
        arrived_at,
        cleared_at
    FROM staging.stg_call_officers
    WHERE
        call_received_on BETWEEN @start_ds AND @end_ds
), officer_time_on_scene AS (
    SELECT
        call_officers.department_id,
        call_officers.officer_id,
        call_officers.call_id,
        calls.received_month AS month_start,
        coalesce(call_officers.arrived_at, calls.arrived_at) AS arrived_at,
        coalesce(call_officers.cleared_at, calls.cleared_at) AS cleared_at
    FROM call_officers
    INNER JOIN calls
        ON calls.department_id = call_officers.department_id AND calls.call_id = call_officers.call_id
), calls_by_officer_month AS (
    SELECT
        department_id,
        officer_id,
        month_start,
        count(DISTINCT call_id) AS calls_attended,
        coalesce(
            sum(@epoch_seconds(cleared_at) - @epoch_seconds(arrived_at)) FILTER(WHERE
                cleared_at >= arrived_at),
            0
        ) /* a time on scene is counted only when both ends are known and in order */ / 3600.0 AS hours_on_scene
    FROM officer_time_on_scene
    GROUP BY
        department_id,
        officer_id,
        month_start
)
SELECT
    calls_by_officer_month.department_id,
    calls_by_officer_month.officer_id,
    calls_by_officer_month.month_start,
    calls_by_officer_month.calls_attended,
    calls_by_officer_month.hours_on_scene::DOUBLE AS hours_on_scene
FROM calls_by_officer_month
