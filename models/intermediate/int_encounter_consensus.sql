MODEL (
    name intermediate.int_encounter_consensus,
    description 'the consensus of a video''s codings: binary and count items take the primary (earliest) coding''s value, ratings the mean of all codings',
    kind FULL,
    grain (department_id, video_id),
    audits (
        not_null(columns := (department_id, video_id, n_codings, is_double_coded, primary_coder_id)),
        unique_combination_of_columns(columns := (department_id, video_id)),
        accepted_range("column" := n_codings, min_v := 1)
    )
);

WITH encounter_codings AS (
    SELECT
        department_id,
        video_id,
        coder_id,
        coding_rank,
        @sso_items()
    FROM intermediate.int_encounter_codings
), consensus AS (
    SELECT
        department_id,
        video_id,
        count(*) AS n_codings,
        max(coder_id) FILTER(WHERE
            coding_rank = 1) AS primary_coder_id,
        @sso_consensus(coding_rank)
    FROM encounter_codings
    GROUP BY
        department_id,
        video_id
)
SELECT
    consensus.department_id,
    consensus.video_id,
    consensus.n_codings,
    consensus.n_codings >= 2 AS is_double_coded,
    consensus.primary_coder_id,
    @sso_items(consensus)
FROM consensus
