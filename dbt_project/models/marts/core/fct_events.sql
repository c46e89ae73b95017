-- One row per event (deduplicated), with its person and, for user-initiated events, its session.
-- Incremental by person, from each batch person's rebuild_from_at on (macros/batch/batch.sql).
{{ config(
    materialized='incremental',
    incremental_strategy='rebuild_persons',
    rebuilt_from='event_at',
    tags=['hourly_batch'],
) }}
-- depends_on: {{ ref('int_batch__kpi_rows_before') }}
{%- set columns = ['message_id', 'event_at', 'received_at', 'event_type', 'event_name',
                   'stitched_user_id', 'user_id', 'anonymous_id', 'is_identified', 'page_path',
                   'page_load_ms', 'device_type', 'os', 'browser', 'country', 'is_bot',
                   'is_future_dated', 'deliveries'] %}

with

-- The session events come from the sessionized events (which carry every stitched column), the
-- others (identify, alias, group calls; bots' events) from the stitched events: a union, not a
-- join of every event to its session on message_id (the model's 30-day full build as plain SQL:
-- 23.0-23.8 s with the join, 20.3-20.5 s without).
events as (

    select
        {{ columns | join(', ') }},
        session_id
    from {{ ref('int_sessions__events_sessionized') }}
    {{ only_batch_persons(time_column='event_at') }}

    union all

    select
        {{ columns | join(', ') }},
        cast(null as {{ dbt.type_string() }}) as session_id
    from {{ ref('int_identity__events_stitched') }}
    where not coalesce({{ sessionized_event() }}, false)
    {{ only_batch_persons(keyword='and', time_column='event_at') }}

)

select
    events.message_id,
    cast(events.event_at as {{ dbt.type_timestamp() }}) as event_at,
    cast(events.received_at as {{ dbt.type_timestamp() }}) as received_at,
    events.event_type,
    events.event_name,
    events.stitched_user_id,
    events.user_id,
    events.anonymous_id,
    events.is_identified,
    events.session_id,
    cast({{ funnel_step('events.event_type', 'events.event_name') }} as integer) as funnel_step,
    events.event_name = '{{ var("error_event") }}' as is_error,
    events.page_path,
    cast(events.page_load_ms as {{ type_double() }}) as page_load_ms,
    events.device_type,
    events.os,
    events.browser,
    events.country,
    events.is_bot,
    events.is_future_dated,
    cast(events.deliveries as {{ dbt.type_bigint() }}) as deliveries
from events
-- No ORDER BY: the session events, then the others, each part in its input's order, for the
-- reason at the end of stg_segment__events. The model's 30-day full build as plain SQL: 22.9 s
-- sorted, 15.8 s not.
