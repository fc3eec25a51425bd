MODEL (
    name intermediate.int_call_types,
    description 'every call type a department uses, with its group from seeds/call_type_groups.csv (compared lower-cased, trimmed, with underscores as spaces); a type not in the seed is ''other''',
    kind FULL,
    grain (department_id, call_type),
    audits (
        not_null(columns := (department_id, call_type, call_type_group)),
        unique_combination_of_columns(columns := (department_id, call_type)),
        accepted_values(
            "column" := call_type_group,
            is_in := ('disturbance', 'domestic', 'traffic', 'mental_health', 'property', 'violent', 'other')
        )
    )
);

WITH calls AS (
    SELECT
        department_id,
        call_type
    FROM staging.stg_calls
    WHERE
        NOT call_type IS NULL
), call_type_groups AS (
    SELECT
        call_type,
        call_type_group
    FROM seeds.call_type_groups
), department_call_types AS (
    SELECT DISTINCT
        department_id,
        call_type,
        lower(trim(replace(call_type, '_', ' '))) AS normalized_call_type
    FROM calls
)
SELECT
    department_call_types.department_id,
    department_call_types.call_type,
    coalesce(call_type_groups.call_type_group, 'other') AS call_type_group
FROM department_call_types
LEFT JOIN call_type_groups
    ON call_type_groups.call_type = department_call_types.normalized_call_type
