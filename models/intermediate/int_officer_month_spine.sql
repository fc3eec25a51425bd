MODEL (
    name intermediate.int_officer_month_spine,
    description 'every officer on the roster x every calendar month of the department''s study window',
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
        separated_on
    FROM staging.stg_officers
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
    officers.department_id,
    officers.officer_id,
    study_months.month_start,
    study_months.month_end,
    study_months.period,
    officers.appointed_on /* active: appointed on or before the month's end and not separated before its start */ <= study_months.month_end
    AND (
        officers.separated_on IS NULL OR officers.separated_on >= study_months.month_start
    ) AS is_active
FROM officers
INNER JOIN study_months
    ON study_months.department_id = officers.department_id
