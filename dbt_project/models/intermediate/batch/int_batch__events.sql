-- The messages this run touches: every message with a delivery in the batch's loads, plus (for
-- backfills and repairs) every message whose event time falls in the run's window. With the
-- times of all their deliveries: a new earlier delivery can move a message to another hour.
{{ config(tags=['hourly_batch']) }}
{%- set window = batch_window() %}

with

batch_messages as (

    select distinct message_id
    from {{ source('segment', 'events') }}
    where _dlt_load_id in (select load_id from {{ ref('int_batch__loads') }})

)

select
    events.message_id,
    events.event_type,
    events.anonymous_id,
    events.user_id,
    events.previous_id,
    events.event_at,
    events.earliest_delivery_event_at,
    events.latest_delivery_event_at,
    events.message_id in (select message_id from batch_messages) as is_from_batch_loads
from {{ ref('stg_segment__events') }} as events
where events.message_id in (select message_id from batch_messages)
{%- if window %}
    or (events.event_at >= {{ window[0] }} and events.event_at < {{ window[1] }})
{%- endif %}
