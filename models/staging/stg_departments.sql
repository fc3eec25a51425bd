MODEL (
    name staging.stg_departments,
    description 'one row per department: its study window and the IANA time zone of its local calendar. Every date and month cut from a UTC `_at` timestamp (occurred_on, month_start, ...) is the local date in this zone (@local_date); a mapping that names no zone gives UTC, its default (middlestep/mapping.py), and so does a NULL here.',
    kind VIEW,
    grain department_id,
    column_descriptions (
        department_id = 'department',
        description = 'description',
        timezone = 'IANA time zone of the local calendar',
        study_start_on = 'first day of the study window',
        study_end_on = 'last day of the study window'
    ),
    audits (
        not_null(columns := (department_id, timezone, study_start_on, study_end_on)),
        unique_combination_of_columns(columns := (
            department_id
        )),
        assert_study_window_is_valid
    )
);

SELECT
    department_id::TEXT AS department_id,
    description::TEXT AS description,
    coalesce(timezone, 'UTC')::TEXT AS timezone,
    study_start_on::DATE AS study_start_on,
    study_end_on::DATE AS study_end_on
FROM raw.departments
