MODEL (
    name marts.rpt_sso_reliability,
    description 'Inter-rater reliability per codebook item on the double-coded videos: exactly two codings per video, the primary and the secondary (coding ranks 1 and 2), both with a value. Krippendorff''s alpha for two coders and no missing values, with n = 2N pairable values of N videos: alpha = 1 - (n - 1) * sum_u 2 delta(c1, c2) / sum_(i != j) delta(v_i, v_j), where delta is 1[c1 != c2] for binary items (nominal metric; the denominator is n^2 - sum_c n_c^2) and (c1 - c2)^2 for counts and ratings (interval metric; the denominator is 2 * (n * sum v^2 - (sum v)^2)). Alpha is NULL when every value is the same (no variation).',
    kind FULL,
    grain (department_id, item),
    column_descriptions (
        department_id = 'department',
        item = 'SSO codebook item',
        item_kind = 'binary, rating or count',
        n_double_coded = 'double-coded videos',
        percent_agreement = 'share of exact agreement',
        krippendorff_alpha = 'Krippendorff''s alpha'
    ),
    audits (
        not_null(columns := (department_id, item, item_kind, n_double_coded)),
        unique_combination_of_columns(columns := (department_id, item)),
        accepted_values("column" := item_kind, is_in := ('binary', 'count', 'rating')),
        accepted_range("column" := n_double_coded, min_v := 0),
        accepted_range("column" := percent_agreement, min_v := 0, max_v := 100),
        accepted_range("column" := krippendorff_alpha, min_v := -1, max_v := 1)
    )
);

WITH encounter_codings AS (
    SELECT
        department_id,
        video_id,
        coding_rank,
        @sso_items()
    FROM intermediate.int_encounter_codings
    WHERE
        n_codings >= 2 AND coding_rank <= 2
), codebook AS (
    SELECT
        item,
        item_kind
    FROM seeds.sso_codebook
), departments AS (
    SELECT
        department_id
    FROM staging.stg_departments
), item_values AS (
    SELECT
        encounter_codings.department_id,
        encounter_codings.video_id,
        encounter_codings.coding_rank,
        codebook.item,
        codebook.item_kind,
        @sso_item_value(encounter_codings, codebook.item)::DOUBLE AS item_value
    FROM encounter_codings
    CROSS JOIN codebook
), paired_values AS (
    SELECT
        department_id,
        video_id,
        item,
        item_kind,
        max(item_value) FILTER(WHERE
            coding_rank = 1) AS primary_value,
        max(item_value) FILTER(WHERE
            coding_rank = 2) AS secondary_value
    FROM item_values
    GROUP BY
        department_id,
        video_id,
        item,
        item_kind
), units AS (
    SELECT
        department_id,
        video_id,
        item,
        item_kind,
        primary_value,
        secondary_value
    FROM paired_values
    WHERE
        NOT primary_value IS NULL AND NOT secondary_value IS NULL
), item_disagreement AS (
    SELECT
        department_id,
        item,
        item_kind,
        count(*) AS n_double_coded,
        avg((
            CASE WHEN primary_value = secondary_value THEN 100.0 ELSE 0.0 END
        )::DOUBLE) AS percent_agreement,
        sum(
            CASE
                WHEN item_kind = 'binary'
                THEN CASE WHEN primary_value = secondary_value THEN 0.0 ELSE 1.0 END
                ELSE (
                    primary_value - secondary_value
                ) * (
                    primary_value - secondary_value
                )
            END
        ) AS unit_disagreement,
        sum(primary_value + secondary_value) AS sum_values,
        sum(primary_value * primary_value + secondary_value * secondary_value) AS sum_squared_values
    FROM units
    GROUP BY
        department_id,
        item,
        item_kind
), value_counts AS (
    SELECT
        department_id,
        item,
        value,
        count(*) AS n_value
    FROM (
        SELECT
            department_id,
            item,
            primary_value AS value
        FROM units
        UNION ALL
        SELECT
            department_id,
            item,
            secondary_value AS value
        FROM units
    ) AS pairable_values
    GROUP BY
        department_id,
        item,
        value
), nominal_expected AS (
    SELECT
        department_id,
        item,
        sum(n_value * n_value) AS sum_squared_value_counts
    FROM value_counts
    GROUP BY
        department_id,
        item
), expected_disagreement AS (
    SELECT
        item_disagreement.department_id,
        item_disagreement.item,
        item_disagreement.n_double_coded,
        item_disagreement.percent_agreement,
        item_disagreement.unit_disagreement,
        2 * item_disagreement.n_double_coded AS n_values,
        CASE
            WHEN item_disagreement.item_kind = 'binary'
            THEN 4.0 * item_disagreement.n_double_coded * item_disagreement.n_double_coded - nominal_expected.sum_squared_value_counts
            ELSE 2.0 * (
                2 * item_disagreement.n_double_coded * item_disagreement.sum_squared_values - item_disagreement.sum_values * item_disagreement.sum_values
            )
        END AS pair_disagreement
    FROM item_disagreement
    INNER JOIN nominal_expected
        ON nominal_expected.department_id = item_disagreement.department_id
        AND nominal_expected.item = item_disagreement.item
), item_reliability AS (
    SELECT
        department_id,
        item,
        n_double_coded,
        percent_agreement,
        CASE
            WHEN pair_disagreement > 0
            THEN 1.0 - (
                n_values - 1
            ) * 2.0 * unit_disagreement / pair_disagreement
        END AS krippendorff_alpha
    FROM expected_disagreement
)
SELECT
    departments.department_id,
    codebook.item,
    codebook.item_kind,
    coalesce(item_reliability.n_double_coded, 0) AS n_double_coded,
    item_reliability.percent_agreement::DOUBLE AS percent_agreement,
    item_reliability.krippendorff_alpha::DOUBLE AS krippendorff_alpha
FROM departments
CROSS JOIN codebook
LEFT JOIN item_reliability
    ON item_reliability.department_id = departments.department_id AND item_reliability.item = codebook.item
