-- The daily KPIs for each segment, to answer "for whom" (see macros/metrics/kpis_by_segment.sql).
-- Churn stays in kpi_daily only.
-- Incremental: a batch deletes and recomputes the days it changed (int_batch__changed_periods).
{{ config(
    materialized='incremental',
    incremental_strategy='rebuild_periods',
    period_column='kpi_date',
    period_grain='day',
    tags=['kpi_batch'],
) }}
-- depends_on: {{ ref('int_batch__changed_periods') }}
{{ kpis_by_segment('day') }}
