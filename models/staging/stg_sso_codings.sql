MODEL (
    name staging.stg_sso_codings,
    description 'raw.sso_codings is append-only: a corrected record arrives in a later batch, so keep the latest batch''s row per key (the last line of the file if a batch repeats a key)',
    kind VIEW,
    grain (department_id, coding_id),
    audits (
        not_null(columns := (department_id, coding_id, video_id, coder_id)),
        unique_combination_of_columns(columns := (department_id, coding_id)),
        forall(criteria := @sso_item_ranges())
    )
);

SELECT
    department_id::TEXT AS department_id,
    coding_id::TEXT AS coding_id,
    video_id::TEXT AS video_id,
    coder_id::TEXT AS coder_id,
    coded_at::TIMESTAMP AS coded_at,
    codebook_version::TEXT AS codebook_version,
    @EACH(@sso_items(), item -> item::INT AS item),
    _batch_id::INT AS batch_id
FROM raw.sso_codings
QUALIFY
    @latest_version(department_id, coding_id)
