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

page_order as (

    select
        session_id,
        page_path,
        device_type,
        os,
        browser,
        country,
        utm_source,
        utm_medium,
        utm_campaign,
        referrer,
        row_number() over (partition by session_id order by event_at, message_id) as from_start,
        row_number() over (partition by session_id order by event_at desc, message_id desc) as from_end
    from events
    where event_type in ('page', 'screen')

),

entry as (

    select * from page_order where from_start = 1

),

exit_page as (

    select session_id, page_path from page_order where from_end = 1

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
    entry.page_path as landing_page,
    exit_page.page_path as exit_page,
    entry.referrer,
    entry.utm_source,
    entry.utm_medium,
    entry.utm_campaign,
    entry.device_type,
    entry.os,
    entry.browser,
    entry.country,
    session_facts.events = 1 as is_bounce,
    cast(session_facts.reached_funnel_step as integer) as reached_funnel_step,
    session_facts.converted = 1 as is_converted,
    cast(session_facts.p75_page_load_ms as {{ type_double() }}) as p75_page_load_ms,
    cast(session_facts.max_page_load_ms as {{ type_double() }}) as max_page_load_ms,
    plans.plan
from session_facts
left join entry on session_facts.session_id = entry.session_id
left join exit_page on session_facts.session_id = exit_page.session_id
{{ join_plan_at('plans', 'session_facts.stitched_user_id', 'session_facts.session_start_at') }}
{%- if not is_incremental() %}
order by session_facts.session_start_at, session_facts.session_id
{%- endif %}
