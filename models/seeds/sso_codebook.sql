MODEL (
  name seeds.sso_codebook,
  ignored_rules (
    nomissingunittest
  ),
  kind SEED (
    path '../../seeds/sso_codebook.csv'
  ),
  columns (
    item TEXT,
    item_kind TEXT,
    domain TEXT,
    label TEXT,
    min_value INT,
    max_value INT,
    is_confirmatory BOOLEAN
  ),
  grain item,
  audits (
    not_null(columns := (item, item_kind, domain, min_value, max_value, is_confirmatory)),
    unique_combination_of_columns(columns := (
      item
    )),
    accepted_values("column" := item_kind, is_in := ('binary', 'count', 'rating')),
    accepted_values("column" := domain, is_in := ('officer', 'civilian', 'outcome'))
  )
)
