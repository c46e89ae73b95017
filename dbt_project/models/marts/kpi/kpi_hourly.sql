-- Headline CX KPIs per UTC hour: what an incident looks like within the day. These are the
-- overall rows of kpi_hourly_by_segment (one computation, macros/metrics/kpis_by_segment.sql).
-- Incremental like kpi_hourly_by_segment: the changed hours are deleted and copied again.
{{ config(
    materialized='incremental',
    incremental_strategy='rebuild_periods',
    period_column='kpi_hour',
    period_grain='hour',
    tags=['kpi_batch'],
) }}
-- depends_on: {{ ref('int_batch__changed_periods') }}
select
    kpi_hour,
    sessions,
    active_users,
    converted_sessions,
    conversion_rate_pct,
    bounce_rate_pct,
    error_session_rate_pct,
    p50_page_load_ms,
    p75_page_load_ms,
    p95_page_load_ms,
    nps_responses,
    nps,
    csat_responses,
    csat_pct,
    nps_sample_too_small,
    csat_sample_too_small,
    tickets_created,
    median_first_reply_minutes,
    median_resolution_minutes
from {{ ref('kpi_hourly_by_segment') }}
where segment_type = 'overall'
{%- if is_incremental() %}
    and {{ in_changed_periods('kpi_hour', 'hour') }}
{%- endif %}
