-- Every event with the person it belongs to: its own user_id; else the user its anonymous id was
-- identified as (so activity before sign-up counts for the user); else the anonymous id.
-- Incremental by person: a batch deletes its persons' rows and rebuilds them from every event
-- that may belong to them (their user id, their anonymous ids, the anonymous ids linked to them).
-- It carries the columns the marts use, not the raw JSON (properties, context) nor the delivery
-- bookkeeping: a batch rebuilds its persons' whole histories, rows spread over the whole table,
-- and reading the wide columns of those rows was most of this model's time.
{{ person_incremental() }}

with

identity as (

    select * from {{ ref('int_identity__anonymous_users') }}

),

events as (

    select
        message_id,
        event_type,
        event_name,
        anonymous_id,
        user_id,
        received_at,
        event_at,
        traits,
        page_path,
        page_load_ms,
        device_type,
        browser,
        country,
        utm_source,
        utm_medium,
        utm_campaign,
        referrer,
        deliveries,
        is_future_dated
    from {{ ref('stg_segment__events') }}
    {%- if is_incremental() %}
    where {{ in_batch_persons('user_id') }}
        or {{ in_batch_persons('anonymous_id') }}
        or anonymous_id in (
            select anonymous_id from identity where {{ in_batch_persons('user_id') }}
        )
    {%- endif %}

),

stitched as (

    select
        events.*,
        coalesce(events.user_id, identity.user_id, events.anonymous_id) as stitched_user_id,
        coalesce(events.user_id, identity.user_id) is not null as is_identified
    from events
    left join identity on events.anonymous_id = identity.anonymous_id

)

select * from stitched
{{ only_batch_persons() }}
