-- The daily KPIs for each segment, to answer "for whom" (see macros/metrics/kpis_by_segment.sql).
-- Churn stays in kpi_daily only.
-- Incremental: a batch deletes and recomputes the days it changed (int_batch__changed_periods).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_changed_periods('kpi_date', 'day') }}",
    tags=['kpi_batch'],
) }}
-- depends_on: {{ ref('int_batch__changed_periods') }}
{{ kpis_by_segment('day') }}
