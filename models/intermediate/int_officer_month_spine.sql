MODEL (
    name intermediate.int_officer_month_spine,
    description 'every officer on the roster x every calendar month of the department''s study window. Active: appointed on or before the month''s end and not separated before its start; an officer whose appointment the export does not give (appointed_on NULL) is active from the month of their first record to the month of their last (the roster''s first/last seen dates, force reports, complaints, calls, videos, each on its local date in the department''s time zone), or to their separation date where it is known',
    kind FULL,
    grain (department_id, officer_id, month_start),
    audits (
        not_null(columns := (department_id, officer_id, month_start, month_end, period, is_active)),
        unique_combination_of_columns(columns := (department_id, officer_id, month_start)),
        accepted_range("column" := period, min_v := 1)
    )
);

WITH officers AS (
    SELECT
        department_id,
        officer_id,
        appointed_on,
        separated_on,
        first_seen_on,
        last_seen_on
    FROM staging.stg_officers
), force_reports AS (
    SELECT
        department_id,
        officer_id,
        occurred_on AS record_on
    FROM staging.stg_force_reports
), complaints AS (
    SELECT
        department_id,
        officer_id,
        occurred_on AS record_on
    FROM staging.stg_complaints
), call_officers AS (
    SELECT
        department_id,
        officer_id,
        call_received_on AS record_on
    FROM staging.stg_call_officers
), bwc_videos AS (
    SELECT
        department_id,
        officer_id,
        started_on AS record_on
    FROM staging.stg_bwc_videos
), unknown_appointments AS (
    SELECT
        department_id,
        officer_id,
        first_seen_on,
        last_seen_on
    FROM officers
    WHERE
        appointed_on IS NULL
), records AS (
    SELECT
        department_id,
        officer_id,
        first_seen_on AS record_on
    FROM unknown_appointments
    UNION ALL
    SELECT
        department_id,
        officer_id,
        last_seen_on AS record_on
    FROM unknown_appointments
    UNION ALL
    SELECT
        department_id,
        officer_id,
        record_on
    FROM force_reports
    UNION ALL
    SELECT
        department_id,
        officer_id,
        record_on
    FROM complaints
    UNION ALL
    SELECT
        department_id,
        officer_id,
        record_on
    FROM call_officers
    UNION ALL
    SELECT
        department_id,
        officer_id,
        record_on
    FROM bwc_videos
), record_spans AS (
    /* the span of the records of each officer whose appointment is unknown */
    SELECT
        unknown_appointments.department_id,
        unknown_appointments.officer_id,
        min(records.record_on) AS first_record_on,
        max(records.record_on) AS last_record_on
    FROM unknown_appointments
    INNER JOIN records
        ON records.department_id = unknown_appointments.department_id
        AND records.officer_id = unknown_appointments.officer_id
    GROUP BY
        unknown_appointments.department_id,
        unknown_appointments.officer_id
), active_spans AS (
    SELECT
        officers.department_id,
        officers.officer_id,
        coalesce(officers.appointed_on, record_spans.first_record_on) AS active_from,
        CASE
            WHEN NOT officers.appointed_on IS NULL
            THEN officers.separated_on
            ELSE coalesce(officers.separated_on, record_spans.last_record_on)
        END AS active_until
    FROM officers
    LEFT JOIN record_spans
        ON record_spans.department_id = officers.department_id AND record_spans.officer_id = officers.officer_id
), departments AS (
    SELECT
        department_id,
        study_start_on,
        study_end_on
    FROM staging.stg_departments
), calendar_months AS (
    SELECT
        month_start,
        month_end
    FROM seeds.calendar_months
), study_months AS (
    SELECT
        departments.department_id,
        calendar_months.month_start,
        calendar_months.month_end,
        @study_period(calendar_months.month_start, departments.study_start_on) AS period
    FROM departments
    INNER JOIN calendar_months
        ON calendar_months.month_end >= departments.study_start_on
        AND calendar_months.month_start <= departments.study_end_on
)
SELECT
    active_spans.department_id,
    active_spans.officer_id,
    study_months.month_start,
    study_months.month_end,
    study_months.period,
    coalesce(
        active_spans.active_from /* active: from appointment (or first record) on or before the month's end, not separated (or past the last record) before its start */ <= study_months.month_end
        AND (
            active_spans.active_until IS NULL OR active_spans.active_until >= study_months.month_start
        ),
        FALSE
    ) AS is_active
FROM active_spans
INNER JOIN study_months
    ON study_months.department_id = active_spans.department_id
