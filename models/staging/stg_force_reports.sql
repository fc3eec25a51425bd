MODEL (
    name staging.stg_force_reports,
    description 'raw.force_reports is append-only: a corrected record arrives in a later batch, so keep the latest batch''s row per key (the last line of the file if a batch repeats a key)',
    kind VIEW,
    grain (department_id, report_id, officer_id),
    audits (
        not_null(columns := (department_id, report_id, officer_id, occurred_at)),
        unique_combination_of_columns(columns := (department_id, report_id, officer_id)),
        accepted_values("column" := force_type, is_in := @contract_codes(force_reports.force_type)),
        accepted_values("column" := force_level, is_in := @contract_codes(force_reports.force_level)),
        accepted_values("column" := subject_resistance, is_in := @contract_codes(force_reports.subject_resistance))
    )
);

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
