MODEL (
    name staging.stg_departments,
    kind VIEW,
    grain department_id,
    audits (
        not_null(columns := (department_id, study_start_on, study_end_on)),
        unique_combination_of_columns(columns := (
            department_id
        )),
        assert_study_window_is_valid
    )
);

SELECT
    department_id::TEXT AS department_id,
    description::TEXT AS description,
    timezone::TEXT AS timezone,
    study_start_on::DATE AS study_start_on,
    study_end_on::DATE AS study_end_on
FROM raw.departments
