AUDIT (name assert_officer_exists);
-- every officer in a fact is on the department's roster (raw.officers, not staging.stg_officers:
-- an audit's query is not mapped to SQLMesh's physical tables, and on a fresh warehouse the
-- staging views do not exist yet while the first plan audits its models)
SELECT
    fact.department_id,
    fact.officer_id
FROM @this_model AS fact
LEFT JOIN (
    SELECT DISTINCT
        department_id,
        officer_id
    FROM raw.officers
) AS roster
    ON roster.department_id = fact.department_id AND roster.officer_id = fact.officer_id
WHERE
    roster.officer_id IS NULL
