MODEL (
    name marts.fct_officer_months,
    description 'the officer-month panel: every officer on the roster x every month of the department''s study window, with zeros (not missing rows) for months without events. Months are the department''s local calendar months (stg_departments.timezone): an event is counted in the month of its local date, not of its UTC timestamp',
    kind FULL,
    grain (department_id, officer_id, month_start),
    column_descriptions (
        department_id = 'department',
        officer_id = 'officer (department''s id)',
        month_start = 'local calendar month (its first day)',
        period = 'month of the study window (1 = first)',
        calls_attended = 'calls for service the officer attended in the month',
        hours_on_scene = 'hours on scene at calls in the month',
        force_reports = 'use-of-force reports naming the officer in the month',
        force_reports_level_2_plus = 'force reports of level 2 or higher in the month',
        complaints = 'complaints against the officer in the month',
        sustained_complaints = 'sustained complaints in the month',
        coded_encounters = 'SSO-coded camera encounters in the month',
        trial_id = 'trial',
        arm = 'randomized arm (treatment, control) or none',
        block_id = 'randomization block',
        cohort_month = 'month the officer''s training was scheduled',
        cohort_period = 'period of the scheduled training month',
        first_trained_month = 'month the officer first completed training',
        is_cohort_treated = 'month on or after the scheduled training month',
        is_trained = 'month on or after the officer''s completed training',
        is_active = 'officer on the roster (appointed, not separated) in the month'
    ),
    audits (
        not_null(
            columns := (
                department_id,
                officer_id,
                month_start,
                period,
                calls_attended,
                hours_on_scene,
                force_reports,
                force_reports_level_2_plus,
                complaints,
                sustained_complaints,
                coded_encounters,
                is_cohort_treated,
                is_trained,
                is_active
            )
        ),
        unique_combination_of_columns(columns := (department_id, officer_id, month_start)),
        accepted_values("column" := arm, is_in := @contract_codes(trial_assignments.arm)),
        accepted_range("column" := period, min_v := 1),
        forall(
            criteria := (
                calls_attended >= 0,
                hours_on_scene >= 0,
                force_reports >= 0,
                force_reports_level_2_plus >= 0,
                force_reports_level_2_plus <= force_reports,
                complaints >= 0,
                sustained_complaints >= 0,
                sustained_complaints <= complaints,
                coded_encounters >= 0
            )
        ),
        assert_officer_exists
    )
);

WITH officer_month_spine AS (
    SELECT
        department_id,
        officer_id,
        month_start,
        period,
        is_active
    FROM intermediate.int_officer_month_spine
), calls_by_officer_month AS (
    SELECT
        department_id,
        officer_id,
        month_start,
        calls_attended,
        hours_on_scene
    FROM intermediate.int_calls_by_officer_month
), force_reports_by_officer_month AS (
    SELECT
        department_id,
        officer_id,
        month_start,
        force_reports,
        force_reports_level_2_plus
    FROM intermediate.int_force_reports_by_officer_month
), complaints_by_officer_month AS (
    SELECT
        department_id,
        officer_id,
        month_start,
        complaints,
        sustained_complaints
    FROM intermediate.int_complaints_by_officer_month
), encounter_consensus AS (
    SELECT
        department_id,
        video_id
    FROM intermediate.int_encounter_consensus
), videos AS (
    SELECT
        department_id,
        video_id,
        officer_id,
        started_on
    FROM staging.stg_bwc_videos
), officer_assignments AS (
    SELECT
        department_id,
        officer_id,
        trial_id,
        arm,
        block_id,
        cohort_month
    FROM intermediate.int_officer_assignments
), officer_training AS (
    SELECT
        department_id,
        officer_id,
        first_trained_month
    FROM intermediate.int_officer_training
), departments AS (
    SELECT
        department_id,
        study_start_on
    FROM staging.stg_departments
), coded_encounters_by_officer_month AS (
    SELECT
        videos.department_id,
        videos.officer_id,
        date_trunc('MONTH', videos.started_on)::DATE AS month_start,
        count(DISTINCT videos.video_id) AS coded_encounters
    FROM encounter_consensus
    INNER JOIN videos
        ON videos.department_id = encounter_consensus.department_id
        AND videos.video_id = encounter_consensus.video_id
    GROUP BY
        videos.department_id,
        videos.officer_id,
        date_trunc('MONTH', videos.started_on)::DATE
), officer_cohorts AS (
    SELECT
        officer_assignments.department_id,
        officer_assignments.officer_id,
        officer_assignments.trial_id,
        officer_assignments.arm,
        officer_assignments.block_id,
        officer_assignments.cohort_month,
        @study_period(officer_assignments.cohort_month, departments.study_start_on) AS cohort_period
    FROM officer_assignments
    INNER JOIN departments
        ON departments.department_id = officer_assignments.department_id
)
SELECT
    officer_month_spine.department_id,
    officer_month_spine.officer_id,
    officer_month_spine.month_start,
    officer_month_spine.period,
    coalesce(calls_by_officer_month.calls_attended, 0) AS calls_attended,
    coalesce(calls_by_officer_month.hours_on_scene, 0)::DOUBLE AS hours_on_scene,
    coalesce(force_reports_by_officer_month.force_reports, 0) AS force_reports,
    coalesce(force_reports_by_officer_month.force_reports_level_2_plus, 0) AS force_reports_level_2_plus,
    coalesce(complaints_by_officer_month.complaints, 0) AS complaints,
    coalesce(complaints_by_officer_month.sustained_complaints, 0) AS sustained_complaints,
    coalesce(coded_encounters_by_officer_month.coded_encounters, 0) AS coded_encounters,
    officer_cohorts.trial_id,
    officer_cohorts.arm,
    officer_cohorts.block_id,
    officer_cohorts.cohort_month,
    officer_cohorts.cohort_period,
    officer_training.first_trained_month,
    coalesce(officer_month_spine.month_start >= officer_cohorts.cohort_month, FALSE) AS is_cohort_treated,
    coalesce(officer_month_spine.month_start >= officer_training.first_trained_month, FALSE) AS is_trained,
    officer_month_spine.is_active
FROM officer_month_spine
LEFT JOIN calls_by_officer_month
    ON calls_by_officer_month.department_id = officer_month_spine.department_id
    AND calls_by_officer_month.officer_id = officer_month_spine.officer_id
    AND calls_by_officer_month.month_start = officer_month_spine.month_start
LEFT JOIN force_reports_by_officer_month
    ON force_reports_by_officer_month.department_id = officer_month_spine.department_id
    AND force_reports_by_officer_month.officer_id = officer_month_spine.officer_id
    AND force_reports_by_officer_month.month_start = officer_month_spine.month_start
LEFT JOIN complaints_by_officer_month
    ON complaints_by_officer_month.department_id = officer_month_spine.department_id
    AND complaints_by_officer_month.officer_id = officer_month_spine.officer_id
    AND complaints_by_officer_month.month_start = officer_month_spine.month_start
LEFT JOIN coded_encounters_by_officer_month
    ON coded_encounters_by_officer_month.department_id = officer_month_spine.department_id
    AND coded_encounters_by_officer_month.officer_id = officer_month_spine.officer_id
    AND coded_encounters_by_officer_month.month_start = officer_month_spine.month_start
LEFT JOIN officer_cohorts
    ON officer_cohorts.department_id = officer_month_spine.department_id
    AND officer_cohorts.officer_id = officer_month_spine.officer_id
LEFT JOIN officer_training
    ON officer_training.department_id = officer_month_spine.department_id
    AND officer_training.officer_id = officer_month_spine.officer_id
