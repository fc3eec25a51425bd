MODEL (
    name staging.stg_force_reports,
    description 'raw.force_reports is append-only: a corrected record arrives in a later batch, so keep the latest batch''s row per key (the last line of the file if a batch repeats a key). occurred_at stays UTC, as raw; occurred_on is its date in the department''s local calendar (stg_departments.timezone), from which every month of a force report is cut.',
    kind VIEW,
    grain (department_id, report_id, officer_id),
    audits (
        not_null(columns := (department_id, report_id, officer_id, occurred_at, occurred_on)),
        unique_combination_of_columns(columns := (department_id, report_id, officer_id)),
        accepted_values("column" := force_type, is_in := @contract_codes(force_reports.force_type)),
        accepted_values("column" := force_level, is_in := @contract_codes(force_reports.force_level)),
        accepted_values("column" := subject_resistance, is_in := @contract_codes(force_reports.subject_resistance))
    )
);

WITH latest_versions AS (
    SELECT
        department_id::TEXT AS department_id,
        report_id::TEXT AS report_id,
        officer_id::TEXT AS officer_id,
        occurred_at::TIMESTAMP AS occurred_at,
        call_id::TEXT AS call_id,
        force_type::TEXT AS force_type,
        force_category::TEXT AS force_category,
        force_level::INT AS force_level,
        subject_resistance::TEXT AS subject_resistance,
        is_subject_injured::BOOLEAN AS is_subject_injured,
        is_officer_injured::BOOLEAN AS is_officer_injured,
        subject_key::TEXT AS subject_key,
        subject_count::INT AS subject_count,
        _batch_id::INT AS batch_id
    FROM raw.force_reports
    QUALIFY
        @latest_version(department_id, report_id, officer_id)
), departments AS (
    SELECT
        department_id,
        timezone
    FROM staging.stg_departments
)
SELECT
    latest_versions.department_id,
    latest_versions.report_id,
    latest_versions.officer_id,
    latest_versions.occurred_at,
    @local_date(latest_versions.occurred_at, departments.timezone) AS occurred_on,
    latest_versions.call_id,
    latest_versions.force_type,
    latest_versions.force_category,
    latest_versions.force_level,
    latest_versions.subject_resistance,
    latest_versions.is_subject_injured,
    latest_versions.is_officer_injured,
    latest_versions.subject_key,
    latest_versions.subject_count,
    latest_versions.batch_id
FROM latest_versions
LEFT JOIN departments
    ON departments.department_id = latest_versions.department_id
