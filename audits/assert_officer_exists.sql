AUDIT (
    name assert_officer_exists
);

/* every officer in a fact is on the roster: raw.officers, as audits are not mapped to physical tables */
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
