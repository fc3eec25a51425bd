MODEL (
    name intermediate.int_complaints_by_officer_month,
    description 'complaints by the local calendar month of the incident (occurred_on: occurred_at''s date in the department''s time zone), not of their receipt',
    kind FULL,
    grain (department_id, officer_id, month_start),
    audits (
        not_null(columns := (department_id, officer_id, month_start, complaints, sustained_complaints)),
        unique_combination_of_columns(columns := (department_id, officer_id, month_start)),
        accepted_range("column" := complaints, min_v := 1),
        accepted_range("column" := sustained_complaints, min_v := 0),
        assert_officer_exists(blocking := FALSE)
    )
);

WITH complaints AS (
    SELECT
        department_id,
        complaint_id,
        officer_id,
        occurred_on,
        finding,
        is_sustained
    FROM staging.stg_complaints
), complaints_by_officer_month AS (
    SELECT
        department_id,
        officer_id,
        date_trunc('MONTH', occurred_on)::DATE AS month_start,
        count(DISTINCT complaint_id) AS complaints,
        count(DISTINCT complaint_id) FILTER(WHERE
            coalesce(is_sustained, finding = 'sustained')) AS sustained_complaints
    FROM complaints
    GROUP BY
        department_id,
        officer_id,
        date_trunc('MONTH', occurred_on)::DATE
)
SELECT
    complaints_by_officer_month.department_id,
    complaints_by_officer_month.officer_id,
    complaints_by_officer_month.month_start,
    complaints_by_officer_month.complaints,
    complaints_by_officer_month.sustained_complaints
FROM complaints_by_officer_month
