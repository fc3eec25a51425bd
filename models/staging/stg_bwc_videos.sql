MODEL (
    name staging.stg_bwc_videos,
    description 'raw.bwc_videos is append-only: a corrected record arrives in a later batch, so keep the latest batch''s row per key (the last line of the file if a batch repeats a key). started_at stays UTC, as raw; started_on is its date in the department''s local calendar (stg_departments.timezone).',
    kind VIEW,
    grain (department_id, video_id),
    audits (
        not_null(columns := (department_id, video_id, officer_id, started_at, started_on)),
        unique_combination_of_columns(columns := (department_id, video_id)),
        accepted_range("column" := duration_s, min_v := 0, max_v := 86400)
    )
);

WITH latest_versions AS (
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
), departments AS (
    SELECT
        department_id,
        timezone
    FROM staging.stg_departments
)
SELECT
    latest_versions.department_id,
    latest_versions.video_id,
    latest_versions.officer_id,
    latest_versions.call_id,
    latest_versions.started_at,
    @local_date(latest_versions.started_at, departments.timezone) AS started_on,
    latest_versions.duration_s,
    latest_versions.is_sampled_for_coding,
    latest_versions.sampling_stratum,
    latest_versions.batch_id
FROM latest_versions
LEFT JOIN departments
    ON departments.department_id = latest_versions.department_id
