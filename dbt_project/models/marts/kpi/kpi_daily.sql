-- Headline CX KPIs per UTC day: the overall rows of kpi_daily_by_segment (one computation of
-- the shared KPIs, macros/metrics/kpis_by_segment.sql), plus what only makes sense for the whole
-- day: orders by event day, CES, and churn.
-- Incremental: a batch recomputes its earliest changed day and every day after it (churn on a
-- day depends on the 2 x churn_window_days before it).
{{ config(
    materialized='incremental',
    incremental_strategy='rebuild_periods',
    period_column='kpi_date',
    periods='changed_and_later',
    tags=['kpi_batch'],
) }}
-- depends_on: {{ ref('int_batch__changed_periods') }}
{#- the earliest changed day's start, a literal: reads of the facts bounded by it skip older blocks #}
{%- set changed_from = earliest_changed_start('day') if is_incremental() else none %}
with

overall as (

    select * from {{ ref('kpi_daily_by_segment') }}
    where segment_type = 'overall'
    {%- if is_incremental() %}
        and kpi_date >= {{ earliest_changed_day() }}
    {%- endif %}

),

orders as (

    select
        cast({{ dbt.date_trunc('day', 'event_at') }} as date) as kpi_date,
        count(*) as orders
    from {{ ref('fct_events') }}
    where event_name = '{{ var("conversion_event") }}' and not coalesce(is_bot, false)
    {%- if is_incremental() %}
        and event_at >= {{ changed_from }}
    {%- endif %}
    group by 1

),

ces as (

    select
        cast({{ dbt.date_trunc('day', 'created_at') }} as date) as kpi_date,
        count(score) as ces_responses,
        avg(score) as ces_mean
    from {{ ref('fct_survey_responses') }}
    where survey_type = 'ces'
    group by 1

),

-- Churn: a person who was active in the previous window [D - 2w + 1, D - w] (w = churn window)
-- and not in the current one [D - w + 1, D]. For each stretch between two active days a < b,
-- the person counts as churned on the days D with a + w <= D < b and D <= a + 2w - 1.
active_days as (

    select distinct
        stitched_user_id,
        cast({{ dbt.date_trunc('day', 'session_start_at') }} as date) as active_date
    from {{ ref('fct_sessions') }}
    {%- if is_incremental() %}
    where session_start_at >= {{ dbt.dateadd('day', -2 * var('churn_window_days'), changed_from) }}
    {%- endif %}

),

active_stretches as (

    select
        stitched_user_id,
        active_date,
        lead(active_date) over (partition by stitched_user_id order by active_date) as next_active_date
    from active_days

),

churned as (

    select overall.kpi_date, count(distinct active_stretches.stitched_user_id) as churned_users
    from overall
    inner join active_stretches
        on overall.kpi_date >= {{ dbt.dateadd('day', var('churn_window_days'), 'active_stretches.active_date') }}
        and overall.kpi_date <= {{ dbt.dateadd('day', 2 * var('churn_window_days') - 1, 'active_stretches.active_date') }}
        and (active_stretches.next_active_date is null
             or overall.kpi_date < active_stretches.next_active_date)
    group by overall.kpi_date

),

previously_active as (

    select overall.kpi_date, count(distinct active_days.stitched_user_id) as previously_active_users
    from overall
    inner join active_days
        on active_days.active_date >= {{ dbt.dateadd('day', 1 - 2 * var('churn_window_days'), 'overall.kpi_date') }}
        and active_days.active_date <= {{ dbt.dateadd('day', -1 * var('churn_window_days'), 'overall.kpi_date') }}
    group by overall.kpi_date

)

select
    overall.kpi_date,
    overall.sessions,
    overall.active_users,
    overall.converted_sessions,
    cast(coalesce(orders.orders, 0) as {{ dbt.type_bigint() }}) as orders,
    overall.conversion_rate_pct,
    overall.bounce_rate_pct,
    overall.error_session_rate_pct,
    overall.p50_page_load_ms,
    overall.p75_page_load_ms,
    overall.p95_page_load_ms,
    overall.nps_responses,
    overall.nps,
    overall.csat_responses,
    overall.csat_pct,
    cast(coalesce(ces.ces_responses, 0) as {{ dbt.type_bigint() }}) as ces_responses,
    cast(ces.ces_mean as {{ type_double() }}) as ces_mean,
    overall.nps_sample_too_small,
    overall.csat_sample_too_small,
    overall.tickets_created,
    overall.median_first_reply_minutes,
    overall.median_resolution_minutes,
    cast(coalesce(previously_active.previously_active_users, 0) as {{ dbt.type_bigint() }})
        as previously_active_users,
    cast(coalesce(churned.churned_users, 0) as {{ dbt.type_bigint() }}) as churned_users,
    cast({{ pct('churned.churned_users', 'previously_active.previously_active_users') }}
        as {{ type_double() }}) as churn_rate_pct
from overall
left join orders on overall.kpi_date = orders.kpi_date
left join ces on overall.kpi_date = ces.kpi_date
left join churned on overall.kpi_date = churned.kpi_date
left join previously_active on overall.kpi_date = previously_active.kpi_date
