-- The hourly KPIs for each segment (see macros/metrics/kpis_by_segment.sql).
-- Incremental: a batch deletes and recomputes the hours it changed (int_batch__changed_periods).
{{ config(
    materialized='incremental',
    incremental_strategy='rebuild_periods',
    period_column='kpi_hour',
    period_grain='hour',
    tags=['kpi_batch'],
) }}
-- depends_on: {{ ref('int_batch__changed_periods') }}
{{ kpis_by_segment('hour') }}
