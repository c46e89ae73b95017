-- One row per session: when, how long, what happened, how fast it was, the plan at its start.
-- Incremental by person, from each batch person's rebuild_from_at on (the start of a stretch of
-- activity: no session straddles it; macros/batch/batch.sql).
{{ config(
    materialized='incremental',
    incremental_strategy='rebuild_persons',
    rebuilt_from='session_start_at',
    tags=['hourly_batch'],
) }}
-- depends_on: {{ ref('int_batch__kpi_rows_before') }}

with

events as (

    select * from {{ ref('int_sessions__events_sessionized') }}
    {{ only_batch_persons(time_column='event_at') }}

),

session_facts as (

    select
        session_id,
        stitched_user_id,
        min(event_at) as session_start_at,
        max(event_at) as session_end_at,
        count(*) as events,
        sum(case when event_type in ('page', 'screen') then 1 else 0 end) as page_views,
        sum(case when event_name = '{{ var("error_event") }}' then 1 else 0 end) as errors,
        max({{ funnel_step('event_type', 'event_name') }}) as reached_funnel_step,
        max(case when event_name = '{{ var("conversion_event") }}' then 1 else 0 end) as converted,
        {{ percentile('page_load_ms', 0.75) }} as p75_page_load_ms,
        max(page_load_ms) as max_page_load_ms
    from events
    group by session_id, stitched_user_id

),

-- The first and the last page of each session, as aggregates (one pass, no sort: two windows
-- ordered both ways sorted every page view twice; the model's 30-day full build as plain SQL took
-- 29.3 s with them, 13.3 s without; docs/benchmarks.md).
{%- set entry_columns = ['page_path', 'device_type', 'os', 'browser', 'country', 'utm_source',
                         'utm_medium', 'utm_campaign', 'referrer'] %}
pages as (

    select
        session_id,
        {{ earliest_of(entry_columns, ['event_at', 'message_id']) }} as entry,
        {{ latest_of(['page_path'], ['event_at', 'message_id']) }} as exit_page
    from events
    where event_type in ('page', 'screen')
    group by session_id

)

select
    session_facts.session_id,
    session_facts.stitched_user_id,
    cast(session_facts.session_start_at as {{ dbt.type_timestamp() }}) as session_start_at,
    cast(session_facts.session_end_at as {{ dbt.type_timestamp() }}) as session_end_at,
    cast({{ dbt.datediff('session_facts.session_start_at', 'session_facts.session_end_at', 'second') }}
        as {{ dbt.type_bigint() }}) as duration_seconds,
    cast(session_facts.events as {{ dbt.type_bigint() }}) as events,
    cast(session_facts.page_views as {{ dbt.type_bigint() }}) as page_views,
    cast(session_facts.errors as {{ dbt.type_bigint() }}) as errors,
    pages.entry.page_path as landing_page,
    pages.exit_page.page_path as exit_page,
    pages.entry.referrer as referrer,
    pages.entry.utm_source as utm_source,
    pages.entry.utm_medium as utm_medium,
    pages.entry.utm_campaign as utm_campaign,
    pages.entry.device_type as device_type,
    pages.entry.os as os,
    pages.entry.browser as browser,
    pages.entry.country as country,
    session_facts.events = 1 as is_bounce,
    cast(session_facts.reached_funnel_step as integer) as reached_funnel_step,
    session_facts.converted = 1 as is_converted,
    cast(session_facts.p75_page_load_ms as {{ type_double() }}) as p75_page_load_ms,
    cast(session_facts.max_page_load_ms as {{ type_double() }}) as max_page_load_ms,
    plans.plan
from session_facts
left join pages on session_facts.session_id = pages.session_id
{{ join_plan_at('plans', 'session_facts.stitched_user_id', 'session_facts.session_start_at') }}
{%- if not is_incremental() %}
order by session_facts.session_start_at, session_facts.session_id
{%- endif %}
