MODEL (
    name staging.stg_bwc_videos,
    description 'raw.bwc_videos is append-only: a corrected record arrives in a later batch, so keep the latest batch''s row per key (the last line of the file if a batch repeats a key)',
    kind VIEW,
    grain (department_id, video_id),
    audits (
        not_null(columns := (department_id, video_id, officer_id, started_at)),
        unique_combination_of_columns(columns := (department_id, video_id)),
        accepted_range("column" := duration_s, min_v := 0, max_v := 86400)
    )
);

SELECT
    department_id::TEXT AS department_id,
    video_id::TEXT AS video_id,
    officer_id::TEXT AS officer_id,
    call_id::TEXT AS call_id,
    started_at::TIMESTAMP AS started_at,
    duration_s::DOUBLE AS duration_s,
    is_sampled_for_coding::BOOLEAN AS is_sampled_for_coding,
    sampling_stratum::TEXT AS sampling_stratum,
    _batch_id::INT AS batch_id
FROM raw.bwc_videos
QUALIFY
    @latest_version(department_id, video_id)
