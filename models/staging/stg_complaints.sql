MODEL (
    name staging.stg_complaints,
    description 'raw.complaints is append-only: a corrected record arrives in a later batch, so keep the latest batch''s row per key (complaint x officer x record: record_id tells apart the rows of one complaint x officer, NULL when there is one) (the last line of the file if a batch repeats a key). occurred_at and received_at stay UTC, as raw; occurred_on and received_on are their dates in the department''s local calendar (stg_departments.timezone).',
    kind VIEW,
    grain (department_id, complaint_id, officer_id, record_id),
    audits (
        not_null(columns := (department_id, complaint_id, officer_id, occurred_at, occurred_on)),
        unique_combination_of_columns(columns := (department_id, complaint_id, officer_id, record_id)),
        accepted_values("column" := finding, is_in := @contract_codes(complaints.finding))
    )
);

WITH latest_versions AS (
    SELECT
        department_id::TEXT AS department_id,
        complaint_id::TEXT AS complaint_id,
        officer_id::TEXT AS officer_id,
        record_id::TEXT AS record_id,
        occurred_at::TIMESTAMP AS occurred_at,
        received_at::TIMESTAMP AS received_at,
        allegation::TEXT AS allegation,
        finding::TEXT AS finding,
        is_sustained::BOOLEAN AS is_sustained,
        _batch_id::INT AS batch_id
    FROM raw.complaints
    QUALIFY
        @latest_version(department_id, complaint_id, officer_id, record_id)
), departments AS (
    SELECT
        department_id,
        timezone
    FROM staging.stg_departments
)
SELECT
    latest_versions.department_id,
    latest_versions.complaint_id,
    latest_versions.officer_id,
    latest_versions.record_id,
    latest_versions.occurred_at,
    @local_date(latest_versions.occurred_at, departments.timezone) AS occurred_on,
    latest_versions.received_at,
    @local_date(latest_versions.received_at, departments.timezone) AS received_on,
    latest_versions.allegation,
    latest_versions.finding,
    latest_versions.is_sustained,
    latest_versions.batch_id
FROM latest_versions
LEFT JOIN departments
    ON departments.department_id = latest_versions.department_id
