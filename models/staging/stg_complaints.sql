MODEL (
    name staging.stg_complaints,
    description 'raw.complaints is append-only: a corrected record arrives in a later batch, so keep the latest batch''s row per key (complaint x officer x record: record_id tells apart the rows of one complaint x officer, NULL when there is one) (the last line of the file if a batch repeats a key)',
    kind VIEW,
    grain (department_id, complaint_id, officer_id, record_id),
    audits (
        not_null(columns := (department_id, complaint_id, officer_id, occurred_at)),
        unique_combination_of_columns(columns := (department_id, complaint_id, officer_id, record_id)),
        accepted_values("column" := finding, is_in := @contract_codes(complaints.finding))
    )
);

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
