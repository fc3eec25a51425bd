MODEL (
    name staging.stg_officer_units,
    description 'officer x unit assignment (a snapshot has started_on = ended_on). raw.officer_units is append-only: a corrected record arrives in a later batch, so keep the latest batch''s row per key (the last line of the file if a batch repeats a key)',
    kind VIEW,
    grain (department_id, officer_id, started_on),
    audits (
        not_null(columns := (department_id, officer_id, unit_id, started_on)),
        unique_combination_of_columns(columns := (department_id, officer_id, started_on)),
        forall(criteria := (
            ended_on IS NULL OR ended_on >= started_on
        ))
    )
);

SELECT
    department_id::TEXT AS department_id,
    officer_id::TEXT AS officer_id,
    unit_id::TEXT AS unit_id,
    unit_type::TEXT AS unit_type,
    unit_name::TEXT AS unit_name,
    started_on::DATE AS started_on,
    ended_on::DATE AS ended_on,
    _batch_id::INT AS batch_id
FROM raw.officer_units
QUALIFY
    @latest_version(department_id, officer_id, started_on)
