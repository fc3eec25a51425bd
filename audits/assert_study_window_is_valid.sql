AUDIT (
    name assert_study_window_is_valid
);

/* the study window is ordered and lies within the calendar spine (seeds/calendar_months.csv) */
SELECT
    departments.department_id,
    departments.study_start_on,
    departments.study_end_on
FROM @this_model AS departments
WHERE
    departments.study_start_on > departments.study_end_on
    OR departments.study_start_on < '2000-01-01'::DATE
    OR departments.study_end_on > '2040-12-31'::DATE
