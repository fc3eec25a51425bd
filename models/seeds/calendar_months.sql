MODEL (
  name seeds.calendar_months,
  ignored_rules (
    nomissingunittest
  ),
  kind SEED (
    path '../../seeds/calendar_months.csv'
  ),
  columns (
    month_start DATE,
    month_end DATE
  ),
  grain month_start,
  audits (
    not_null(columns := (month_start, month_end)),
    unique_combination_of_columns(columns := (
      month_start
    ))
  )
)
