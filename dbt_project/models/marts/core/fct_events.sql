-- One row per event (deduplicated), with its person and, for user-initiated events, its session.
-- Incremental by person, from each batch person's rebuild_from_at on (macros/batch/batch.sql).
{{ config(
    materialized='incremental',
    incremental_strategy='rebuild_persons',
    rebuilt_from='event_at',
    tags=['hourly_batch'],
) }}
-- depends_on: {{ ref('int_batch__kpi_rows_before') }}

with

events as (

    select * from {{ ref('int_identity__events_stitched') }}
    {{ only_batch_persons(time_column='event_at') }}

),

sessionized as (

    select message_id, session_id from {{ ref('int_sessions__events_sessionized') }}
    {{ only_batch_persons(time_column='event_at') }}

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
    sessionized.session_id,
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
left join sessionized on events.message_id = sessionized.message_id
{%- if not is_incremental() %}
order by events.event_at, events.message_id
{%- endif %}
