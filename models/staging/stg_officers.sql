MODEL (
    name staging.stg_officers,
    description 'appointed_on is NULL when the export does not give it (the officer is then active from their first to their last record: int_officer_month_spine). raw.officers is append-only: a corrected record arrives in a later batch, so keep the latest batch''s row per key (the last line of the file if a batch repeats a key)',
    kind VIEW,
    grain (department_id, officer_id),
    audits (
        not_null(columns := (department_id, officer_id)),
        unique_combination_of_columns(columns := (department_id, officer_id)),
        accepted_range("column" := birth_year, min_v := 1900, max_v := 2015),
        accepted_values("column" := sex, is_in := @contract_codes(officers.sex)),
        accepted_values("column" := race, is_in := @contract_codes(officers.race))
    )
);

SELECT
    department_id::TEXT AS department_id,
    officer_id::TEXT AS officer_id,
    appointed_on::DATE AS appointed_on,
    separated_on::DATE AS separated_on,
    birth_year::INT AS birth_year,
    sex::TEXT AS sex,
    race::TEXT AS race,
    rank::TEXT AS rank,
    unit::TEXT AS unit,
    first_seen_on::DATE AS first_seen_on,
    last_seen_on::DATE AS last_seen_on,
    _batch_id::INT AS batch_id
FROM raw.officers
QUALIFY
    @latest_version(department_id, officer_id)
