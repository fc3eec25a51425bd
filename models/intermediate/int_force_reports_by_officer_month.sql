MODEL (
    name intermediate.int_force_reports_by_officer_month,
    description 'Incremental by the local calendar month of the report (the month of occurred_on, occurred_at''s date in the department''s time zone): see int_calls_by_officer_month for why the cron is monthly and how late-arriving batches are restated.',
    kind INCREMENTAL_BY_TIME_RANGE (
        time_column month_start
    ),
    grain (department_id, officer_id, month_start),
    cron '@monthly',
    audits (
        not_null(columns := (department_id, officer_id, month_start, force_reports, force_reports_level_2_plus)),
        unique_combination_of_columns(columns := (department_id, officer_id, month_start)),
        accepted_range("column" := force_reports, min_v := 1),
        accepted_range("column" := force_reports_level_2_plus, min_v := 0),
        assert_officer_exists(blocking := FALSE)
    )
);

WITH force_reports AS (
    SELECT
        department_id,
        report_id,
        officer_id,
        occurred_on,
        force_type,
        force_level
    FROM staging.stg_force_reports
    WHERE
        occurred_on BETWEEN @start_ds AND @end_ds
), force_type_levels AS (
    SELECT
        force_type,
        force_level
    FROM seeds.force_type_levels
), force_reports_with_level AS (
    SELECT
        force_reports.department_id,
        force_reports.report_id,
        force_reports.officer_id,
        date_trunc('MONTH', force_reports.occurred_on)::DATE AS month_start,
        coalesce(force_reports.force_level, force_type_levels.force_level) AS force_level /* a report without a level takes its force type's usual level */
    FROM force_reports
    LEFT JOIN force_type_levels
        ON force_type_levels.force_type = force_reports.force_type
), force_reports_by_officer_month AS (
    SELECT
        department_id,
        officer_id,
        month_start,
        count(DISTINCT report_id) AS force_reports,
        count(DISTINCT report_id) FILTER(WHERE
            force_level >= 2) AS force_reports_level_2_plus
    FROM force_reports_with_level
    GROUP BY
        department_id,
        officer_id,
        month_start
)
SELECT
    force_reports_by_officer_month.department_id,
    force_reports_by_officer_month.officer_id,
    force_reports_by_officer_month.month_start,
    force_reports_by_officer_month.force_reports,
    force_reports_by_officer_month.force_reports_level_2_plus
FROM force_reports_by_officer_month
