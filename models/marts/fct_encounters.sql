MODEL (
    name marts.fct_encounters,
    description 'one row per SSO-coded video: its consensus codes, its officer''s trial arm, and its period relative to the trial: ''pre'' before trial_start_on, ''post'' from trial_start_on to before control_start_on (the wait-list''s training), ''late'' after; is_post = on or after trial_start_on (so ''late'' is post too: filter study_period to compare pre with post). started_at is UTC; encounter_on is its date in the department''s time zone, which the periods compare',
    kind FULL,
    grain (department_id, video_id),
    column_descriptions (
        department_id = 'department',
        video_id = 'camera video',
        officer_id = 'officer',
        call_id = 'call for service',
        call_type = 'call type',
        started_at = 'video start (UTC)',
        encounter_on = 'date of the encounter (local)',
        trial_id = 'trial',
        arm = 'officer''s randomized arm',
        block_id = 'randomization block',
        study_period = 'month of the study window (1 = first)',
        is_post = 'after the treatment arm''s training began',
        n_codings = 'codings of the video',
        is_double_coded = 'coded by two or more coders',
        primary_coder_id = 'coder whose coding counts'
    ),
    audits (
        not_null(
            columns := (department_id, video_id, officer_id, started_at, encounter_on, n_codings, is_double_coded)
        ),
        unique_combination_of_columns(columns := (department_id, video_id)),
        accepted_values("column" := arm, is_in := @contract_codes(trial_assignments.arm)),
        accepted_values("column" := study_period, is_in := ('pre', 'post', 'late')),
        accepted_range("column" := n_codings, min_v := 1),
        forall(criteria := @sso_item_ranges()),
        assert_officer_exists(blocking := FALSE)
    )
);

WITH consensus AS (
    SELECT
        department_id,
        video_id,
        n_codings,
        is_double_coded,
        primary_coder_id,
        @sso_items()
    FROM intermediate.int_encounter_consensus
), videos AS (
    SELECT
        department_id,
        video_id,
        officer_id,
        call_id,
        started_at,
        started_on
    FROM staging.stg_bwc_videos
), calls AS (
    SELECT
        department_id,
        call_id,
        call_type
    FROM staging.stg_calls
), officer_assignments AS (
    SELECT
        department_id,
        officer_id,
        trial_id,
        arm,
        block_id,
        trial_start_on,
        control_start_on
    FROM intermediate.int_officer_assignments
), coded_videos AS (
    SELECT
        videos.department_id,
        videos.video_id,
        videos.officer_id,
        videos.call_id,
        calls.call_type,
        videos.started_at,
        videos.started_on AS encounter_on
    FROM videos
    LEFT JOIN calls
        ON calls.department_id = videos.department_id AND calls.call_id = videos.call_id
), encounter_periods AS (
    SELECT
        coded_videos.department_id,
        coded_videos.video_id,
        officer_assignments.trial_id,
        officer_assignments.arm,
        officer_assignments.block_id,
        CASE
            WHEN officer_assignments.trial_start_on IS NULL
            THEN NULL
            WHEN coded_videos.encounter_on < officer_assignments.trial_start_on
            THEN 'pre'
            WHEN officer_assignments.control_start_on IS NULL
            OR coded_videos.encounter_on < officer_assignments.control_start_on
            THEN 'post'
            ELSE 'late'
        END AS study_period,
        coded_videos.encounter_on >= officer_assignments.trial_start_on AS is_post
    FROM coded_videos
    LEFT JOIN officer_assignments
        ON officer_assignments.department_id = coded_videos.department_id
        AND officer_assignments.officer_id = coded_videos.officer_id
)
SELECT
    consensus.department_id,
    consensus.video_id,
    coded_videos.officer_id,
    coded_videos.call_id,
    coded_videos.call_type,
    coded_videos.started_at,
    coded_videos.encounter_on,
    encounter_periods.trial_id,
    encounter_periods.arm,
    encounter_periods.block_id,
    encounter_periods.study_period,
    encounter_periods.is_post,
    consensus.n_codings,
    consensus.is_double_coded,
    consensus.primary_coder_id,
    @sso_consensus_values(consensus)
FROM consensus
INNER JOIN coded_videos
    ON coded_videos.department_id = consensus.department_id AND coded_videos.video_id = consensus.video_id
LEFT JOIN encounter_periods
    ON encounter_periods.department_id = consensus.department_id
    AND encounter_periods.video_id = consensus.video_id
