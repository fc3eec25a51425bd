MODEL (
  name seeds.call_type_groups,
  ignored_rules (
    nomissingunittest
  ),
  kind SEED (
    path '../../seeds/call_type_groups.csv'
  ),
  columns (
    call_type TEXT,
    call_type_group TEXT
  ),
  grain call_type,
  audits (
    not_null(columns := (call_type, call_type_group)),
    unique_combination_of_columns(columns := (
      call_type
    )),
    accepted_values(
      "column" := call_type_group,
      is_in := (
        'disturbance',
        'domestic',
        'traffic',
        'mental_health',
        'property',
        'violent',
        'other'
      )
    )
  )
)
