MODEL (
  name seeds.force_type_levels,
  ignored_rules (
    nomissingunittest
  ),
  kind SEED (
    path '../../seeds/force_type_levels.csv'
  ),
  columns (
    force_type TEXT,
    force_level INT,
    label TEXT,
    is_weapon BOOLEAN
  ),
  grain force_type,
  audits (
    not_null(columns := (force_type, force_level)),
    unique_combination_of_columns(columns := (
      force_type
    )),
    accepted_values("column" := force_level, is_in := @contract_codes(force_reports.force_level))
  )
)
