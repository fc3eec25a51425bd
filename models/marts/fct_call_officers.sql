MODEL (
    name marts.fct_call_officers,
    description 'one row per officer attending a call for service, with who else attended: the room for spillover between trial arms (analysis/spillover.py). The call''s month is marts.fct_calls''s month_start; the officer''s trial arm and block are those of intermediate.int_officer_assignments; an officer counts as trained on a call when training was first completed before the day the call was received (received_on, the call''s local date). study_period places the call against the officer''s trial: ''pre'' before trial_start_on, ''post'' from trial_start_on to before control_start_on (the wait-list''s training), ''late'' after; NULL for officers in no trial. FULL: a training record or an assignment that arrives later changes the flags of past calls.',
    kind FULL,
    grain (department_id, call_id, officer_id),
    column_descriptions (
        department_id = 'department',
        call_id = 'call for service',
        officer_id = 'officer who attended',
        role = 'role on the call (primary or backup)',
        received_at = 'call received (UTC)',
        month_start = 'calendar month of the call',
        trial_id = 'officer''s trial',
        block_id = 'officer''s randomization block',
        arm = 'officer''s randomized arm',
        study_period = 'call''s period in the officer''s trial (pre, post, late)',
        is_trained = 'officer had completed training before the call''s day',
        n_officers_on_call = 'officers who attended the call',
        n_other_treatment_arm = 'other officers on the call assigned to the treatment arm',
        n_other_control_arm = 'other officers on the call assigned to the control arm',
        n_other_trained = 'other officers on the call trained before the call''s day',
        has_other_treatment_arm = 'another officer on the call was assigned to the treatment arm',
        has_other_trained = 'another officer on the call was trained before the call''s day'
    ),
    audits (
        not_null(
            columns := (
                department_id,
                call_id,
                officer_id,
                received_at,
                month_start,
                is_trained,
                n_officers_on_call,
                n_other_treatment_arm,
                n_other_control_arm,
                n_other_trained,
                has_other_treatment_arm,
                has_other_trained
            )
        ),
        unique_combination_of_columns(columns := (department_id, call_id, officer_id)),
        accepted_values("column" := arm, is_in := @contract_codes(trial_assignments.arm)),
        accepted_values("column" := study_period, is_in := ('pre', 'post', 'late')),
        accepted_range("column" := n_officers_on_call, min_v := 1),
        forall(
            criteria := (
                n_other_treatment_arm >= 0,
                n_other_control_arm >= 0,
                n_other_trained >= 0,
                n_other_treatment_arm + n_other_control_arm <= n_officers_on_call - 1,
                n_other_trained <= n_officers_on_call - 1
            )
        ),
        assert_officer_exists(blocking := FALSE)
    )
);

WITH call_officers AS (
    SELECT
        department_id,
        call_id,
        officer_id,
        role
    FROM staging.stg_call_officers
), calls AS (
    SELECT
        department_id,
        call_id,
        received_at,
        received_on,
        month_start
    FROM marts.fct_calls
), officer_assignments AS (
    SELECT
        department_id,
        officer_id,
        trial_id,
        block_id,
        arm,
        trial_start_on,
        control_start_on
    FROM intermediate.int_officer_assignments
), officer_training AS (
    SELECT
        department_id,
        officer_id,
        first_trained_on
    FROM intermediate.int_officer_training
), attendances AS (
    SELECT
        call_officers.department_id,
        call_officers.call_id,
        call_officers.officer_id,
        call_officers.role,
        calls.received_at,
        calls.month_start,
        officer_assignments.trial_id,
        officer_assignments.block_id,
        officer_assignments.arm,
        CASE
            WHEN officer_assignments.trial_start_on IS NULL
            THEN NULL
            WHEN calls.received_on < officer_assignments.trial_start_on
            THEN 'pre'
            WHEN officer_assignments.control_start_on IS NULL
            OR calls.received_on < officer_assignments.control_start_on
            THEN 'post'
            ELSE 'late'
        END AS study_period,
        coalesce(officer_training.first_trained_on < calls.received_on, FALSE) AS is_trained
    FROM call_officers
    INNER JOIN calls
        ON calls.department_id = call_officers.department_id AND calls.call_id = call_officers.call_id
    LEFT JOIN officer_assignments
        ON officer_assignments.department_id = call_officers.department_id
        AND officer_assignments.officer_id = call_officers.officer_id
    LEFT JOIN officer_training
        ON officer_training.department_id = call_officers.department_id
        AND officer_training.officer_id = call_officers.officer_id
), attendance_flags AS (
    SELECT
        department_id,
        call_id,
        officer_id,
        CASE WHEN arm = 'treatment' THEN 1 ELSE 0 END AS is_treatment_arm,
        CASE WHEN arm = 'control' THEN 1 ELSE 0 END AS is_control_arm,
        CASE WHEN is_trained THEN 1 ELSE 0 END AS is_trained_count
    FROM attendances
), officers_by_call AS (
    SELECT
        department_id,
        call_id,
        count(*) AS n_officers,
        sum(is_treatment_arm) AS n_treatment_arm,
        sum(is_control_arm) AS n_control_arm,
        sum(is_trained_count) AS n_trained
    FROM attendance_flags
    GROUP BY
        department_id,
        call_id
), others_on_call AS (
    SELECT
        attendance_flags.department_id,
        attendance_flags.call_id,
        attendance_flags.officer_id,
        officers_by_call.n_officers,
        officers_by_call.n_treatment_arm - attendance_flags.is_treatment_arm AS n_other_treatment_arm,
        officers_by_call.n_control_arm - attendance_flags.is_control_arm AS n_other_control_arm,
        officers_by_call.n_trained - attendance_flags.is_trained_count AS n_other_trained
    FROM attendance_flags
    INNER JOIN officers_by_call
        ON officers_by_call.department_id = attendance_flags.department_id
        AND officers_by_call.call_id = attendance_flags.call_id
)
SELECT
    attendances.department_id,
    attendances.call_id,
    attendances.officer_id,
    attendances.role,
    attendances.received_at,
    attendances.month_start,
    attendances.trial_id,
    attendances.block_id,
    attendances.arm,
    attendances.study_period,
    attendances.is_trained,
    others_on_call.n_officers::INT AS n_officers_on_call,
    others_on_call.n_other_treatment_arm::INT AS n_other_treatment_arm,
    others_on_call.n_other_control_arm::INT AS n_other_control_arm,
    others_on_call.n_other_trained::INT AS n_other_trained,
    others_on_call.n_other_treatment_arm > 0 AS has_other_treatment_arm,
    others_on_call.n_other_trained > 0 AS has_other_trained
FROM attendances
INNER JOIN others_on_call
    ON others_on_call.department_id = attendances.department_id
    AND others_on_call.call_id = attendances.call_id
    AND others_on_call.officer_id = attendances.officer_id
