MODEL (
    name marts.fct_force_reports,
    description 'one row per officer named in a force report; a report without a level takes its force type''s usual level (seeds/force_type_levels.csv); force_category is the department''s own classification, as exported. occurred_at is UTC; occurred_on and month_start are the local date and month in the department''s time zone (stg_departments.timezone), as every month of the officer-month panel',
    kind FULL,
    grain (department_id, report_id, officer_id),
    column_descriptions (
        department_id = 'department',
        report_id = 'force report',
        officer_id = 'officer',
        occurred_at = 'time of the incident (UTC)',
        occurred_on = 'date of the incident (local)',
        month_start = 'calendar month of occurred_on (local)',
        call_id = 'call for service',
        force_type = 'type of force',
        force_category = 'category of force',
        force_level = 'force level (1-3)',
        subject_resistance = 'subject''s resistance',
        is_subject_injured = 'subject injured',
        is_officer_injured = 'officer injured',
        subject_count = 'civilians subject to the force (NULL: not exported)',
        arm = 'officer''s randomized arm',
        trial_id = 'trial'
    ),
    audits (
        not_null(columns := (department_id, report_id, officer_id, occurred_at, occurred_on, month_start)),
        unique_combination_of_columns(columns := (department_id, report_id, officer_id)),
        accepted_values("column" := force_type, is_in := @contract_codes(force_reports.force_type)),
        accepted_values("column" := force_level, is_in := @contract_codes(force_reports.force_level)),
        accepted_values("column" := subject_resistance, is_in := @contract_codes(force_reports.subject_resistance)),
        accepted_values("column" := arm, is_in := @contract_codes(trial_assignments.arm)),
        accepted_range("column" := subject_count, min_v := 0),
        assert_officer_exists(blocking := FALSE)
    )
);

WITH force_reports AS (
    SELECT
        department_id,
        report_id,
        officer_id,
        occurred_at,
        occurred_on,
        call_id,
        force_type,
        force_category,
        force_level,
        subject_resistance,
        is_subject_injured,
        is_officer_injured,
        subject_count
    FROM staging.stg_force_reports
), force_type_levels AS (
    SELECT
        force_type,
        force_level
    FROM seeds.force_type_levels
), officer_assignments AS (
    SELECT
        department_id,
        officer_id,
        trial_id,
        arm
    FROM intermediate.int_officer_assignments
)
SELECT
    force_reports.department_id,
    force_reports.report_id,
    force_reports.officer_id,
    force_reports.occurred_at,
    force_reports.occurred_on,
    date_trunc('MONTH', force_reports.occurred_on)::DATE AS month_start,
    force_reports.call_id,
    force_reports.force_type,
    force_reports.force_category,
    coalesce(force_reports.force_level, force_type_levels.force_level) AS force_level,
    force_reports.subject_resistance,
    force_reports.is_subject_injured,
    force_reports.is_officer_injured,
    force_reports.subject_count,
    officer_assignments.arm,
    officer_assignments.trial_id
FROM force_reports
LEFT JOIN force_type_levels
    ON force_type_levels.force_type = force_reports.force_type
LEFT JOIN officer_assignments
    ON officer_assignments.department_id = force_reports.department_id
    AND officer_assignments.officer_id = force_reports.officer_id
