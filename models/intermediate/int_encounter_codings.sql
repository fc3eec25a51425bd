MODEL (
    name intermediate.int_encounter_codings,
    description 'the codings of each video in order: rank 1 (the primary coding) is the earliest coded_at, then the lowest coding_id; rank 2 is the secondary coding of a double-coded video',
    kind FULL,
    grain (department_id, coding_id),
    audits (
        not_null(columns := (department_id, coding_id, video_id, coder_id, coding_rank, n_codings)),
        unique_combination_of_columns(columns := (department_id, coding_id)),
        unique_combination_of_columns(columns := (department_id, video_id, coding_rank)),
        accepted_range("column" := coding_rank, min_v := 1)
    )
);

WITH sso_codings AS (
    SELECT
        department_id,
        coding_id,
        video_id,
        coder_id,
        coded_at,
        codebook_version,
        @sso_items()
    FROM staging.stg_sso_codings
), ranked_codings AS (
    SELECT
        department_id,
        coding_id,
        video_id,
        coder_id,
        coded_at,
        codebook_version,
        row_number() OVER (PARTITION BY department_id, video_id ORDER BY coded_at ASC, coding_id ASC) AS coding_rank,
        count(*) OVER (PARTITION BY department_id, video_id) AS n_codings,
        @sso_items()
    FROM sso_codings
)
SELECT
    ranked_codings.department_id,
    ranked_codings.coding_id,
    ranked_codings.video_id,
    ranked_codings.coder_id,
    ranked_codings.coded_at,
    ranked_codings.codebook_version,
    ranked_codings.coding_rank,
    ranked_codings.n_codings,
    ranked_codings.coding_rank = 1 AS is_primary,
    @sso_items(ranked_codings)
FROM ranked_codings
