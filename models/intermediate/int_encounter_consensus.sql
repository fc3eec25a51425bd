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
        personal_conversation,
        repeated_commands,
        commands_issued,
        empathy,
        explained_reason,
        listened,
        respect,
        calm_tone,
        gave_choices,
        used_time_distance,
        threatened,
        used_profanity,
        civilian_resistance,
        civilian_demeanor,
        civilian_intoxicated,
        civilian_mental_illness,
        civilian_weapon,
        arrest,
        force_used,
        injury
    FROM intermediate.int_encounter_codings
), consensus AS (
    SELECT
        department_id,
        video_id,
        count(*) AS n_codings,
        max(coder_id) FILTER(WHERE
            coding_rank = 1) AS primary_coder_id,
        max(personal_conversation) FILTER(WHERE
            coding_rank = 1) AS personal_conversation,
        max(repeated_commands) FILTER(WHERE
            coding_rank = 1) AS repeated_commands,
        max(commands_issued) FILTER(WHERE
            coding_rank = 1) AS commands_issued,
        avg(empathy::DOUBLE) AS empathy,
        max(explained_reason) FILTER(WHERE
            coding_rank = 1) AS explained_reason,
        avg(listened::DOUBLE) AS listened,
        avg(respect::DOUBLE) AS respect,
        avg(calm_tone::DOUBLE) AS calm_tone,
        max(gave_choices) FILTER(WHERE
            coding_rank = 1) AS gave_choices,
        max(used_time_distance) FILTER(WHERE
            coding_rank = 1) AS used_time_distance,
        max(threatened) FILTER(WHERE
            coding_rank = 1) AS threatened,
        max(used_profanity) FILTER(WHERE
            coding_rank = 1) AS used_profanity,
        avg(civilian_resistance::DOUBLE) AS civilian_resistance,
        avg(civilian_demeanor::DOUBLE) AS civilian_demeanor,
        max(civilian_intoxicated) FILTER(WHERE
            coding_rank = 1) AS civilian_intoxicated,
        max(civilian_mental_illness) FILTER(WHERE
            coding_rank = 1) AS civilian_mental_illness,
        max(civilian_weapon) FILTER(WHERE
            coding_rank = 1) AS civilian_weapon,
        max(arrest) FILTER(WHERE
            coding_rank = 1) AS arrest,
        max(force_used) FILTER(WHERE
            coding_rank = 1) AS force_used,
        max(injury) FILTER(WHERE
            coding_rank = 1) AS injury
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
    consensus.personal_conversation,
    consensus.repeated_commands,
    consensus.commands_issued,
    consensus.empathy,
    consensus.explained_reason,
    consensus.listened,
    consensus.respect,
    consensus.calm_tone,
    consensus.gave_choices,
    consensus.used_time_distance,
    consensus.threatened,
    consensus.used_profanity,
    consensus.civilian_resistance,
    consensus.civilian_demeanor,
    consensus.civilian_intoxicated,
    consensus.civilian_mental_illness,
    consensus.civilian_weapon,
    consensus.arrest,
    consensus.force_used,
    consensus.injury
FROM consensus
